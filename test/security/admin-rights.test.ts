/**
 * Admin rights (checklist 36, and 12 for adding users): every admin page and admin API route,
 * found from the app's own route table, refuses a plain user; an admin of one organization can
 * neither read nor change another's users, and learns nothing about which of its addresses exist;
 * nobody can give themselves a role.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { askEveryAdminPage, routesOf } from '../support/routes.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { ADMIN, Browser, csrfFrom, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

describe('admin rights are checked on the server, per organization', () => {
  let w: World;
  let userToken = '';
  let adminToken = '';
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  /** A body each admin API route accepts, so that only the rights can refuse it. */
  const bodyFor = (method: string, url: string): object | undefined => {
    if (method === 'POST' && url === '/api/v1/users') return { address: 'new-admin@contoso.test', role: 'admin' };
    if (method === 'PUT' && url.endsWith('/mfa')) return { state: 'disabled' };
    if (method === 'PUT' && url === '/api/v1/policy') return { mfaDefault: 'disabled' };
    if (method === 'POST' && url === '/api/v1/users/bulk')
      return { operation: 'disable', rows: [{ address: 'bob@contoso.test' }] };
    if (method === 'PUT' && url.endsWith('/pin')) return { pin: { network: '0.0.0.0/0' } };
    if (method === 'PUT' && url === '/api/v1/location-rules') return { rules: [{ protocol: 'imap', mode: 'never' }] };
    if ((method === 'POST' || method === 'PUT') && url.startsWith('/api/v1/locations'))
      return { name: 'Anywhere', countries: ['NL'] };
    return undefined;
  };
  const adminApiRoutes = () =>
    routesOf(w.app).filter(
      (r) => r.method !== 'HEAD' && /^\/api\/v1\/(users|policy|sign-ins|locations|location-rules)(\/|$)/.test(r.url),
    );
  const snapshot = async () => ({
    users: await w.ctx.store.db
      .selectFrom('users')
      .select(['address', 'status', 'role', 'mfa_state'])
      .orderBy('address')
      .execute(),
    policies: await w.ctx.store.db.selectFrom('org_policies').selectAll().execute(),
    locations: await w.ctx.store.db.selectFrom('named_locations').selectAll().execute(),
    locationRules: await w.ctx.store.db.selectFrom('location_policies').selectAll().execute(),
    pins: await w.ctx.store.db
      .selectFrom('app_passwords')
      .select(['id', 'pinned_locations', 'pinned_network'])
      .execute(),
  });

  before(async () => {
    w = await makeWorld('sqlite');
    userToken = (
      await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: USER.address, password: USER.password },
      })
    ).json().token;
    adminToken = await adminApiToken(w.app, ADMIN);
  });
  after(async () => w.close());

  it('every admin page and every admin API route refuses a plain user, and nothing changes', async () => {
    const before = await snapshot();
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    const form = async () => ({
      _csrf: csrfFrom((await b.get('/account')).body),
      address: USER.address,
      state: 'disabled',
      mfaDefault: 'disabled',
      methods: 'totp',
      rememberDays: '0',
      admin: '1',
      name: 'x',
    });
    await askEveryAdminPage(w.app, b, USER.address, form, (r, res) =>
      assert.equal(res.statusCode, 403, `${r.method} ${r.url}`),
    );
    const apis = adminApiRoutes();
    assert.ok(apis.length >= 12, `${apis.length} admin API routes`);
    for (const r of apis) {
      const url = r.url.replace(':address', encodeURIComponent(USER.address));
      const body = bodyFor(r.method, r.url);
      const res = await w.app.inject({
        method: r.method as 'GET',
        url,
        headers: bearer(userToken),
        ...(body ? { payload: body } : {}),
      });
      assert.equal(res.statusCode, 403, `${r.method} ${r.url}: ${res.body}`);
      assert.equal(res.json().error.code, 'forbidden');
    }
    assert.deepEqual(await snapshot(), before);
  });

  it("an admin of one organization can neither read nor change another's users, and cannot tell which exist", async () => {
    const before = await snapshot();
    // The other organization's users are not in any list or log.
    const list = await w.app.inject({ method: 'GET', url: '/api/v1/users?limit=200', headers: bearer(adminToken) });
    assert.ok(list.json().users.every((u: { address: string }) => u.address.endsWith('@contoso.test')));
    assert.equal(
      (
        await w.app.inject({
          method: 'GET',
          url: `/api/v1/users?q=${encodeURIComponent(OTHER_ADMIN.address)}`,
          headers: bearer(adminToken),
        })
      ).json().total,
      0,
    );
    // Every route that names a user: refused for Eve (exists, Fabrikam), for a Fabrikam address that
    // does not exist, and for a domain nobody has; the three answers are the same.
    for (const r of adminApiRoutes().filter((x) => x.url.includes(':address'))) {
      const answers: string[] = [];
      for (const address of [OTHER_ADMIN.address, 'nobody@fabrikam.test', 'nobody@nowhere.test']) {
        const body = bodyFor(r.method, r.url);
        const res = await w.app.inject({
          method: r.method as 'GET',
          url: r.url.replace(':address', encodeURIComponent(address)),
          headers: bearer(adminToken),
          ...(body ? { payload: body } : {}),
        });
        assert.equal(res.statusCode, 403, `${r.method} ${r.url} ${address}`);
        answers.push(res.body);
      }
      assert.equal(new Set(answers).size, 1, `${r.method} ${r.url}: the same answer whether the address exists`);
    }
    // Adding a user in another organization: the same answer whether the address exists.
    const adds = await Promise.all(
      [OTHER_ADMIN.address, 'nobody@fabrikam.test', 'nobody@nowhere.test'].map((address) =>
        w.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(adminToken), payload: { address } }),
      ),
    );
    assert.deepEqual(
      adds.map((a) => a.statusCode),
      [403, 403, 403],
    );
    assert.equal(new Set(adds.map((a) => a.body)).size, 1);
    // The pages.
    const b = new Browser(w.app);
    await signInAdminWithMfa(b, ADMIN);
    assert.equal((await b.get(`/admin/users/user?address=${encodeURIComponent(OTHER_ADMIN.address)}`)).statusCode, 403);
    for (const action of [
      'disable',
      'enable',
      'mfa',
      'reregister',
      'end-sessions',
      'lift-locks',
      'reset-link',
      'set-password-link',
      'app-passwords/revoke-all',
    ]) {
      const res = await b.submit('/admin/users', `/admin/users/${action}`, {
        address: OTHER_ADMIN.address,
        state: 'disabled',
      });
      assert.equal(res.statusCode, 403, action);
    }
    assert.doesNotMatch((await b.get('/admin/sign-ins')).body, /fabrikam/);
    assert.deepEqual(await snapshot(), before);
  });

  it('nobody raises their own role: no route but an admin’s "add user" takes a role, and unknown fields are refused', async () => {
    // The only request body with a role in the API document is the admin's POST /users.
    const doc = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }
        >
      >;
    };
    const withRole: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops))
        if (op.requestBody && JSON.stringify(op.requestBody).includes('"role"'))
          withRole.push(`${m.toUpperCase()} ${p}`);
    }
    assert.deepEqual(withRole, ['POST /api/v1/users']);
    // A user cannot use it, nor slip a role into another body, nor find a route to change their own account.
    assert.equal(
      (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/users',
          headers: bearer(userToken),
          payload: { address: USER.address, role: 'admin' },
        })
      ).statusCode,
      403,
    );
    assert.equal(
      (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/me/app-passwords',
          headers: bearer(userToken),
          payload: { name: 'x', role: 'admin' },
        })
      ).statusCode,
      400,
    );
    assert.equal(
      (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password, role: 'admin' },
        })
      ).statusCode,
      400,
    );
    for (const method of ['PUT', 'PATCH', 'POST'] as const)
      assert.equal(
        (await w.app.inject({ method, url: '/api/v1/me', headers: bearer(userToken), payload: { role: 'admin' } }))
          .statusCode,
        404,
        `${method} /api/v1/me`,
      );
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    assert.equal(
      (await b.submit('/account', '/admin/users', { address: 'sidekick@contoso.test', admin: '1' })).statusCode,
      403,
    );
    assert.equal(
      (
        await w.ctx.store.db
          .selectFrom('users')
          .select('role')
          .where('address', '=', USER.address)
          .executeTakeFirstOrThrow()
      ).role,
      'user',
    );
    assert.equal(
      await w.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('address', '=', 'sidekick@contoso.test')
        .executeTakeFirst(),
      undefined,
    );
  });
});
