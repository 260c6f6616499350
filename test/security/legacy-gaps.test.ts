/**
 * The legacy endpoints' leftovers of checklist rows 24 and 26, on both stores:
 *   - /auth/nginx-mail answers a good login with `Auth-User` set to the account's canonical
 *     address, so nginx logs in to the backend (or sends XCLIENT LOGIN=) as exactly the account
 *     Sesame checked, whatever case or spacing the client typed;
 *   - /auth/mail takes `remoteIp` only as an IP literal (absent, null or empty: the caller's own
 *     address); anything else is a 400 that checks and counts nothing;
 *   - /auth/basic matches the scheme name "Basic" in any case (RFC 9110 11.1, RFC 7617);
 *   - the hourly sweep of unused app passwords tells Dovecot to forget their owners, as every
 *     other revocation does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { startBackgroundJobs } from '../../src/app/background-jobs.js';
import { startWebhook } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { FakeClock, makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`legacy endpoints: canonical identity, client address, Basic scheme, sweep (${kind})`, () => {
    const clock = new FakeClock();
    let w: World;
    let doveadm: Awaited<ReturnType<typeof startWebhook>>;
    let key = '';
    let user: User;
    let appPassword = '';
    const bearer = () => ({ authorization: `Bearer ${key}` });
    // A second apart, so that the newest sign-in log row is this request's.
    const mail = (body: object) => {
      clock.advance(1000);
      return w.app.inject({ method: 'POST', url: '/auth/mail', headers: bearer(), payload: body });
    };
    const nginx = (h: Record<string, string>) =>
      w.app.inject({
        method: 'GET',
        url: '/auth/nginx-mail',
        headers: { ...bearer(), 'auth-method': 'plain', 'auth-login-attempt': '1', 'client-ip': '203.0.113.5', ...h },
      });
    const signIns = async () => {
      await w.ctx.flush();
      return w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['address_typed', 'outcome', 'reason', 'ip', 'protocol'])
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .execute();
    };
    const newAppPassword = async (name: string) => {
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
        .session;
      return (await w.ctx.appPasswords.create(user, s, name, { ip: '127.0.0.1', locale: 'en' })).password;
    };

    before(async () => {
      doveadm = await startWebhook();
      w = await makeWorld(
        kind,
        {
          mailBackendImap: '127.0.0.1:10143',
          mailBackendPop3: '127.0.0.1:10110',
          mailBackendSmtp: '127.0.0.1:10587',
          doveadmUrl: doveadm.url,
          doveadmApiKey: 'doveadm-test-key',
        },
        { clock },
      );
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      appPassword = await newAppPassword('Outlook');
    });
    after(async () => {
      await w.close();
      await doveadm.stop();
    });

    it('/auth/nginx-mail: a good login answers Auth-User with the canonical address, whatever was typed; a bad one names nobody', async () => {
      for (const typed of [USER.address, 'Bob@Contoso.TEST', '  BOB@contoso.test ']) {
        const ok = await nginx({
          'auth-user': encodeURIComponent(typed),
          'auth-pass': encodeURIComponent(appPassword),
          'auth-protocol': 'imap',
        });
        assert.equal(ok.headers['auth-status'], 'OK', typed);
        assert.equal(
          ok.headers['auth-user'],
          USER.address,
          `${JSON.stringify(typed)} goes to the backend as ${USER.address}`,
        );
      }
      const bad = await nginx({
        'auth-user': encodeURIComponent('Bob@Contoso.TEST'),
        'auth-pass': 'nope nope',
        'auth-protocol': 'imap',
      });
      assert.equal(bad.headers['auth-status'], 'Invalid login or password');
      assert.equal(bad.headers['auth-user'], undefined);
    });

    it('/auth/mail: remoteIp is the client address when it is an IP literal, the caller when absent or empty', async () => {
      for (const [remoteIp, logged] of [
        ['198.51.100.7', '198.51.100.7'],
        ['2001:db8::42', '2001:db8::42'],
        ['', '127.0.0.1'],
        [null, '127.0.0.1'],
        [undefined, '127.0.0.1'],
      ] as const) {
        const r = await mail({
          user: USER.address,
          password: appPassword,
          service: 'imap',
          ...(remoteIp === undefined ? {} : { remoteIp }),
        });
        assert.equal(r.statusCode, 200, `${JSON.stringify(remoteIp)}: ${r.body}`);
        const [last] = await signIns();
        assert.deepEqual([last?.outcome, last?.ip], ['success', logged], JSON.stringify(remoteIp));
      }
    });

    it('/auth/mail: a remoteIp that is no IP literal is a clear 400; the password is not checked, nothing is counted or used', async () => {
      const usedBefore = await w.ctx.store.db
        .selectFrom('app_passwords')
        .select(['last_used_at', 'last_used_ip'])
        .where('user_id', '=', user.id)
        .execute();
      const counters = async () => (await w.ctx.store.db.selectFrom('rate_limits').selectAll().execute()).length;
      const countersBefore = await counters();
      for (const remoteIp of [
        'not-an-ip',
        'mail.example.org',
        '198.51.100.7\r\nX: y',
        '999.1.1.1',
        '198.51.100.7 ',
        '1'.repeat(65),
        42,
        ['198.51.100.7'],
        { ip: '198.51.100.7' },
        true,
      ]) {
        for (const password of [appPassword, 'a wrong password']) {
          const r = await mail({ user: USER.address, password, service: 'imap', remoteIp });
          assert.equal(r.statusCode, 400, `${JSON.stringify(remoteIp)}: ${r.body}`);
          assert.deepEqual(r.json(), { result: 'invalid', error: 'remoteIp must be an IP address' });
          const [last] = await signIns();
          assert.deepEqual(
            [last?.outcome, last?.reason, last?.ip],
            ['failure', 'invalid_input', '127.0.0.1'],
            'logged as bad input from the caller, never under the claimed address',
          );
        }
      }
      assert.equal(await counters(), countersBefore, 'no throttle counted');
      await w.ctx.flush();
      assert.deepEqual(
        await w.ctx.store.db
          .selectFrom('app_passwords')
          .select(['last_used_at', 'last_used_ip'])
          .where('user_id', '=', user.id)
          .execute(),
        usedBefore,
        'the app password was not used',
      );
      assert.equal(
        (await mail({ user: USER.address, password: appPassword, service: 'imap', remoteIp: '198.51.100.8' }))
          .statusCode,
        200,
        'and it still works',
      );
    });

    it('/auth/basic: the scheme name in any case, one or more spaces; anything else is still a challenge', async () => {
      const b64 = Buffer.from(`${USER.address}:${appPassword}`).toString('base64');
      for (const scheme of ['Basic ', 'basic ', 'BASIC ', 'bAsIc ', 'Basic   ']) {
        const r = await w.app.inject({ method: 'GET', url: '/auth/basic', headers: { authorization: scheme + b64 } });
        assert.equal(r.statusCode, 200, JSON.stringify(scheme));
        assert.equal(r.headers['remote-user'], USER.address);
      }
      for (const scheme of ['Basic', 'Basic\t', 'Basicx ', 'Bearer ', 'Digest ', 'B asic ']) {
        const r = await w.app.inject({ method: 'GET', url: '/auth/basic', headers: { authorization: scheme + b64 } });
        assert.equal(r.statusCode, 401, JSON.stringify(scheme));
        assert.equal(r.headers['www-authenticate'], 'Basic realm="Sesame", charset="UTF-8"');
      }
    });

    it('the sweep of unused app passwords flushes their owners from Dovecot, like any other revocation', async () => {
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { appPasswords: { revokeUnusedDays: 30 } });
      const stale = await newAppPassword('Old phone');
      clock.advance(31 * 86_400_000);
      const fresh = await newAppPassword('New phone');
      const flushes = () =>
        doveadm.calls.filter(
          (c) =>
            JSON.stringify(c.body) ===
            JSON.stringify([
              ['authCacheFlush', { user: [USER.address] }, 'flush'],
              ['kick', { mask: [USER.address] }, 'kick'],
            ]),
        ).length;
      const before = flushes();
      // The real background job, as the server runs it: it sweeps at once, then hourly.
      const log = { infos: [] as unknown[], info: (o: object) => log.infos.push(o), warn: () => undefined };
      const jobs = startBackgroundJobs(w.ctx, log);
      try {
        for (let i = 0; i < 100 && log.infos.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      } finally {
        jobs.stop();
      }
      assert.ok(
        log.infos.some((o) => (o as { revoked?: number }).revoked! >= 2),
        `swept: ${JSON.stringify(log.infos)}`,
      );
      assert.equal(flushes(), before + 1, 'one flush for the owner of the swept app passwords');
      assert.equal((await mail({ user: USER.address, password: stale, service: 'imap' })).statusCode, 401);
      assert.equal(
        (await mail({ user: USER.address, password: appPassword, service: 'imap' })).statusCode,
        401,
        'unused for 31 days too',
      );
      assert.equal((await mail({ user: USER.address, password: fresh, service: 'imap' })).statusCode, 200);
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { appPasswords: { revokeUnusedDays: null } });
    });
  });
}
