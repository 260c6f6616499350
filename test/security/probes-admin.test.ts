/**
 * Black-box probes of admin rights (issue #7, checklist 36), against the real server over HTTP:
 * an admin of one organization can neither read nor change another organization's users through
 * any admin route of the JSON API or the admin pages, and no user can raise their own role, by
 * any body field, route or form. Each probe checks afterwards, as the other organization's own
 * admin and user, that nothing changed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { FetchBrowser } from '../support/fetch-browser.js';
import {
  apiToken,
  basic,
  bearer,
  call,
  csrfOf,
  form,
  registerTotp,
  signInLog,
  startProbeServer,
  webSignIn,
  type ProbeServer,
  type Registered,
} from '../support/probes.js';

const ADA = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
const BOB = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' };
const EVE = { address: 'eve@fabrikam.test', password: 'amber-glacier-tunnel-19' };
const FRED = { address: 'fred@fabrikam.test', password: 'lilac-summit-rower-27' };

interface UserOut {
  address: string;
  role: string;
  status: string;
  mfaState: string;
}

describe('probes: admin rights', () => {
  let probe: ProbeServer;
  let base = '';
  let fred: Registered;

  before(async () => {
    ({ probe } = await startProbeServer('admin', {}, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addOrganization(OPERATOR, 'fabrikam.test', 'Fabrikam');
      await ctx.accounts.addUser(OPERATOR, { ...ADA, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, BOB);
      await ctx.accounts.addUser(OPERATOR, { ...EVE, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, FRED);
      await ctx.mfaAdmin.setUserState(OPERATOR, FRED.address, 'enabled');
    }));
    base = probe.base;
    // Fred has what an admin could take away: an authenticator app, an app password, a live session.
    fred = await registerTotp(base, FRED.address, FRED.password);
    assert.ok(fred.appPassword);
    await call(base, 'POST', '/api/v1/sessions', { email: FRED.address, password: 'fred-typo-password' });
  });
  after(async () => probe?.stop());

  /** Fabrikam as its own admin sees it, and Fred's own credentials: all of it must survive the probe unchanged. */
  async function fabrikamState() {
    const eve = await adminApiToken(base, EVE);
    const users = ((await call(base, 'GET', '/api/v1/users', undefined, bearer(eve))).body.users as UserOut[])
      .map((u) => ({ address: u.address, role: u.role, status: u.status, mfaState: u.mfaState }))
      .sort((a, b) => a.address.localeCompare(b.address));
    const aps = (
      (await call(base, 'GET', `/api/v1/users/${FRED.address}/app-passwords`, undefined, bearer(eve))).body
        .appPasswords as { id: string }[]
    ).map((p) => p.id);
    const fredSession = (await call(base, 'GET', '/api/v1/me', undefined, bearer(fred.token))).status;
    const fredAppPassword = (await call(base, 'GET', '/auth/basic', undefined, basic(FRED.address, fred.appPassword!)))
      .status;
    const flow = await call(base, 'POST', '/api/v1/sessions', { email: FRED.address, password: FRED.password });
    return {
      users,
      aps,
      fredSession,
      fredAppPassword,
      fredSecondFactor: flow.body.state,
      fredMethods: (flow.body.methods as unknown[]).length,
    };
  }

  it("extra probe: an admin of one organization can neither read nor change another organization's users through any admin API route", async () => {
    const before = await fabrikamState();
    // What there is to lose: Fred's session, app password and second factor all work.
    assert.equal(before.fredSession, 200);
    assert.equal(before.fredAppPassword, 200);
    assert.equal(before.fredSecondFactor, 'second_factor');
    assert.equal(before.aps.length, 1);
    assert.deepEqual(
      before.users.map((u) => u.status),
      ['active', 'active'],
    );
    const ada = bearer(await adminApiToken(base, ADA));
    // The address as stored, in capitals, padded, and one that does not exist there: all the same "forbidden" (no enumeration across organizations).
    for (const target of [
      FRED.address,
      EVE.address,
      'FRED@FABRIKAM.TEST',
      ` ${FRED.address} `,
      'nobody@fabrikam.test',
    ]) {
      const a = encodeURIComponent(target);
      const attempts: [string, string, unknown][] = [
        ['POST', `/api/v1/users/${a}/disable`, undefined],
        ['POST', `/api/v1/users/${a}/enable`, undefined],
        ['PUT', `/api/v1/users/${a}/mfa`, { state: 'disabled' }],
        ['POST', `/api/v1/users/${a}/require-reregistration`, undefined],
        ['POST', `/api/v1/users/${a}/end-sessions`, undefined],
        ['GET', `/api/v1/users/${a}/app-passwords`, undefined],
        ['DELETE', `/api/v1/users/${a}/app-passwords`, undefined],
      ];
      for (const [method, url, body] of attempts) {
        const r = await call(base, method, url, body, ada);
        assert.equal(r.status, 403, `${method} ${url}: ${r.text}`);
        assert.equal((r.body.error as { code: string }).code, 'forbidden');
      }
    }
    for (const body of [{ address: 'planted@fabrikam.test' }, { address: 'planted@fabrikam.test', role: 'admin' }])
      assert.equal((await call(base, 'POST', '/api/v1/users', body, ada)).status, 403);
    // Reading: the list, the search and the sign-in log hold only Contoso; no parameter names another organization.
    const list = await call(base, 'GET', '/api/v1/users?q=fabrikam', undefined, ada);
    assert.deepEqual(list.body, { users: [], total: 0 });
    const all = (await call(base, 'GET', '/api/v1/users?limit=200', undefined, ada)).body.users as UserOut[];
    assert.ok(all.every((u) => u.address.endsWith('@contoso.test')));
    for (const q of ['orgId=x', 'org=fabrikam.test', 'domain=fabrikam.test'])
      assert.equal((await call(base, 'GET', `/api/v1/users?${q}`, undefined, ada)).status, 400, q);
    const log = await signInLog(base, ada.authorization.slice(7));
    assert.ok(
      log.length > 0 && log.every((e) => e.addressTyped.endsWith('@contoso.test')),
      'only Contoso in the sign-in log',
    );
    assert.equal((await call(base, 'GET', '/api/v1/sign-ins?orgId=x', undefined, ada)).status, 400);
    assert.deepEqual(await fabrikamState(), before);
  });

  it("extra probe: an admin of one organization can neither read nor change another organization's users through the admin pages", async () => {
    const before = await fabrikamState();
    const ada = new FetchBrowser(base);
    await signInAdminWithMfa(ada, ADA);
    const users = await ada.get('/admin/users?q=fabrikam');
    assert.equal(users.status, 200);
    assert.doesNotMatch(users.body, /fabrikam\.test/);
    assert.doesNotMatch((await ada.get('/admin/users')).body, /fabrikam\.test/);
    assert.doesNotMatch((await ada.get('/admin/sign-ins')).body, /fabrikam\.test/);
    for (const target of [FRED.address, EVE.address]) {
      assert.equal((await ada.get(`/admin/users/user?address=${encodeURIComponent(target)}`)).status, 403);
      for (const [action, extra] of [
        ['disable', {}],
        ['enable', {}],
        ['mfa', { state: 'disabled' }],
        ['reregister', {}],
        ['end-sessions', {}],
        ['set-password-link', { mail: '1' }],
        ['app-passwords/revoke-all', {}],
      ] as [string, Record<string, string>][]) {
        const r = await ada.submit('/admin/users', `/admin/users/${action}`, { address: target, ...extra });
        assert.equal(r.status, 403, `${action} ${target}`);
      }
    }
    assert.equal(
      (await ada.submit('/admin/users', '/admin/users', { address: 'planted@fabrikam.test', admin: '1' })).status,
      403,
    );
    assert.deepEqual(await fabrikamState(), before);
  });

  it('extra probe: a user cannot raise their own role through any API field or route', async () => {
    const bob = bearer(await apiToken(base, BOB.address, BOB.password));
    const attempts: [string, string, unknown, number[]][] = [
      // [method, url, body, refused with]
      ['POST', '/api/v1/users', { address: BOB.address, role: 'admin' }, [403]],
      ['POST', '/api/v1/users', { address: 'bob2@contoso.test', role: 'admin' }, [403]],
      ['PUT', '/api/v1/me', { role: 'admin' }, [404]],
      ['PATCH', '/api/v1/me', { role: 'admin' }, [404]],
      ['POST', '/api/v1/me', { role: 'admin' }, [404]],
      ['PUT', `/api/v1/users/${BOB.address}`, { role: 'admin' }, [404]],
      ['PATCH', `/api/v1/users/${BOB.address}`, { role: 'admin' }, [404]],
      ['PUT', `/api/v1/users/${BOB.address}/role`, { role: 'admin' }, [404]],
      ['PUT', `/api/v1/users/${BOB.address}/mfa`, { state: 'disabled', role: 'admin' }, [400]],
      ['PUT', `/api/v1/users/${BOB.address}/mfa`, { state: 'disabled' }, [403]],
      ['POST', `/api/v1/users/${BOB.address}/enable`, { role: 'admin' }, [400, 403]],
      ['POST', '/api/v1/me/app-passwords', { name: 'x', role: 'admin' }, [400]],
      ['PUT', '/api/v1/policy', { mfaDefault: 'disabled' }, [403]],
      ['PUT', '/api/v1/policy', { role: 'admin' }, [400]],
      ['GET', '/api/v1/users?role=admin', undefined, [400]],
      ['GET', '/api/v1/users', undefined, [403]],
      ['GET', '/api/v1/sign-ins', undefined, [403]],
    ];
    for (const [method, url, body, refused] of attempts) {
      const r = await call(base, method, url, body, bob);
      assert.ok(refused.includes(r.status), `${method} ${url} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
    }
    // At sign-in: an extra field, and the prototype-pollution shapes of it, are refused before anything is read.
    for (const raw of [
      JSON.stringify({ email: BOB.address, password: BOB.password, role: 'admin' }),
      `{"email":${JSON.stringify(BOB.address)},"password":${JSON.stringify(BOB.password)},"__proto__":{"role":"admin"}}`,
      `{"email":${JSON.stringify(BOB.address)},"password":${JSON.stringify(BOB.password)},"constructor":{"prototype":{"role":"admin"}}}`,
    ]) {
      const r = await call(base, 'POST', '/api/v1/sessions', raw);
      assert.equal(r.status, 400, raw);
    }
    // Still a user, everywhere it shows; and no one was added.
    const me = await call(base, 'GET', '/api/v1/me', undefined, bob);
    assert.equal((me.body.user as UserOut).role, 'user');
    const fresh = await call(
      base,
      'GET',
      '/api/v1/me',
      undefined,
      bearer(await apiToken(base, BOB.address, BOB.password)),
    );
    assert.equal((fresh.body.user as UserOut).role, 'user');
    const ada = bearer(await adminApiToken(base, ADA));
    const users = (await call(base, 'GET', '/api/v1/users', undefined, ada)).body.users as UserOut[];
    assert.deepEqual(users.map((u) => [u.address, u.role]).sort(), [
      [ADA.address, 'admin'],
      [BOB.address, 'user'],
    ]);
  });

  it('extra probe: a user cannot raise their own role through the pages: admin forms and made-up fields are refused', async () => {
    const bob = new FetchBrowser(base);
    await webSignIn(bob, BOB.address, BOB.password);
    const account = await bob.get('/account');
    const csrf = csrfOf(account.body);
    assert.equal((await bob.get('/admin/users')).status, 403);
    const posts: [string, Record<string, string>, number][] = [
      ['/admin/users', { address: BOB.address, admin: '1' }, 403],
      ['/admin/users', { address: 'bob3@contoso.test', admin: '1' }, 403],
      ['/admin/users/mfa', { address: BOB.address, state: 'disabled' }, 403],
      ['/admin/users/enable', { address: BOB.address, role: 'admin' }, 403],
      ['/admin/policy', { mfaDefault: 'disabled', rememberDays: '0', apCap: '40' }, 403],
      ['/account', { role: 'admin' }, 404],
      ['/security-info', { role: 'admin' }, 404],
      ['/signin', { email: BOB.address, password: BOB.password, role: 'admin', admin: '1' }, 303],
    ];
    for (const [url, fields, status] of posts) {
      const r = await bob.request(url, form({ _csrf: csrf, ...fields }));
      assert.equal(r.status, status, `${url} ${JSON.stringify(fields)}`);
    }
    // Signed in again through the form with made-up fields: the new session is still a user's.
    const page = await bob.get('/account');
    assert.match(page.body, /<dd>User<\/dd>/);
    assert.doesNotMatch(page.body, /href="\/admin\/users"/, 'no admin navigation');
    assert.equal((await bob.get('/admin/users')).status, 403);
  });
});
