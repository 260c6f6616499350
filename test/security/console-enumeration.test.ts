/**
 * No enumeration through the console (issue #14, item 6): whoever may not administer a user gets
 * the same answer whether that address exists or not, on every admin API route that names a user
 * (found from the app's own route table) and on the admin pages that take one. Checked for a plain
 * user of the organization and for the admin of another organization, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminApiToken } from '../support/admin-mfa.js';
import { routesOf } from '../support/routes.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, csrfFrom, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const EXISTS = 'ada@contoso.test';
const MISSING = 'nobody-here@contoso.test';

for (const kind of STORE_KINDS) {
  describe(`no enumeration through the console on ${kind}`, () => {
    let w: World;
    const tokens: Record<string, string> = {};
    /** A body each route accepts, so that only the rights can refuse it. */
    const bodyFor = (method: string, url: string): object | undefined =>
      method === 'PUT' && url.endsWith('/mfa')
        ? { state: 'disabled' }
        : method === 'PUT' && url.endsWith('/pin')
          ? { pin: { network: '0.0.0.0/0' } }
          : undefined;
    /** Every admin API route with an address in its path. */
    const addressRoutes = () =>
      routesOf(w.app).filter((r) => r.method !== 'HEAD' && r.url.startsWith('/api/v1/users/:address'));
    const ask = async (who: string, method: string, url: string, address: string) => {
      const res = await w.app.inject({
        method: method as 'GET',
        url: url.replace(':address', encodeURIComponent(address)),
        headers: { authorization: `Bearer ${tokens[who]}` },
        ...(bodyFor(method, url) ? { payload: bodyFor(method, url) } : {}),
      });
      return { status: res.statusCode, body: res.body };
    };

    before(async () => {
      w = await makeWorld(kind);
      tokens.user = (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
        })
      ).json().token;
      tokens.otherAdmin = await adminApiToken(w.app, OTHER_ADMIN);
    });
    after(async () => w.close());

    it('finds the admin API routes that name a user', () => {
      const routes = addressRoutes().map((r) => `${r.method} ${r.url}`);
      assert.ok(routes.length >= 8, routes.join('\n'));
    });

    for (const who of ['user', 'otherAdmin'] as const) {
      it(`gives ${who === 'user' ? 'a plain user' : "another organization's admin"} the same refusal for a known and an unknown address on every such route`, async () => {
        for (const r of addressRoutes()) {
          const known = await ask(who, r.method, r.url, EXISTS);
          const unknown = await ask(who, r.method, r.url, MISSING);
          assert.equal(known.status, 403, `${r.method} ${r.url}: refused`);
          assert.deepEqual(unknown, known, `${r.method} ${r.url}: the same answer whether ${MISSING} exists or not`);
        }
      });
    }

    it("gives a plain user the same page for a known and an unknown address on the admin pages' forms", async () => {
      const b = new Browser(w.app);
      await b.signIn(USER.address, USER.password);
      const post = async (action: string, address: string) => {
        const res = await b.post(action, {
          _csrf: csrfFrom((await b.get('/account')).body),
          address,
          state: 'disabled',
        });
        return { status: res.statusCode, body: res.body.replace(/name="_csrf" value="[^"]+"/g, '') };
      };
      for (const action of [
        '/admin/users/disable',
        '/admin/users/mfa',
        '/admin/users/reregister',
        '/admin/users/end-sessions',
        '/admin/users/reset-link',
        '/admin/users/lift-locks',
        '/admin/users/set-password-link',
        '/admin/users/app-passwords/revoke-all',
      ]) {
        const known = await post(action, EXISTS);
        assert.equal(known.status, 403, action);
        assert.deepEqual(await post(action, MISSING), known, action);
      }
      // The language switch carries the page's own URL back: the address typed is in it either way.
      const page = async (address: string) => {
        const res = await b.get(`/admin/users/user?address=${encodeURIComponent(address)}`);
        const body = res.body
          .replace(/name="_csrf" value="[^"]+"/g, '')
          .replaceAll(encodeURIComponent(address), 'ADDRESS');
        return { status: res.statusCode, body };
      };
      assert.deepEqual(await page(MISSING), await page(EXISTS));
    });
  });
}
