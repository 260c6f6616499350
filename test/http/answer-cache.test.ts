/**
 * Good app passwords answered from memory (issue #21, item 1), on both stores, with two instances
 * (two contexts and apps on one store, as two servers behind a load balancer would be):
 *   - a good app password's second attempt is answered from memory: shown by a change made behind
 *     Sesame's back with its triggers off, which memory does not see, and by the hit counter;
 *   - every change that can alter an answer (a disabled user, the policy, the protocols allowed, a
 *     pin, expiry, revocation) is seen at the next attempt by the instance that made it, and by the
 *     other at its next attempt on SQLite, within CONFIRM_MS on PostgreSQL (the documented bound:
 *     an attempt started later with the old answer fails the test); and so is the CLI, run as a
 *     process of its own;
 *   - PostgreSQL: the delay for the other instance over many changes, measured and printed;
 *   - PostgreSQL: a killed listening connection bypasses memory until it listens again, and no
 *     change made meanwhile is missed.
 * The restarted PostgreSQL is in test/faults/answer-cache-restart.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type AppContext, createContext } from '../../src/app/context.js';
import { buildApp } from '../../src/app/server.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { CONFIRM_MS } from '../../src/storage/verify-listener.js';
import { propagationMs, seenWithin } from '../support/propagation.js';
import { STORE_KINDS } from '../support/stores.js';
import { testContextOptions } from '../support/hasher.js';
import { makeWorld, USER, type World } from '../support/world.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin/sesame.js');

for (const kind of STORE_KINDS) {
  describe(`answers kept in memory (${kind})`, () => {
    let w: World;
    let second: { ctx: AppContext; app: Awaited<ReturnType<typeof buildApp>> };
    let key = '';
    let user: User;
    let phone = '';
    let phoneId = '';
    const mail = (password: string, app = w.app, service = 'imap') =>
      app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: USER.address, password, service, remoteIp: '192.0.2.7' },
      });
    const status = async (password: string, app = w.app, service = 'imap') =>
      (await mail(password, app, service)).statusCode;
    /** The other instance sees `expected` within the store's bound (next attempt on SQLite). */
    const otherSees = (what: string, expected: number, password = phone) =>
      seenWithin(
        kind,
        what,
        () => status(password, second.app),
        (s) => s === expected,
      );
    /** Memory on both instances: used from a first attempt on. */
    const warm = async (password = phone) => {
      for (const app of [w.app, second.app]) {
        await waitConfirmed(app === w.app ? w.ctx : second.ctx);
        assert.equal(await status(password, app), 200);
      }
    };
    const hits = (ctx: AppContext) => ctx.answers!.counts().hits;

    before(async () => {
      w = await makeWorld(kind, { ipFailureLimit: 1000 });
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const made = await w.ctx.appPasswords.create(user, null, 'Phone', { ip: '127.0.0.1', locale: 'en' });
      phone = made.password;
      phoneId = made.appPassword.id;
      const ctx2 = await createContext(w.store.config({ ipFailureLimit: 1000 }), testContextOptions());
      second = { ctx: ctx2, app: await buildApp(ctx2, { logger: false }) };
    });
    after(async () => {
      await second.app.close();
      await second.ctx.close();
      await w.close();
    });

    it('answers a good app password from memory after its first read; memory moves with the store, not with each read', async () => {
      await warm();
      const { protocols } = await w.ctx.store.db
        .selectFrom('app_passwords')
        .select('protocols')
        .where('id', '=', phoneId)
        .executeTakeFirstOrThrow();
      const before = hits(w.ctx);
      for (let i = 0; i < 5; i++) assert.equal(await status(phone), 200);
      assert.equal(hits(w.ctx) - before, 5, 'five attempts, five answers from memory');
      // Behind Sesame's back, with the triggers that announce changes off: memory does not see
      // it, which shows the answers above did not read the store.
      await behindTheBack(w, `UPDATE app_passwords SET protocols = 'smtp' WHERE id = '${phoneId}'`);
      assert.equal(await status(phone), 200, 'still answered from memory');
      // Announced, it is seen at the next attempt (the SQLite epoch; PostgreSQL's notification).
      await announce(w);
      await seenWithin(
        kind,
        'the announced change',
        () => status(phone),
        (s) => s === 403,
      );
      await behindTheBack(w, `UPDATE app_passwords SET protocols = '${protocols}' WHERE id = '${phoneId}'`);
      await announce(w);
      await seenWithin(
        kind,
        'back',
        () => status(phone),
        (s) => s === 200,
      );
      // A wrong password (well formed: a revoked one) is read every time: it is never kept.
      const gone = await w.ctx.appPasswords.create(user, null, 'Gone', { ip: '127.0.0.1', locale: 'en' });
      await w.ctx.appPasswords.remove(user, gone.appPassword.id);
      const misses = w.ctx.answers!.counts().misses;
      assert.equal(await status(gone.password), 401);
      assert.equal(await status(gone.password), 401);
      assert.equal(w.ctx.answers!.counts().misses, misses + 2, 'read both times');
    });

    it('every change that can alter an answer is seen at once by its instance and by the other within the bound', async () => {
      const org = user.orgId;
      const changes: [string, () => Promise<unknown>, number, () => Promise<unknown>][] = [
        [
          'the owner disabled',
          () => w.ctx.accounts.disableUser(OPERATOR, USER.address),
          403,
          () => w.ctx.accounts.enableUser(OPERATOR, USER.address),
        ],
        [
          'app passwords turned off for the organization',
          () =>
            w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { allowed: false, keepExistingWhenOff: false } }),
          403,
          () => w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { allowed: true, keepExistingWhenOff: true } }),
        ],
        [
          'IMAP no longer among the protocols allowed',
          () => w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { protocols: ['smtp'] } }),
          403,
          () => w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { protocols: ['imap', 'smtp'] } }),
        ],
        [
          'pinned elsewhere',
          () => w.ctx.appPasswords.setPinFor(OPERATOR, USER.address, phoneId, { network: '10.0.4.17' }),
          403,
          () => w.ctx.appPasswords.setPinFor(OPERATOR, USER.address, phoneId, null),
        ],
        [
          'expired',
          () =>
            w.ctx.store.db
              .updateTable('app_passwords')
              .set({ expires_at: Date.now() - 1_000 })
              .where('id', '=', phoneId)
              .execute(),
          403,
          () =>
            w.ctx.store.db.updateTable('app_passwords').set({ expires_at: null }).where('id', '=', phoneId).execute(),
        ],
      ];
      for (const [what, change, refused, undo] of changes) {
        await warm();
        await change();
        assert.equal(await status(phone), refused, `${what}: the instance that made the change, at its next attempt`);
        await otherSees(`${what}: the other instance`, refused);
        await undo();
        assert.equal(await status(phone), 200, `${what}, undone: at once`);
        await otherSees(`${what}, undone: the other instance`, 200);
      }
      // Revoked, last: wrong everywhere.
      const spare = await w.ctx.appPasswords.create(user, null, 'Spare', { ip: '127.0.0.1', locale: 'en' });
      await warm(spare.password);
      await w.ctx.appPasswords.remove(user, spare.appPassword.id);
      assert.equal(await status(spare.password), 401, 'revoked: at once');
      await otherSees('revoked: the other instance', 401, spare.password);
    });

    it('a change made by the CLI, a process of its own, is seen by both instances within the bound', async () => {
      await warm();
      const run = await cli(w, ['user', 'disable', USER.address]);
      assert.equal(run.code, 0, run.err);
      for (const app of [w.app, second.app])
        await seenWithin(
          kind,
          'disabled by the CLI',
          () => status(phone, app),
          (s) => s === 403,
        );
      assert.equal((await cli(w, ['user', 'enable', USER.address])).code, 0);
      for (const app of [w.app, second.app])
        await seenWithin(
          kind,
          'enabled by the CLI',
          () => status(phone, app),
          (s) => s === 200,
        );
    });

    if (kind === 'postgres') {
      it('PostgreSQL: how soon the other instance sees a change, over 100 changes (measured, printed)', async (t) => {
        const delays: number[] = [];
        for (let i = 0; i < 100; i++) {
          const pinned = i % 2 === 0;
          await w.ctx.appPasswords.setPinFor(OPERATOR, USER.address, phoneId, pinned ? { network: '10.0.4.17' } : null);
          delays.push(await otherSees(`change ${i}`, pinned ? 403 : 200));
        }
        delays.sort((a, b) => a - b);
        const q = (p: number) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))]!.toFixed(2);
        const line = `another instance saw each of 100 changes after: median ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms (bound ${CONFIRM_MS} ms)`;
        t.diagnostic(line);
        console.log(line);
        assert.ok(delays.at(-1)! < propagationMs(kind));
      });

      it('PostgreSQL: a killed listening connection bypasses memory until it listens again, and nothing is missed', async () => {
        await warm();
        const listener = second.ctx.store.verifyListener!;
        const pid = listener.backendPid;
        assert.ok(pid, 'the second instance listens');
        const admin = new pg.Client({ connectionString: w.store.databaseUrl });
        await admin.connect();
        try {
          const t0 = performance.now();
          await admin.query('SELECT pg_terminate_backend($1)', [pid]);
          // The change while it is gone reaches the other instance by no notification at all.
          await w.ctx.accounts.disableUser(OPERATOR, USER.address);
          await otherSees('disabled while its listener was gone', 403);
          const bypassed = second.ctx.answers!.counts().bypassed;
          while (listener.confirmed && performance.now() - t0 < CONFIRM_MS + 200) await sleep(5);
          assert.equal(listener.confirmed, false, 'the lost connection is noticed');
          assert.equal(await status(phone, second.app), 403);
          assert.ok(second.ctx.answers!.counts().bypassed > bypassed, 'memory bypassed meanwhile');
          // It listens again (after a second), with a new backend, and memory is used again.
          await w.ctx.accounts.enableUser(OPERATOR, USER.address);
          assert.equal(await status(phone, second.app), 200);
          await waitConfirmed(second.ctx);
          assert.notEqual(listener.backendPid, pid);
          const h = hits(second.ctx);
          assert.equal(await status(phone, second.app), 200);
          assert.equal(await status(phone, second.app), 200);
          assert.ok(hits(second.ctx) > h, 'answers from memory again');
          // And what changes now is heard again.
          await w.ctx.accounts.disableUser(OPERATOR, USER.address);
          await otherSees('disabled after it listens again', 403);
          await w.ctx.accounts.enableUser(OPERATOR, USER.address);
          await otherSees('enabled again', 200);
        } finally {
          await admin.end();
        }
      });
    }
  });
}

