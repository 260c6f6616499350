/**
 * The verification epoch (issue #21, item 1, migration 29), on both stores: every change that can
 * alter the answer for a good app password is announced in its own transaction (SQLite: it raises
 * `verify_epoch.n`; PostgreSQL: it NOTIFYs `sesame_verify` at its commit), so that a process
 * keeping answers in memory can tell they may be stale; and what changes at every sign-in (its last
 * use, the sign-in log, the addresses and countries seen, the lock counters) is not (or memory
 * would be dropped all the time).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`verification epoch on ${kind}`, () => {
    let w: World;
    let user: User;
    let key = '';
    let secret = '';
    let apId = '';
    const epoch = async () =>
      Number((await w.ctx.store.db.selectFrom('verify_epoch').select('n').executeTakeFirstOrThrow()).n);
    /** PostgreSQL: what a listening connection has heard. */
    const heard: string[] = [];
    let listener: { end(): Promise<void> } | undefined;
    /** Whether `change` was announced: the epoch raised (SQLite), a notification heard (PostgreSQL). */
    const raises = async (change: () => Promise<unknown>, what = '') => {
      const before = await epoch();
      heard.length = 0;
      const local = w.ctx.store.verifyListener?.localChanges ?? 0;
      await change();
      await w.ctx.flush();
      if (kind === 'sqlite') return (await epoch()) > before;
      for (let i = 0; i < 25 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await epoch(), before, 'PostgreSQL raises no row (no lock for changes to queue on)');
      // The instance that wrote knows without waiting for the notification (storage/answer-watch.ts
      // repeats the triggers' list): the two must agree, write by write.
      assert.equal(
        w.ctx.store.verifyListener!.localChanges > local,
        heard.length > 0,
        `${what}: the writer's own account of the change agrees with the triggers`,
      );
      return heard.length > 0;
    };
    const mail = (password: string, ip = '192.0.2.7') =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: USER.address, password, service: 'imap', remoteIp: ip },
      });

    before(async () => {
      w = await makeWorld(kind, { ipFailureLimit: 1000 });
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const made = await w.ctx.appPasswords.create(user, null, 'Phone', { ip: '127.0.0.1', locale: 'en' });
      secret = made.password;
      apId = made.appPassword.id;
      if (kind === 'postgres') {
        const { default: pg } = await import('pg');
        const client = new pg.Client({ connectionString: w.store.databaseUrl });
        await client.connect();
        client.on('notification', (n) => heard.push(n.channel));
        await client.query('LISTEN sesame_verify');
        listener = client;
      }
    });
    after(async () => {
      await listener?.end();
      await w.close();
    });

    it('is not raised by what every sign-in writes: last use, the log, new addresses and countries, counters', async () => {
      assert.equal(
        await raises(async () => {
          assert.equal((await mail(secret)).statusCode, 200);
          assert.equal((await mail(secret, '193.0.6.139')).statusCode, 200);
          assert.equal((await mail('wrong-password-here')).statusCode, 401);
          assert.equal((await mail('ABCD-EFGH-JKLM-NPQR-STUV')).statusCode, 401);
        }),
        false,
      );
      const used = (await w.ctx.appPasswords.list(user)).find((p) => p.id === apId);
      assert.ok(used?.lastUsedAt, 'the use was recorded all the same');
    });

    it('is raised by each change that can alter an answer', async () => {
      const org = user.orgId;
      const changes: [string, () => Promise<unknown>][] = [
        ['renaming the app password', () => w.ctx.appPasswords.rename(user, apId, 'Phone (old)')],
        ['pinning it', () => w.ctx.appPasswords.setPinFor(OPERATOR, USER.address, apId, { network: '192.0.2.0/24' })],
        ['disabling the owner', () => w.ctx.accounts.disableUser(OPERATOR, USER.address)],
        ['enabling the owner', () => w.ctx.accounts.enableUser(OPERATOR, USER.address)],
        [
          'changing the policy',
          () => w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { protocols: ['imap', 'smtp'] } }),
        ],
        [
          'a group required for app passwords',
          async () => {
            const g = await w.ctx.groups.create(OPERATOR, org, 'Mail users');
            await w.ctx.groups.setLimit(OPERATOR, org, 'app_passwords', g.id);
          },
        ],
        [
          'a member added',
          async () => {
            const g = await w.ctx.groups.byName(OPERATOR, org, 'Mail users');
            await w.ctx.groups.addMember(OPERATOR, org, g.id, USER.address);
          },
        ],
        [
          'a member removed',
          async () => {
            const g = await w.ctx.groups.byName(OPERATOR, org, 'Mail users');
            await w.ctx.groups.removeMember(OPERATOR, org, g.id, USER.address);
          },
        ],
        ['the group limit lifted', () => w.ctx.groups.setLimit(OPERATOR, org, 'app_passwords', null)],
        [
          'a named location added',
          () => w.ctx.locations.create(OPERATOR, org, { name: 'Office', networks: ['192.0.2.0/24'], countries: [] }),
        ],
        ['location rules saved', () => w.ctx.locations.setRules(OPERATOR, org, [{ protocol: 'pop3', mode: 'never' }])],
        [
          'the owner’s MFA turned off (app passwords deleted)',
          () => w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'disabled'),
        ],
      ];
      for (const [what, change] of changes) assert.equal(await raises(change, what), true, what);
    });
  });
}
