/**
 * Issue #16, item 5: what each integration last sent with its good key (kept in memory, saved at
 * most every ~10 s, never a password or a user name), the last requests with an unknown or
 * revoked key, a malformed address as a configuration error (log line and last error),
 * GET /auth/integration-check, the read-only admin Integrations page, and the once-only warning
 * about X-Forwarded-For from a peer that is not a trusted proxy. On both stores.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app/server.js';
import { KyselyIntegrationRepository } from '../../src/storage/integration-repository.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, makeWorld, USER, type World } from '../support/world.js';

function logSink(lines: Record<string, unknown>[]) {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
}

for (const kind of STORE_KINDS) {
  describe(`integration diagnostics (${kind})`, () => {
    let w: World;
    let app: FastifyInstance;
    let key = '';
    const lines: Record<string, unknown>[] = [];
    /** What the store holds (what `sesame integration check` reads), not this process's memory. */
    const stored = async () => {
      await w.ctx.flush();
      const repo = new KyselyIntegrationRepository(w.ctx.store.db);
      return { list: await repo.list(), bad: await repo.recentBadKeys(50) };
    };
    const mail = (body: object, auth = `Bearer ${key}`) =>
      app.inject({ method: 'POST', url: '/auth/mail', headers: { authorization: auth }, payload: body });

    before(async () => {
      w = await makeWorld(kind);
      key = (await w.ctx.integrations.add('dovecot-main')).key;
      await w.ctx.integrations.add('never-used');
      app = await buildApp(w.ctx, { logStream: logSink(lines) });
      await app.ready();
    });
    after(async () => {
      await app?.close();
      await w?.close();
    });

    it('keeps the last good request (endpoint, service, reported address, peer, outcome), never the password or user', async () => {
      const r = await mail({
        user: USER.address,
        password: 'wrong-password-1',
        service: 'imap',
        remoteIp: '192.0.2.7',
      });
      assert.equal(r.statusCode, 401);
      const mem = (await w.ctx.integrations.list()).find((i) => i.name === 'dovecot-main')!;
      assert.equal(mem.lastSeen?.endpoint, '/auth/mail', 'in memory at once');
      const { list } = await stored();
      const i = list.find((x) => x.name === 'dovecot-main')!;
      assert.deepEqual(
        { ...i.lastSeen, at: undefined },
        {
          at: undefined,
          endpoint: '/auth/mail',
          service: 'imap',
          reportedAddress: '192.0.2.7',
          peer: '127.0.0.1',
          outcome: 'answered',
        },
      );
      assert.ok(Math.abs(i.lastSeen!.at - Date.now()) < 60_000);
      assert.equal(list.find((x) => x.name === 'never-used')!.lastSeen, undefined);
      const raw = JSON.stringify(await w.ctx.store.db.selectFrom('integrations').selectAll().execute());
      assert.doesNotMatch(raw, /wrong-password-1|bob@contoso/);

      // nginx's mail proxy: the protocol and Client-IP it sent.
      const n = await app.inject({
        method: 'GET',
        url: '/auth/nginx-mail',
        headers: {
          authorization: `Bearer ${key}`,
          'auth-protocol': 'pop3',
          'auth-user': USER.address,
          'auth-pass': 'wrong-password-2',
          'client-ip': '198.51.100.9',
        },
      });
      assert.equal(n.statusCode, 200);
      const after = (await stored()).list.find((x) => x.name === 'dovecot-main')!.lastSeen!;
      assert.equal(after.endpoint, '/auth/nginx-mail');
      assert.equal(after.service, 'pop3');
      assert.equal(after.reportedAddress, '198.51.100.9');
    });

    it('remembers requests with an unknown, revoked or missing key (endpoint, peer), bounded', async () => {
      const bogus = `Bearer sesame_int_${'A'.repeat(43)}`;
      assert.equal((await mail({ user: USER.address, password: 'x', service: 'imap' }, bogus)).statusCode, 401);
      assert.equal(
        (await app.inject({ method: 'POST', url: '/oauth2/introspect', payload: { token: 'x' } })).statusCode,
        401,
      );
      const mem = await w.ctx.integrations.recentBadKeys(10);
      assert.deepEqual(
        mem.slice(0, 2).map((c) => [c.endpoint, c.peer, c.keySent]),
        [
          ['/oauth2/introspect', '127.0.0.1', false],
          ['/auth/mail', '127.0.0.1', true],
        ],
      );
      for (let n = 0; n < 30; n++) await mail({ user: USER.address, password: 'x', service: 'imap' }, bogus);
      const { bad } = await stored();
      assert.ok(bad.length >= 2 && bad.length <= 20, `${bad.length} kept`);
      assert.ok(bad.every((c) => c.peer === '127.0.0.1'));
    });

    it('GET /auth/integration-check: 200 with the name for a good key (and counts as seen), 401 otherwise', async () => {
      const ok = await app.inject({
        method: 'GET',
        url: '/auth/integration-check',
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { integration: 'dovecot-main' });
      assert.equal(
        (await stored()).list.find((x) => x.name === 'dovecot-main')!.lastSeen!.endpoint,
        '/auth/integration-check',
      );
      for (const authorization of [undefined, 'Bearer nonsense', `Bearer sesame_int_${'B'.repeat(43)}`]) {
        const r = await app.inject({
          method: 'GET',
          url: '/auth/integration-check',
          headers: authorization ? { authorization } : {},
        });
        assert.equal(r.statusCode, 401, String(authorization));
        assert.match(String(r.headers['www-authenticate']), /^Bearer /);
      }
    });

    it('a remoteIp that is no IP or a user name that is no address: a warning naming the integration and its last configuration error', async () => {
      lines.length = 0;
      const r = await mail({ user: USER.address, password: 'x', service: 'imap', remoteIp: 'not-an-ip' });
      assert.equal(r.statusCode, 400);
      const warn = lines.find((l) => l.code === 'integration_config_error');
      assert.ok(warn, 'a warning line');
      assert.equal(warn.level, 40);
      assert.equal(warn.integration, 'dovecot-main');
      assert.match(String(warn.detail), /remoteIp "not-an-ip" is not an IP address/);
      let i = (await stored()).list.find((x) => x.name === 'dovecot-main')!;
      assert.match(i.lastConfigError!.detail, /remoteIp/);
      assert.equal(i.lastSeen!.outcome, 'config_error');

      lines.length = 0;
      const bare = await mail({ user: 'bob', password: 'secret-typed-99', service: 'imap', remoteIp: '192.0.2.8' });
      assert.equal(bare.statusCode, 401, 'still answered as a wrong password');
      const w2 = lines.find((l) => l.code === 'integration_config_error');
      assert.ok(w2);
      assert.equal(w2.integration, 'dovecot-main');
      assert.match(String(w2.detail), /user name that is not an address/);
      assert.doesNotMatch(JSON.stringify(lines), /secret-typed-99/);
      i = (await stored()).list.find((x) => x.name === 'dovecot-main')!;
      assert.match(i.lastConfigError!.detail, /not an address/);
      assert.doesNotMatch(i.lastConfigError!.detail, /"bob"/, 'the user name itself is not kept');
      // A good address afterwards is answered: the last request is no configuration error.
      await mail({ user: USER.address, password: 'x', service: 'imap' });
      assert.equal(
        (await w.ctx.integrations.list()).find((x) => x.name === 'dovecot-main')!.lastSeen!.outcome,
        'answered',
      );
    });

    it('the Integrations page: linked for admins, read-only, last seen and last error, no user address; a plain user is refused', async () => {
      const admin = new Browser(app);
      await signInAdminWithMfa(admin, ADMIN);
      const r = await admin.get('/admin/integrations');
      assert.equal(r.statusCode, 200, r.body.slice(0, 300));
      assert.match(r.body, /<a href="\/admin\/integrations"[^>]*>Integrations<\/a>/);
      assert.match(r.body, /<th[^>]*scope="row">dovecot-main<\/th>/);
      assert.match(r.body, /<th[^>]*scope="row">never-used<\/th>/);
      assert.match(r.body, /on \/auth\/mail, service imap/);
      assert.match(r.body, /Never: the server has not reached Sesame with this key/);
      assert.match(r.body, /user name that is not an address/);
      assert.match(r.body, /sesame integration add &lt;name&gt;/);
      assert.doesNotMatch(r.body, /<form[^>]*action="\/admin\/integrations/, 'nothing to submit: read-only');
      assert.doesNotMatch(r.body, /bob@contoso\.test|192\.0\.2\.|198\.51\.100\./, 'no user or client address');
      assert.doesNotMatch(r.body, /style=|<script/);
      const nl = new Browser(app, { 'accept-language': 'nl' });
      nl.cookies = admin.cookies;
      const dutch = await nl.get('/admin/integrations');
      assert.match(dutch.body, /<h1>Integraties<\/h1>/);
      assert.match(dutch.body, /Laatst gezien met zijn sleutel/);

      const bob = new Browser(app);
      await bob.signIn(USER.address, USER.password);
      assert.ok(bob.cookies.size > 0);
      const refused = await bob.get('/admin/integrations');
      assert.equal(refused.statusCode, 403);
      assert.doesNotMatch(refused.body, /dovecot-main/);
      assert.doesNotMatch((await bob.get('/account')).body, /\/admin\/integrations/);
      const anonymous = await new Browser(app).get('/admin/integrations');
      assert.notEqual(anonymous.statusCode, 200);
    });
  });
}