/** Until the instance's store vouches for memory (PostgreSQL: its listener confirmed; SQLite: at once). */
async function waitConfirmed(ctx: AppContext): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (ctx.store.verifyToken() === undefined) {
    assert.ok(performance.now() < deadline, 'the store vouches for memory within 5 s');
    await sleep(10);
  }
}

/** Runs `sql` with the triggers that announce changes off: a change no instance is told of. */
async function behindTheBack(w: World, sql: string): Promise<void> {
  if (w.ctx.store.kind === 'postgres') {
    const client = new pg.Client({ connectionString: w.store.databaseUrl });
    await client.connect();
    try {
      // Triggers do not fire for a session in replica mode (a superuser's setting; the test cluster's user is one).
      await client.query('SET session_replication_role = replica');
      await client.query(sql);
    } finally {
      await client.end();
    }
    return;
  }
  // SQLite: the epoch is put back to what it was, in the same transaction, so no reader can tell.
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path.join(w.store.dataDir, 'sesame.db'));
  try {
    db.pragma('busy_timeout = 5000');
    db.transaction(() => {
      const n = db.prepare('SELECT n FROM verify_epoch WHERE id = 1').pluck().get();
      db.exec(sql);
      db.prepare('UPDATE verify_epoch SET n = ? WHERE id = 1').run(n);
    })();
  } finally {
    db.close();
  }
}

/** Announces a change as the triggers would: the epoch raised (SQLite), a notification (PostgreSQL). */
async function announce(w: World): Promise<void> {
  if (w.ctx.store.kind === 'postgres') {
    const client = new pg.Client({ connectionString: w.store.databaseUrl });
    await client.connect();
    try {
      await client.query(`SELECT pg_notify('sesame_verify', '')`);
    } finally {
      await client.end();
    }
    return;
  }
  await w.ctx.store.db
    .updateTable('verify_epoch')
    .set((eb) => ({ n: eb('n', '+', 1) }))
    .where('id', '=', 1)
    .execute();
}

function cli(w: World, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        SESAME_DATA_DIR: w.store.dataDir,
        DATABASE_URL: w.store.databaseUrl,
        LOG_LEVEL: 'silent',
        SESAME_PUBLIC_URL: 'https://id.contoso.test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
