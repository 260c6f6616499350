/** The JSON API under /api/v1 and its OpenAPI document. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminApiToken } from '../support/admin-mfa.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

describe('JSON API', () => {
  let w: World;
  let adminToken: string;
  let userToken: string;
  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: unknown, lang = 'en') =>
    w.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { 'accept-language': lang, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body ? { payload: body as object } : {}),
    });

  before(async () => {
    w = await makeWorld('sqlite');
    adminToken = await adminApiToken(w.app, ADMIN);
    userToken = (await call('POST', '/sessions', undefined, { email: USER.address, password: USER.password })).json()
      .token;
  });
  after(async () => w.close());

  it('signs in with address and password and answers who I am', async () => {
    const res = await call('POST', '/sessions', undefined, { email: USER.address, password: USER.password });
    assert.equal(res.statusCode, 201);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json();
    assert.match(body.token, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(body.amr, ['pwd']);
    const me = await call('GET', '/me', body.token);
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().organization.name, 'Contoso');
  });

  it('answers a failed sign-in with one generic error in the caller’s language', async () => {
    const wrong = await call('POST', '/sessions', undefined, { email: USER.address, password: 'nope-nope-nope' });
    const unknown = await call('POST', '/sessions', undefined, {
      email: 'ghost@contoso.test',
      password: 'nope-nope-nope',
    });
    assert.equal(wrong.statusCode, 401);
    assert.deepEqual(wrong.json(), unknown.json());
    assert.deepEqual(wrong.json(), {
      error: { code: 'sign_in_failed', message: 'Your account or password is incorrect.' },
    });
    const nl = await call('POST', '/sessions', undefined, { email: USER.address, password: 'nope-nope-nope' }, 'nl');
    assert.equal(nl.json().error.message, 'Uw account of wachtwoord is onjuist.');
  });

  it('validates bodies against the route schema and changes nothing on bad input', async () => {
    const res = await call('POST', '/users', adminToken, { address: 'x@contoso.test', role: 'owner' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_input');
    const extra = await call('POST', '/sessions', undefined, {
      email: USER.address,
      password: USER.password,
      admin: true,
    });
    assert.equal(extra.statusCode, 400);
    const list = await call('GET', '/users?q=x%40contoso', adminToken);
    assert.equal(list.json().total, 0);
  });

  it('takes JSON bodies as sent: no coercion of arrays, nulls or numbers into the schema’s types (query strings still convert)', async () => {
    // With Ajv's default coercion, ["password"] signed in and null switched a policy setting off.
    const asArray = await call('POST', '/sessions', undefined, { email: USER.address, password: [USER.password] });
    assert.equal(asArray.statusCode, 400);
    assert.equal(asArray.json().error.code, 'invalid_input');
    const before = (await call('GET', '/policy', adminToken)).json();
    for (const body of [{ appPasswords: { allowed: null } }, { rememberDays: '30' }, { appPasswords: { cap: [5] } }]) {
      const res = await w.app.inject({
        method: 'PUT',
        url: '/api/v1/policy',
        headers: { authorization: `Bearer ${adminToken}` },
        payload: body,
      });
      assert.equal(res.statusCode, 400, JSON.stringify(body));
    }
    assert.deepEqual((await call('GET', '/policy', adminToken)).json(), before, 'nothing changed');
    const page = await call('GET', '/users?limit=1&offset=0', adminToken);
    assert.equal(page.statusCode, 200, 'numbers in a query string are still read as numbers');
    assert.equal(page.json().users.length, 1);
  });

  it('lets an admin add, list, disable and enable users of their own organization', async () => {
    const add = await call('POST', '/users', adminToken, { address: 'carol@contoso.test', name: 'Carol' });
    assert.equal(add.statusCode, 201);
    assert.match(add.json().setPasswordUrl, /^http:\/\/127\.0\.0\.1:8080\/set-password\?token=/);
    const list = await call('GET', '/users?limit=2', adminToken);
    assert.equal(list.statusCode, 200);
    assert.equal(list.json().users.length, 2);
    assert.equal(list.json().total, 3);
    const dis = await call('POST', '/users/carol@contoso.test/disable', adminToken);
    assert.equal(dis.json().user.status, 'disabled');
    const en = await call('POST', '/users/carol@contoso.test/enable', adminToken);
    assert.equal(en.json().user.status, 'active');
    assert.equal((await call('POST', '/users', adminToken, { address: 'carol@contoso.test' })).statusCode, 409);
  });

  it('keeps organizations apart and users out of admin actions', async () => {
    assert.equal((await call('POST', `/users/${OTHER_ADMIN.address}/disable`, adminToken)).statusCode, 403);
    assert.equal((await call('POST', '/users', adminToken, { address: 'm@fabrikam.test' })).statusCode, 403);
    assert.equal((await call('GET', '/users', userToken)).statusCode, 403);
    assert.equal((await call('GET', '/sign-ins', userToken)).statusCode, 403);
    assert.equal(
      (await call('POST', '/users', userToken, { address: 'u2@contoso.test', role: 'admin' })).statusCode,
      403,
    );
    const otherToken = await adminApiToken(w.app, OTHER_ADMIN);
    const theirs = await call('GET', '/users', otherToken);
    assert.deepEqual(
      theirs.json().users.map((u: { address: string }) => u.address),
      [OTHER_ADMIN.address],
    );
  });

  it('returns the sign-in log to admins', async () => {
    const res = await call('GET', '/sign-ins?limit=5', adminToken);
    assert.equal(res.statusCode, 200);
    const events = res.json().events as { reason: string; protocol: string }[];
    assert.ok(events.length > 0 && events.length <= 5);
    assert.ok(events.some((e) => e.protocol === 'api'));
  });

  it('refuses missing, malformed and ended tokens', async () => {
    assert.equal((await call('GET', '/me')).statusCode, 401);
    assert.equal((await call('GET', '/me', 'garbage!')).statusCode, 401);
    const t = (await call('POST', '/sessions', undefined, { email: USER.address, password: USER.password })).json()
      .token;
    assert.equal((await call('DELETE', '/sessions/current', t)).statusCode, 204);
    assert.equal((await call('GET', '/me', t)).statusCode, 401);
  });

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const res = await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.openapi, '3.0.3');
    for (const p of [
      '/api/v1/sessions',
      '/api/v1/me',
      '/api/v1/users',
      '/api/v1/users/{address}/disable',
      '/api/v1/sign-ins',
    ])
      assert.ok(doc.paths[p], p);
    assert.ok(!doc.paths['/signin'], 'web pages are not in the API document');
    assert.deepEqual(doc.paths['/api/v1/users'].post.requestBody.content['application/json'].schema.required, [
      'address',
    ]);
  });
});