describe('X-Forwarded-For from a peer that is not a trusted proxy', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite');
  });
  after(async () => w?.close());

  const run = async (trustedProxies: string[]) => {
    const lines: Record<string, unknown>[] = [];
    const ctx = { ...w.ctx, config: { ...w.ctx.config, trustedProxies, logLevel: 'info' } };
    const app = await buildApp(ctx, { logStream: logSink(lines) });
    await app.ready();
    try {
      for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3'])
        await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-forwarded-for': ip } });
      await app.inject({ method: 'GET', url: '/signin', headers: { 'x-forwarded-for': '203.0.113.4' } });
    } finally {
      await app.close();
    }
    return lines.filter((l) => l.code === 'untrusted_forwarded_for');
  };

  it('is warned about once per process, with the setting to change and the peer', async () => {
    const warned = await run([]);
    assert.equal(warned.length, 1, 'once, not per request');
    assert.equal(warned[0]!.level, 40);
    assert.equal(warned[0]!.setting, 'SESAME_TRUSTED_PROXIES');
    assert.equal(warned[0]!.peer, '127.0.0.1');
    assert.match(String(warned[0]!.msg), /SESAME_TRUSTED_PROXIES/);
    // A peer that is not among those listed is warned about too.
    assert.equal((await run(['10.0.0.0/8'])).length, 1);
  });

  it('is not warned about from a trusted proxy', async () => {
    assert.equal((await run(['loopback'])).length, 0);
  });
});
