/**
 * Answers kept in memory (issue #21, item 1) across a PostgreSQL restart, with two instances on a
 * cluster of the test's own (the shared one must keep running). Stopped (`fast`, then in a second
 * round `immediate`, a crash) and started again:
 *   - while it is down, no instance answers a good app password from memory for longer than the
 *     bound (its listening connection is lost: memory is bypassed), so the answers are temporary
 *     failures (503), never "ok";
 *   - once it is back, a change made through one instance at once is seen by the other within the
 *     bound, while that one's listener may still be reconnecting;
 *   - each instance listens again and answers from memory again, and what changes then is heard.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AppContext, createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/app/server.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { CONFIRM_MS } from '../../src/storage/verify-listener.js';
import { testContextOptions } from '../support/hasher.js';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { seenWithin } from '../support/propagation.js';

const BOB = 'bob@restart.test';

describe('answers in memory across a PostgreSQL restart', { timeout: 120_000 }, () => {
  let cluster: PgCluster;
  let dataDir = '';
  const instances: { ctx: AppContext; app: Awaited<ReturnType<typeof buildApp>> }[] = [];
  let key = '';
  let phone = '';

  const status = async (i: number) =>
    (
      await instances[i]!.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: BOB, password: phone, service: 'imap', remoteIp: '192.0.2.7' },
      })
    ).statusCode;
  const confirmed = async (i: number, within = 10_000) => {
    const deadline = performance.now() + within;
    while (instances[i]!.ctx.store.verifyToken() === undefined) {
      assert.ok(performance.now() < deadline, `instance ${i} listens again within ${within} ms`);
      await sleep(20);
    }
  };

  before(async () => {
    cluster = await startPgCluster();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-cache-restart-'));
    const config = loadConfig({
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: cluster.url,
      LOG_LEVEL: 'silent',
      SESAME_IP_FAILURE_LIMIT: '1000',
    });
    for (let i = 0; i < 2; i++) {
      const ctx = await createContext(config, testContextOptions());
      instances.push({ ctx, app: await buildApp(ctx, { logger: false }) });
    }
    const ctx = instances[0]!.ctx;
    await ctx.accounts.addOrganization(OPERATOR, 'restart.test', 'Restart');
    const bob = await ctx.accounts.addUser(OPERATOR, { address: BOB, role: 'user' });
    await ctx.mfaAdmin.setUserState(OPERATOR, BOB, 'enforced');
    phone = (await ctx.appPasswords.create(bob, null, 'Phone', { ip: '127.0.0.1', locale: 'en' })).password;
    key = (await ctx.integrations.add('dovecot')).key;
  });
  after(async () => {
    for (const { app, ctx } of instances) {
      await app.close();
      await ctx.close();
    }
    await cluster?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`stopped (${mode}) and started again: no stale answer, memory back afterwards`, async () => {
      for (const i of [0, 1]) {
        await confirmed(i);
        assert.equal(await status(i), 200);
        assert.equal(await status(i), 200);
      }
      const hitsBefore = instances.map(({ ctx }) => ctx.answers!.counts().hits);
      const stoppedAt = performance.now();
      await cluster.stop(mode);
      // Down: memory is bypassed within the bound, so a good password is a temporary failure.
      for (const i of [0, 1]) {
        for (;;) {
          const startedAt = performance.now() - stoppedAt;
          const s = await status(i);
          if (s === 503) break;
          assert.equal(s, 200, 'never wrong');
          assert.ok(
            startedAt < CONFIRM_MS,
            `instance ${i} answered from memory ${startedAt.toFixed(0)} ms into the outage`,
          );
          await sleep(5);
        }
        for (let k = 0; k < 5; k++) assert.equal(await status(i), 503, `instance ${i}, down`);
      }
      await cluster.start();
      // Back: a change through the first instance, made as soon as it can write again...
      const deadline = performance.now() + 10_000;
      for (;;) {
        try {
          await instances[0]!.ctx.accounts.disableUser(OPERATOR, BOB);
          break;
        } catch (e) {
          assert.ok(performance.now() < deadline, `the store takes writes again: ${String(e)}`);
          await sleep(50);
        }
      }
      // ...is seen by both, the second within the bound, whether or not it listens again yet.
      assert.equal(await status(0), 403);
      await seenWithin(
        'postgres',
        'the second instance, after the restart',
        () => status(1),
        (s) => s === 403,
      );
      await instances[0]!.ctx.accounts.enableUser(OPERATOR, BOB);
      await seenWithin(
        'postgres',
        'enabled again',
        () => status(1),
        (s) => s === 200,
      );
      for (const i of [0, 1]) {
        await confirmed(i);
        assert.equal(await status(i), 200);
        assert.equal(await status(i), 200);
        assert.ok(instances[i]!.ctx.answers!.counts().hits > hitsBefore[i]!, `instance ${i} answers from memory again`);
      }
      // And a change now is heard by the listener (a notification, not a bypass).
      const heard = instances[1]!.ctx.store.verifyListener!.heard;
      await instances[0]!.ctx.accounts.disableUser(OPERATOR, BOB);
      await seenWithin(
        'postgres',
        'heard after the restart',
        () => status(1),
        (s) => s === 403,
      );
      assert.ok(instances[1]!.ctx.store.verifyListener!.heard > heard, 'by its notification');
      await instances[0]!.ctx.accounts.enableUser(OPERATOR, BOB);
      await seenWithin(
        'postgres',
        'and enabled',
        () => status(1),
        (s) => s === 200,
      );
    });
  }
});
