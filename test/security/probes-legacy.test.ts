/**
 * Black-box probes of the legacy endpoints (issue #7), against two real servers sharing one
 * PostgreSQL store (keys from the environment, as in production), over HTTP as Dovecot (/auth/mail,
 * /oauth2/introspect), nginx's mail proxy (/auth/nginx-mail) and a forward-auth proxy
 * (/auth/basic) ask them. The checklist's probe "main password on IMAP for an MFA-enforced user:
 * refused; the app password: accepted; after revocation: refused at once, also on a second
 * instance" (checklist 23, 24), and malformed legacy input refused cleanly (26).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  basic,
  bearer,
  call,
  rawHttp,
  registerTotp,
  signInLog,
  startInstance,
  type Answer,
  type ProbeServer,
  type Registered,
} from '../support/probes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
/** A plain user whose MFA is off (an admin's main password never works on a mail protocol). */
const CARL = { address: 'carl@contoso.test', password: 'pebble-orchard-silver-25' };
const IVY = { address: 'ivy@contoso.test', password: 'quiet-meadow-copper-77' };
const BACKEND = { host: '127.0.0.1', port: '1143' };

describe('probes: the legacy endpoints, on two instances sharing PostgreSQL', () => {
  let db: TestDatabase;
  const servers: ProbeServer[] = [];
  let key = '';
  let ivy: Registered;
  let adminToken = '';

  before(async () => {
    db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      SESAME_HASH_KEY: randomBytes(32).toString('base64'),
      SESAME_COOKIE_KEY: randomBytes(32).toString('base64'),
      SESAME_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      SESAME_MAIL_BACKEND_IMAP: `${BACKEND.host}:${BACKEND.port}`,
    };
    const first = await startInstance('legacy-0', env, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, IVY);
      await ctx.mfaAdmin.setUserState(OPERATOR, IVY.address, 'enabled');
      await ctx.accounts.addUser(OPERATOR, CARL);
      await ctx.mfaAdmin.setUserState(OPERATOR, CARL.address, 'disabled');
      return (await ctx.integrations.add('dovecot')).key;
    });
    servers.push(first.probe);
    key = first.setupResult;
    servers.push((await startInstance('legacy-1', env)).probe);
    // Ivy registers an authenticator app on instance 0: MFA enforced from now on, one app password made.
    ivy = await registerTotp(servers[0]!.base, IVY.address, IVY.password);
    assert.ok(ivy.appPassword);
    adminToken = await adminApiToken(servers[1]!.base, ADMIN);
  });
  after(async () => {
    for (const s of servers) await s.stop();
    await db?.drop();
  });

  const on = (i: number) => servers[i]!.base;
  /** IMAP as Dovecot's Lua passdb asks: true when the password was accepted. */
  const dovecot = async (i: number, user: string, password: string) => {
    const r = await call(
      on(i),
      'POST',
      '/auth/mail',
      { user, password, service: 'imap', remoteIp: '192.0.2.44' },
      bearer(key),
    );
    assert.ok([200, 401, 403].includes(r.status), `/auth/mail answered ${r.status}`);
    assert.deepEqual(r.body, r.status === 200 ? { result: 'ok', user } : { result: 'wrong' });
    return r.status === 200;
  };
  /** IMAP as nginx's mail proxy asks: true when it may proxy the client to the backend. */
  const nginx = async (i: number, user: string, password: string) => {
    const r = await call(on(i), 'GET', '/auth/nginx-mail', undefined, {
      ...bearer(key),
      'auth-method': 'plain',
      'auth-user': encodeURIComponent(user),
      'auth-pass': encodeURIComponent(password),
      'auth-protocol': 'imap',
      'client-ip': '192.0.2.45',
    });
    assert.equal(r.status, 200);
    if (r.headers.get('auth-status') !== 'OK') {
      assert.equal(r.headers.get('auth-status'), 'Invalid login or password');
      return false;
    }
    assert.deepEqual([r.headers.get('auth-server'), r.headers.get('auth-port')], [BACKEND.host, BACKEND.port]);
    return true;
  };
  /** Dovecot's oauth2 passdb with the app password as the token. */
  const introspect = async (i: number, token: string) =>
    (
      await call(on(i), 'POST', '/oauth2/introspect', `token=${encodeURIComponent(token)}&client_id=imap`, {
        ...bearer(key),
        'content-type': 'application/x-www-form-urlencoded',
      })
    ).body.active === true;
  const everywhere = async (user: string, password: string) => {
    const out: boolean[] = [];
    for (const i of [0, 1]) out.push(await dovecot(i, user, password), await nginx(i, user, password));
    return out;
  };

  it('probe: the main password on IMAP for an MFA-enforced user is refused; the app password is accepted; after revocation it is refused at once, also on the second instance sharing PostgreSQL', async () => {
    assert.deepEqual(
      await everywhere(IVY.address, IVY.password),
      [false, false, false, false],
      'main password refused on both instances, both mail paths',
    );
    assert.deepEqual(
      await everywhere(IVY.address, ivy.appPassword!),
      [true, true, true, true],
      'app password accepted',
    );
    assert.deepEqual([await introspect(0, ivy.appPassword!), await introspect(1, ivy.appPassword!)], [true, true]);

    // A second app password, made on instance 0 with the registration's fresh second factor ...
    const made = await call(on(0), 'POST', '/api/v1/me/app-passwords', { name: 'Phone' }, bearer(ivy.token));
    assert.equal(made.status, 201, made.text);
    const phone = made.body.password as string;
    const phoneId = (made.body.appPassword as { id: string }).id;
    assert.equal(await dovecot(1, IVY.address, phone), true);
    // ... deleted by Ivy on instance 1, is refused by instance 0 at the very next attempt.
    assert.equal(
      (await call(on(1), 'DELETE', `/api/v1/me/app-passwords/${phoneId}`, undefined, bearer(ivy.token))).status,
      204,
    );
    assert.equal(await dovecot(0, IVY.address, phone), false);
    assert.equal(await nginx(0, IVY.address, phone), false);
    assert.equal(await introspect(0, phone), false);
    assert.equal(await dovecot(1, IVY.address, phone), false);
    // The first one still works until the admin revokes it on instance 0: then refused on instance 1 at once.
    assert.equal(await dovecot(1, IVY.address, ivy.appPassword!), true);
    const admin0 = await adminApiToken(on(0), ADMIN);
    assert.deepEqual(
      (await call(on(0), 'DELETE', `/api/v1/users/${IVY.address}/app-passwords`, undefined, bearer(admin0))).body,
      { deleted: 1 },
    );
    assert.deepEqual(await everywhere(IVY.address, ivy.appPassword!), [false, false, false, false]);
    assert.deepEqual([await introspect(1, ivy.appPassword!), await introspect(0, ivy.appPassword!)], [false, false]);
    assert.equal(
      (await call(on(1), 'GET', '/auth/basic', undefined, basic(IVY.address, ivy.appPassword!))).status,
      401,
    );
    // The sign-in log tells the admin why: the main password refused by policy, the revoked app password wrong.
    const reasons = new Set(
      (await signInLog(on(1), adminToken)).filter((e) => e.addressTyped === IVY.address).map((e) => e.reason),
    );
    assert.ok(
      reasons.has('main_password_refused') && reasons.has('ok') && reasons.has('wrong_password'),
      [...reasons].join(','),
    );
  });

  it('probe: legacy input with CR, LF, NUL or other control characters, a colon in a Basic user-id, or an oversized field is refused cleanly on every legacy endpoint', async () => {
    // Carl's MFA is off, so his main password is accepted on IMAP: a real pair for the probes to corrupt.
    const good = { user: CARL.address, password: CARL.password };
    assert.equal(await dovecot(0, good.user, good.password), true, 'control: the clean pair is accepted');
    const bad: [string, string, string][] = [
      // [what, user, password]
      ['CR LF in the user', `${good.user}\r\nX-Injected: 1`, good.password],
      ['LF after the user', `${good.user}\n`, good.password],
      ['NUL inside the user (a SASL authorization identity)', `${good.user}\0eve@fabrikam.test`, good.password],
      ['NUL after the password', good.user, `${good.password}\0`],
      ['CR after the password', good.user, `${good.password}\r`],
      ['a tab in the password', good.user, `${good.password}\t`],
      ['DEL in the user', `${good.user}\u007f`, good.password],
      ['an oversized user', `${'a'.repeat(320)}@contoso.test`, good.password],
      ['an oversized password', good.user, 'p'.repeat(1025)],
      ['an empty user', '', good.password],
      ['an empty password', good.user, ''],
    ];
    const problems: string[] = [];
    const expect = (what: string, ok: boolean, r: Answer | { status: number }) => {
      if (r.status >= 500) problems.push(`${what}: ${r.status}`);
      if (ok) problems.push(`${what}: accepted`);
    };
    for (const [what, user, password] of bad) {
      const m = await call(
        on(0),
        'POST',
        '/auth/mail',
        { user, password, service: 'imap', remoteIp: '192.0.2.46' },
        bearer(key),
      );
      expect(`/auth/mail, ${what}`, m.status === 200, m);
      if (m.status !== 200) assert.deepEqual(m.body, { result: 'wrong' }, what);
      // nginx sends user and password percent-encoded in headers.
      const n = await call(on(1), 'GET', '/auth/nginx-mail', undefined, {
        ...bearer(key),
        'auth-user': encodeURIComponent(user),
        'auth-pass': encodeURIComponent(password),
        'auth-protocol': 'imap',
        'client-ip': '192.0.2.47',
      });
      expect(`/auth/nginx-mail, ${what}`, n.headers.get('auth-status') === 'OK', n);
      const b = await call(on(0), 'GET', '/auth/basic', undefined, basic(user, password));
      expect(`/auth/basic, ${what}`, b.status === 200, b);
      if (b.status !== 200) assert.equal(b.status, 401, `/auth/basic, ${what}`);
    }
    // Dovecot's oauth2 passdb: a token with control characters or oversized is simply not active.
    for (const token of ['tok\r\nen', 'tok\0en', 'x'.repeat(1025)]) {
      const r = await call(on(1), 'POST', '/oauth2/introspect', { token, client_id: 'imap' }, bearer(key));
      assert.deepEqual([r.status, r.body], [200, { active: false }], JSON.stringify(token.slice(0, 10)));
    }
    // Basic: the user-id ends at the first colon (RFC 7617), so a colon in it cannot name the account.
    for (const creds of [`ada:x@contoso.test:${good.password}`, `${good.user}`, `:${good.password}`]) {
      const r = await call(on(0), 'GET', '/auth/basic', undefined, {
        authorization: `Basic ${Buffer.from(creds).toString('base64')}`,
      });
      assert.equal(r.status, 401, creds);
    }
    // Oversized or malformed carriers: an Authorization header over 4 kB, a body over 32 kB, broken percent-encoding, a header with a raw CR.
    expect(
      '/auth/basic, 5 kB Authorization',
      (await call(on(0), 'GET', '/auth/basic', undefined, { authorization: `Basic ${'A'.repeat(5000)}` })).status ===
        200,
      { status: 401 },
    );
    const huge = await call(
      on(0),
      'POST',
      '/auth/mail',
      { user: good.user, password: good.password, service: 'imap', pad: 'x'.repeat(40_000) },
      bearer(key),
    );
    assert.equal(huge.status, 413);
    const broken = await call(on(1), 'GET', '/auth/nginx-mail', undefined, {
      ...bearer(key),
      'auth-user': '%E0%A4%A',
      'auth-pass': encodeURIComponent(good.password),
      'auth-protocol': 'imap',
    });
    assert.equal(broken.headers.get('auth-status'), 'Invalid login or password');
    const raw = await rawHttp(
      servers[1]!.port,
      `GET /auth/nginx-mail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nAuth-User: ${good.user}\rX: 1\r\nAuth-Pass: ${good.password}\r\nAuth-Protocol: imap\r\nConnection: close\r\n\r\n`,
    );
    assert.ok(
      raw.status === 400 || /Auth-Status: Invalid/i.test(raw.head),
      `a raw CR inside a header: ${raw.head.split('\r\n')[0]}`,
    );
    assert.deepEqual(problems, []);
    // Both instances are still serving, and every refused attempt is in the sign-in log. Input that
    // names no organization is logged without one (no admin's log shows it), so the store is read:
    // after an admin's read of the log, which writes out what each instance still held.
    for (const i of [0, 1]) {
      assert.equal((await call(on(i), 'GET', '/healthz')).status, 200);
      await signInLog(on(i), adminToken);
    }
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const rows = (
        await c.query<{ address_typed: string; user_agent: string; ip: string; protocol: string; attempts: number }>(
          "SELECT address_typed, user_agent, ip, protocol, attempts FROM sign_in_events WHERE reason = 'invalid_input'",
        )
      ).rows;
      const attempts = rows.reduce((n, r) => n + Number(r.attempts), 0);
      // Each bad pair on /auth/mail, /auth/nginx-mail and /auth/basic, the Basic user-ids without a usable user, the broken encoding.
      assert.ok(attempts >= bad.length * 3, `${attempts} invalid_input attempts`);
      for (const r of rows)
        assert.doesNotMatch(
          r.address_typed + r.user_agent + r.ip + r.protocol,
          /[\u0000-\u001f\u007f]/,
          `logged without control characters: ${JSON.stringify(r)}`,
        );
    } finally {
      await c.end();
    }
  });
});
