/**
 * Legacy protocols (checklist 21, 22, 23, 26): app passwords are kept as keyed hashes and capped at
 * 40; they open legacy endpoints only, never the JSON API; once a user's MFA is enforced their main
 * password is refused on every protocol and endpoint; and hostile input (any control character,
 * a colon in a Basic user-id, oversized fields) is refused cleanly.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { DEFAULT_APP_PASSWORD_POLICY } from '../../src/domain/app-passwords/model.js';
import { APP_PASSWORD_HASH_PURPOSE } from '../../src/domain/app-passwords/service.js';
import { createKeyedHasher } from '../../src/lib/crypto/tokens.js';
import { ADMIN, makeWorld, USER, type World } from '../support/world.js';

describe('legacy protocols', () => {
  let w: World;
  let key = '';
  let user: User;
  let appPassword = '';
  const bearer = () => ({ authorization: `Bearer ${key}` });
  const mail = (body: object) => w.app.inject({ method: 'POST', url: '/auth/mail', headers: bearer(), payload: body });
  const nginx = (user: string, password: string, protocol: string) =>
    w.app.inject({
      method: 'GET',
      url: '/auth/nginx-mail',
      headers: {
        ...bearer(),
        'auth-method': 'plain',
        'auth-user': encodeURIComponent(user),
        'auth-pass': encodeURIComponent(password),
        'auth-protocol': protocol,
        'client-ip': '192.0.2.9',
      },
    });
  const basic = (credentials: string, url = '/auth/basic') =>
    w.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` },
    });
  const introspect = (token: string) =>
    w.app.inject({
      method: 'POST',
      url: '/oauth2/introspect',
      headers: { ...bearer(), 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${encodeURIComponent(token)}&client_id=imap`,
    });

  before(async () => {
    // No lockout in the way: these tests fail on purpose, many times.
    w = await makeWorld('sqlite', {
      accountFailureLimit: 100,
      ipFailureLimit: 100_000,
      mailBackendImap: '127.0.0.1:10143',
      mailBackendPop3: '127.0.0.1:10110',
      mailBackendSmtp: '127.0.0.1:10587',
    });
    key = (await w.ctx.integrations.add('dovecot')).key;
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    appPassword = (await w.ctx.appPasswords.create(user, s, 'Mail app', { ip: '127.0.0.1', locale: 'en' })).password;
  });
  after(async () => w.close());

  it('keeps only the keyed hash (HMAC under the server key, not a plain hash) and caps them at 40 by default', async () => {
    const canonical = appPassword.replace(/ /g, '');
    const rows = await w.ctx.store.db.selectFrom('app_passwords').selectAll().where('user_id', '=', user.id).execute();
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(canonical) && !JSON.stringify(rows).includes(appPassword));
    assert.equal(rows[0]!.hash, createKeyedHasher(w.ctx.secrets.hashKey).digest(APP_PASSWORD_HASH_PURPOSE, canonical));
    assert.notEqual(rows[0]!.hash, createHash('sha256').update(canonical).digest('hex'));
    // The default cap: 40 (Microsoft's), enforced.
    assert.equal(DEFAULT_APP_PASSWORD_POLICY.cap, 40);
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    for (let i = 2; i <= 40; i++)
      await w.ctx.appPasswords.create(user, s, `Device ${i}`, { ip: '127.0.0.1', locale: 'en' });
    await assert.rejects(w.ctx.appPasswords.create(user, s, 'Device 41', { ip: '127.0.0.1', locale: 'en' }), {
      code: 'app_password_cap',
    });
    const keep = (await w.ctx.appPasswords.list(user)).find((p) => p.name === 'Mail app')!.id;
    for (const p of await w.ctx.appPasswords.list(user)) if (p.id !== keep) await w.ctx.appPasswords.remove(user, p.id);
  });

  it('an app password is never a bearer token or a Basic credential for the JSON API, nor for any admin action', async () => {
    const admin = (await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address))!;
    await w.ctx.mfaAdmin.setUserState(OPERATOR, ADMIN.address, 'enforced');
    const s = (await w.ctx.sessions.start(admin.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    const adminAp = (await w.ctx.appPasswords.create(admin, s, 'Admin phone', { ip: '127.0.0.1', locale: 'en' }))
      .password;
    for (const ap of [appPassword, adminAp]) {
      for (const form of [ap, ap.replace(/ /g, '')]) {
        for (const url of ['/api/v1/me', '/api/v1/users', '/api/v1/sign-ins', '/api/v1/policy']) {
          assert.equal(
            (await w.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${form}` } })).statusCode,
            401,
            `${url} with an app password as bearer`,
          );
          assert.equal(
            (await basic(`${ap === adminAp ? ADMIN.address : USER.address}:${form}`, url)).statusCode,
            401,
            `${url} with an app password in Basic`,
          );
        }
      }
    }
    assert.equal(
      (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/users',
          headers: { authorization: `Bearer ${adminAp.replace(/ /g, '')}` },
          payload: { address: 'ap-made@contoso.test' },
        })
      ).statusCode,
      401,
    );
    assert.equal(
      await w.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('address', '=', 'ap-made@contoso.test')
        .executeTakeFirst(),
      undefined,
    );
  });

  it('refuses the main password of an MFA-enforced user on every legacy protocol and endpoint; the app password works on each', async () => {
    for (const service of ['imap', 'pop3', 'submission', 'smtp', 'dav', 'http']) {
      assert.equal(
        (await mail({ user: USER.address, password: USER.password, service })).statusCode,
        403,
        `/auth/mail ${service}: main password`,
      );
      assert.equal(
        (await mail({ user: USER.address, password: appPassword, service })).statusCode,
        200,
        `/auth/mail ${service}: app password`,
      );
    }
    for (const protocol of ['imap', 'pop3', 'smtp']) {
      assert.equal(
        (await nginx(USER.address, USER.password, protocol)).headers['auth-status'],
        'Invalid login or password',
        `nginx ${protocol}: main password`,
      );
      assert.equal(
        (await nginx(USER.address, appPassword, protocol)).headers['auth-status'],
        'OK',
        `nginx ${protocol}: app password`,
      );
    }
    assert.equal((await basic(`${USER.address}:${USER.password}`)).statusCode, 401, 'forward auth: main password');
    assert.equal((await basic(`${USER.address}:${appPassword}`)).statusCode, 200, 'forward auth: app password');
    assert.deepEqual((await introspect(USER.password)).json(), { active: false }, 'introspection: main password');
    assert.deepEqual((await introspect(appPassword)).json(), { active: true, username: USER.address });
  });

  it('refuses every control character, a colon in a Basic user-id and oversized fields cleanly, and keeps answering', async () => {
    const controls = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '\u007f'];
    for (const c of controls) {
      const label = `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
      assert.equal(
        (await mail({ user: `${USER.address}${c}`, password: appPassword, service: 'imap' })).statusCode,
        401,
        `user with ${label}`,
      );
      assert.equal(
        (await mail({ user: USER.address, password: `${appPassword}${c}`, service: 'imap' })).statusCode,
        401,
        `password with ${label}`,
      );
      assert.equal(
        (
          await mail({
            user: USER.address,
            password: `${appPassword.slice(0, 4)}${c}${appPassword.slice(4)}`,
            service: 'imap',
          })
        ).statusCode,
        401,
        `${label} inside the password`,
      );
      assert.equal(
        (await nginx(USER.address, `${appPassword}${c}`, 'imap')).headers['auth-status'],
        'Invalid login or password',
        `nginx: ${label}`,
      );
      assert.equal((await basic(`${USER.address}:${appPassword}${c}`)).statusCode, 401, `basic: ${label}`);
    }
    // RFC 7617: the user-id ends at the first colon, so a user-id with a colon is never the user's.
    assert.equal((await basic(`bob:${USER.address}:${appPassword}`)).statusCode, 401);
    assert.equal((await basic(`${USER.address.replace('@', ':@')}:${appPassword}`)).statusCode, 401);
    assert.equal((await mail({ user: `bob:x@contoso.test`, password: appPassword, service: 'imap' })).statusCode, 401);
    // Oversized fields, and a Basic header too long to read.
    assert.equal(
      (await mail({ user: `${'b'.repeat(321)}@contoso.test`, password: appPassword, service: 'imap' })).statusCode,
      401,
    );
    assert.equal(
      (await mail({ user: USER.address, password: `${appPassword} ${'x'.repeat(1024)}`, service: 'imap' })).statusCode,
      401,
    );
    assert.equal(
      (await nginx(USER.address, 'y'.repeat(1025), 'imap')).headers['auth-status'],
      'Invalid login or password',
    );
    assert.equal((await basic(`${USER.address}:${'z'.repeat(4000)}`)).statusCode, 401);
    const oversizedBody = await w.app.inject({
      method: 'POST',
      url: '/auth/mail',
      headers: bearer(),
      payload: { user: USER.address, password: 'p'.repeat(40_000), service: 'imap' },
    });
    assert.ok([401, 413].includes(oversizedBody.statusCode), `a 40 kB body: ${oversizedBody.statusCode}`);
    // Each refusal is logged as invalid input, with the control characters made harmless.
    await w.ctx.flush();
    const rows = await w.ctx.store.db
      .selectFrom('sign_in_events')
      .select(['address_typed', 'reason', 'attempts'])
      .where('reason', '=', 'invalid_input')
      .execute();
    // Attempts, not rows: refusals that log the same (sanitised) name are one aggregated row.
    assert.ok(rows.reduce((n, r) => n + Number(r.attempts), 0) >= controls.length);
    for (const r of rows) assert.doesNotMatch(r.address_typed, /[\u0000-\u001f\u007f]/);
    // Still answering.
    assert.equal((await mail({ user: USER.address, password: appPassword, service: 'imap' })).statusCode, 200);
  });
});
