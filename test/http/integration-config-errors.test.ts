/**
 * An unknown Dovecot service name (`doveadm auth test` sends `doveadm`) or an nginx Auth-Protocol
 * Sesame does not know is the integration's configuration error (issue #15, item 5): answered 400
 * with what is wrong, a warning log line naming the integration, kept as the integration's last
 * configuration error (what `sesame integration list` shows), never a sign-in-log row, never counted
 * by a lockout. On both stores (the last error is a column of the integrations table).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app/server.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`integration configuration errors (${kind})`, () => {
    let w: World;
    let app: FastifyInstance;
    let key = '';
    const lines: Record<string, unknown>[] = [];
    const events = async () => {
      await w.ctx.flush();
      return (await w.ctx.store.db.selectFrom('sign_in_events').select(['id']).execute()).length;
    };
    const mail = (body: object) =>
      app.inject({ method: 'POST', url: '/auth/mail', headers: { authorization: `Bearer ${key}` }, payload: body });

    before(async () => {
      w = await makeWorld(kind, { accountFailureLimit: 3, ipFailureLimit: 5 });
      key = (await w.ctx.integrations.add('dovecot-main')).key;
      // An app of its own that logs, so the test reads the lines an operator would.
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const l of chunk.toString().split('\n'))
            if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
          done();
        },
      });
      app = await buildApp(w.ctx, { logStream: sink });
      await app.ready();
    });
    after(async () => {
      await app?.close();
      await w?.close();
    });

    it('/auth/mail: an unknown service is a 400 naming it, a warning naming the integration, and the last configuration error', async () => {
      const before = await events();
      const r = await mail({
        user: USER.address,
        password: 'wrong-password-1',
        service: 'doveadm',
        remoteIp: '192.0.2.7',
      });
      assert.equal(r.statusCode, 400);
      assert.equal(r.json().result, 'invalid');
      assert.match(r.json().error, /unknown service name "doveadm"/);
      assert.match(r.json().error, /imap, pop3, submission/);
      const warn = lines.find((l) => l.code === 'integration_config_error');
      assert.ok(warn, 'a warning line');
      assert.equal(warn.level, 40);
      assert.equal(warn.integration, 'dovecot-main');
      assert.match(String(warn.detail), /doveadm/);
      // Not a sign-in: no row in the sign-in log.
      assert.equal(await events(), before);
      // The operator sees it (sesame integration list).
      const [i] = await w.ctx.integrations.list();
      assert.match(i!.lastConfigError?.detail ?? '', /unknown service name "doveadm" on \/auth\/mail/);
      assert.ok(Math.abs(i!.lastConfigError!.at - Date.now()) < 60_000);
      // No service at all, or one that is no string, is the same error.
      for (const service of [undefined, 42, ['imap'], '__proto__']) {
        const x = await mail({ user: USER.address, password: 'x', ...(service === undefined ? {} : { service }) });
        assert.equal(x.statusCode, 400, JSON.stringify(service));
      }
    });

    it('is counted by no lockout: many calls with a wrong password and an unknown service leave the account and the IP open', async () => {
      for (let n = 0; n < 12; n++)
        assert.equal(
          (
            await mail({
              user: USER.address,
              password: `wrong-${n}-password`,
              service: 'doveadm',
              remoteIp: '192.0.2.8',
            })
          ).statusCode,
          400,
        );
      // The account limit is 3 and the IP limit 5: a counted failure would have locked both.
      const ok = await mail({ user: USER.address, password: USER.password, service: 'imap', remoteIp: '192.0.2.8' });
      assert.equal(ok.statusCode, 200, ok.body);
    });

    it('/auth/nginx-mail: an Auth-Protocol nginx never sends is a 400 (nginx then answers a temporary error), not "Invalid login"', async () => {
      const r = await app.inject({
        method: 'GET',
        url: '/auth/nginx-mail',
        headers: {
          authorization: `Bearer ${key}`,
          'auth-method': 'plain',
          'auth-user': encodeURIComponent(USER.address),
          'auth-pass': 'wrong-password',
          'auth-protocol': 'managesieve',
          'client-ip': '192.0.2.9',
        },
      });
      assert.equal(r.statusCode, 400);
      assert.equal(r.headers['auth-status'], undefined);
      assert.match(r.json().error, /unknown protocol name "managesieve"/);
      assert.ok(lines.some((l) => l.code === 'integration_config_error' && /managesieve/.test(String(l.detail))));
    });
  });
}
