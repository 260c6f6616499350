/**
 * Admins need MFA (checklist 36). Whatever an admin's own MFA state, their sign-in asks for a
 * second factor (registering one first when they have none), no remembered device stands in for
 * it, and every admin page and admin API route refuses a session that did not prove one, changing
 * nothing. The operator's CLI is not a session and keeps working, and the first-admin path of the
 * README (start, `sesame org add`, `sesame user add --admin`, the link, the first sign-in) still
 * ends on the admin console.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR, requireAdminOf, sessionActor } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { FetchBrowser } from '../support/fetch-browser.js';
import {
  freePort,
  runSesameCli,
  serverEnv,
  SHIPPED_WORKERS,
  startServer,
  type StartedServer,
} from '../support/processes.js';
import { askEveryAdminPage, routesOf } from '../support/routes.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';
import {
  ADMIN,
  Browser,
  csrfFrom,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  OTHER_ADMIN,
  registerTotpThroughPages,
  USER,
  type World,
} from '../support/world.js';
import { FULL_TIER } from '../support/tier.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('requireAdminOf needs a second factor in the session (checklist 36)', () => {
  const user = (over: Partial<User>): User =>
    ({
      id: 'u1',
      orgId: 'o1',
      address: 'ada@contoso.test',
      name: 'Ada',
      status: 'active',
      role: 'admin',
      mfaState: 'disabled',
      passwordChangedAt: null,
      createdAt: 0,
      ...over,
    }) as User;
  const code = (f: () => void) => {
    try {
      f();
      return 'allowed';
    } catch (e) {
      return (e as { code: string }).code;
    }
  };

  it('lets an admin of the organization through only with a second factor; the operator always', () => {
    const ada = user({});
    assert.equal(
      code(() => requireAdminOf(OPERATOR, 'o1')),
      'allowed',
    );
    for (const amr of [
      ['pwd', 'otp'],
      ['pwd', 'hwk'],
      ['pwd', 'sms'],
      ['pwd', 'tel'],
      ['pwd', 'email'],
      ['pwd', 'recovery'],
      ['otp'],
    ]) {
      assert.equal(
        code(() => requireAdminOf(sessionActor(ada, { amr }), 'o1')),
        'allowed',
        amr.join(','),
      );
    }
    for (const amr of [[], ['pwd'], ['pwd', 'remembered']]) {
      assert.equal(
        code(() => requireAdminOf(sessionActor(ada, { amr }), 'o1')),
        'admin_mfa_required',
        amr.join(','),
      );
    }
    // An actor built without what its session proved has no admin rights at all.
    assert.equal(
      code(() => requireAdminOf({ kind: 'user', user: ada }, 'o1')),
      'admin_mfa_required',
    );
  });

  it('says "forbidden" first for another organization, a plain user or a disabled admin, second factor or not', () => {
    for (const amr of [['pwd'], ['pwd', 'otp']]) {
      assert.equal(
        code(() => requireAdminOf(sessionActor(user({}), { amr }), 'o2')),
        'forbidden',
      );
      assert.equal(
        code(() => requireAdminOf(sessionActor(user({ role: 'user' }), { amr }), 'o1')),
        'forbidden',
      );
      assert.equal(
        code(() => requireAdminOf(sessionActor(user({ status: 'disabled' }), { amr }), 'o1')),
        'forbidden',
      );
    }
  });
});

for (const kind of STORE_KINDS) {
  describe(`admins need MFA on ${kind}`, () => {
    let w: World;
    const clock = new FakeClock();
    const userId = async (address: string) =>
      (await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', address).executeTakeFirstOrThrow())
        .id;
    const snapshot = async () => ({
      users: await w.ctx.store.db
        .selectFrom('users')
        .select(['address', 'status', 'role', 'mfa_state'])
        .orderBy('address')
        .execute(),
      policies: await w.ctx.store.db.selectFrom('org_policies').selectAll().execute(),
      links: (await w.ctx.store.db.selectFrom('one_time_tokens').select('token_hash').execute()).length,
      appPasswords: (await w.ctx.store.db.selectFrom('app_passwords').select('id').execute()).length,
    });

    before(async () => {
      w = await makeWorld(kind, {}, { clock });
    });
    after(async () => w.close());

    it('sends an admin without a method to register one at sign-in (web), and opens the admin pages only afterwards', async () => {
      assert.equal(
        (await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address))?.mfaState,
        'enforced',
        'admins are created with MFA enforced (#15), and have no method yet',
      );
      const b = new Browser(w.app);
      const first = await b.signIn(ADMIN.address, ADMIN.password);
      assert.equal(first.headers.location, '/signin/mfa', 'the password alone does not sign an admin in');
      assert.equal(
        first.cookies.some((c) => c.name === 'sesame_session' && c.value !== ''),
        false,
        'no session cookie',
      );
      assert.match(
        (await b.get('/signin/mfa')).body,
        /action="\/signin\/mfa\/setup"/,
        '"More information required" with "Set it up now"',
      );
      const early = await b.get('/admin/users');
      assert.equal(early.statusCode, 303, 'no admin page between the password and the second factor');
      assert.match(String(early.headers.location), /^\/signin\?next=/);

      const done = await signInAdminWithMfa(b, ADMIN, { clock, next: '/admin/users' });
      assert.equal(done.location, '/admin/users', 'back to where the admin was going');
      const users = await b.get('/admin/users');
      assert.equal(users.statusCode, 200);
      assert.match(users.body, new RegExp(USER.address));
      // The admin's own MFA state is left as it was.
      assert.equal((await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address))?.mfaState, 'enforced');
      assert.equal(
        (
          await w.ctx.store.db
            .selectFrom('mfa_methods')
            .select('id')
            .where('user_id', '=', await userId(ADMIN.address))
            .execute()
        ).length,
        1,
      );
    });

    it('answers an admin on the JSON API with a flow, never a session token, until the second factor', async () => {
      clock.advance(30_000);
      const r = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: ADMIN.address, password: ADMIN.password },
      });
      assert.equal(r.statusCode, 200);
      assert.equal(r.json().state, 'second_factor', 'the method registered on the pages is asked for');
      assert.equal(
        (await w.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(r.json().token as string) }))
          .statusCode,
        401,
        'the flow token is no session',
      );
      const token = await adminApiToken(w.app, ADMIN, { clock });
      const list = await w.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(token) });
      assert.equal(list.statusCode, 200, list.body);
      // A plain user with MFA disabled still signs in with the password alone.
      const plain = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: USER.address, password: USER.password },
      });
      assert.equal(plain.statusCode, 201);
      // An admin of another organization who never registered is sent to register, on the API too.
      const eve = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: OTHER_ADMIN.address, password: OTHER_ADMIN.password },
      });
      assert.equal(eve.statusCode, 200);
      assert.equal(eve.json().state, 'more_info_required');
    });

    it('refuses every admin page and admin API route to an admin session without a second factor, and changes nothing', async () => {
      const adminId = await userId(ADMIN.address);
      const meta = { ip: '127.0.0.1', userAgent: 'admin-mfa test' };
      // Sessions that proved no second factor: one from before admins needed MFA, one on a remembered device.
      for (const amr of [['pwd'], ['pwd', 'remembered']]) {
        const { token } = await w.ctx.sessions.start(adminId, amr, meta);
        const before = await snapshot();
        const b = new Browser(w.app);
        b.cookies.set('sesame_session', token);
        const account = await b.get('/account');
        assert.equal(account.statusCode, 200, 'the admin is signed in: their own pages open');
        const csrf = csrfFrom(account.body);
        const form = {
          _csrf: csrf,
          address: USER.address,
          state: 'enforced',
          mfaDefault: 'enforced',
          methods: 'totp',
          rememberDays: '0',
          admin: '1',
          name: 'x',
        };
        await askEveryAdminPage(
          w.app,
          b,
          USER.address,
          () => form,
          (r, res) => {
            assert.equal(res.statusCode, 403, `${amr.join(',')}: ${r.method} ${r.url}`);
            assert.match(
              res.body,
              /Admin actions need a sign-in with a second factor/,
              `${r.method} ${r.url} says why`,
            );
          },
        );
        const apis = routesOf(w.app).filter(
          (r) => r.method !== 'HEAD' && /^\/api\/v1\/(users|policy|sign-ins|dashboard)(\/|$)/.test(r.url),
        );
        // A body (or query) each of these takes, so that only the rights can refuse them. Routes
        // added later with bodies of their own may be refused by their schema first (400
        // invalid_input, before any handler runs); they must never answer anything else.
        const valid: Record<string, { body?: object; query?: string }> = {
          'GET /api/v1/users': {},
          'POST /api/v1/users': { body: { address: 'new@contoso.test' } },
          'POST /api/v1/users/:address/disable': {},
          'POST /api/v1/users/:address/enable': {},
          'PUT /api/v1/users/:address/mfa': { body: { state: 'enforced' } },
          'POST /api/v1/users/:address/require-reregistration': {},
          'POST /api/v1/users/:address/end-sessions': {},
          'GET /api/v1/users/:address/app-passwords': {},
          'DELETE /api/v1/users/:address/app-passwords': {},
          'GET /api/v1/policy': {},
          'PUT /api/v1/policy': { body: { mfaDefault: 'enforced' } },
          'GET /api/v1/sign-ins': {},
        };
        const refused: string[] = [];
        for (const r of apis) {
          const key = `${r.method} ${r.url}`;
          const v = valid[key];
          const url = r.url.replace(':address', encodeURIComponent(USER.address)) + (v?.query ?? '');
          const res = await w.app.inject({
            method: r.method as 'GET',
            url,
            headers: bearer(token),
            ...(v?.body ? { payload: v.body } : {}),
          });
          const code = (res.json() as { error?: { code?: string } }).error?.code;
          if (!v && res.statusCode === 400 && code === 'invalid_input') continue;
          assert.equal(res.statusCode, 403, `${amr.join(',')}: ${key}: ${res.body}`);
          assert.equal(code, 'admin_mfa_required', key);
          refused.push(key);
        }
        assert.deepEqual(
          Object.keys(valid).filter((k) => !refused.includes(k)),
          [],
          'every core admin route was reached and refused by the rights',
        );
        assert.equal(
          (await w.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) })).statusCode,
          200,
          'non-admin API routes still answer',
        );
        assert.deepEqual(await snapshot(), before, 'nothing changed');
      }
    });

    it('does not let a remembered device stand in for an admin’s second factor (it still does for a user)', async () => {
      const orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { rememberDays: 30 });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
      clock.advance(30_000);
      const userSecret = await registerTotpThroughPages(w, clock, USER.address, USER.password);
      // The admin registered through the pages in the first test; a second one for this test's own secret.
      await w.ctx.mfaAdmin.requireReRegistration(OPERATOR, ADMIN.address);
      clock.advance(30_000);
      const adminSecret = await registerTotpThroughPages(w, clock, ADMIN.address, ADMIN.password);
      for (const [who, secret, expected] of [
        [USER, userSecret, '/account'],
        [ADMIN, adminSecret, '/signin/mfa'],
      ] as const) {
        const b = new Browser(w.app);
        clock.advance(30_000);
        assert.equal((await b.signIn(who.address, who.password)).headers.location, '/signin/mfa');
        const remembered = await b.submit('/signin/mfa', '/signin/mfa/verify', {
          code: oathtoolTotp(secret, clock.now()),
          remember: '1',
        });
        assert.equal(remembered.statusCode, 303);
        assert.ok(b.cookies.has('sesame_trust'), `${who.address}: this device is remembered`);
        await b.submit('/account', '/signout', {});
        const again = await b.signIn(who.address, who.password);
        assert.equal(again.headers.location, expected, who.address);
      }
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { rememberDays: 0 });
    });
  });

  // The real server and CLI in child processes: the full tier only.
  if (FULL_TIER)
    describe(`the README's first-admin path on ${kind}, end to end`, () => {
      let store: TestStore;
      let server: StartedServer | undefined;
      let env: NodeJS.ProcessEnv;
      before(async () => {
        store = await makeTestStore(kind);
        const port = await freePort();
        env = serverEnv(store.dataDir, port, { DATABASE_URL: store.databaseUrl, SESAME_WORKERS: SHIPPED_WORKERS });
        server = await startServer({ env });
      });
      after(async () => {
        await server?.stop();
        await store.dispose();
      });

      it('start, org add, user add --admin, the link, a password, then the first sign-in registers a second factor and opens the admin console', async () => {
        // Printed before the port answers, and once (the default SESAME_WORKERS runs several workers).
        assert.match(server!.output(), /No users yet\. Create your organization and its first admin/);
        assert.equal(server!.output().split('No users yet').length - 1, 1, 'the hint, once');
        assert.match(server!.output(), /second factor/, 'the hint says the first sign-in sets up a second factor');
        // The operator's CLI, in another terminal, knows the server's address only from the hint's
        // export line (it prints links from SESAME_PUBLIC_URL and never guesses); it needs no
        // session and no second factor.
        const exported = /^ {2}export SESAME_PUBLIC_URL=(\S+)$/m.exec(server!.output())?.[1];
        assert.equal(exported, server!.base, "the hint's first line gives the CLI this server's address");
        const { SESAME_PUBLIC_URL: _server, ...terminal } = env;
        const cli = { ...terminal, SESAME_PUBLIC_URL: exported };
        await runSesameCli(cli, ['org', 'add', 'example.org', '--name', 'Example']);
        const added = await runSesameCli(
          cli,
          ['user', 'add', 'admin@example.org', '--name', 'Admin', '--admin'],
          undefined,
          { stdoutOnly: true },
        );
        const link = /(http:\/\/\S+\/set-password\?token=\S+)/.exec(added)?.[1];
        assert.ok(link, added);
        const b = new FetchBrowser(server!.base);
        const path = link.slice(server!.base.length);
        const password = 'sunlit-quarry-marble-58';
        const set = await b.submit(path, '/set-password', {
          token: new URL(link).searchParams.get('token')!,
          password,
          confirm: password,
        });
        assert.equal(set.headers.get('location'), '/signin?m=password');
        // Admins are protected by default: MFA enforced from creation, so the main password alone
        // opens no mail protocol, before the first sign-in and after.
        const basic = async () =>
          (
            await fetch(`${server!.base}/auth/basic`, {
              headers: { authorization: `Basic ${Buffer.from(`admin@example.org:${password}`).toString('base64')}` },
            })
          ).status;
        assert.equal(await basic(), 401, 'the main password is refused on /auth/basic before the first sign-in');
        const done = await signInAdminWithMfa(b, { address: 'admin@example.org', password }, { next: '/admin/users' });
        assert.equal(done.location, '/admin/users');
        const console = await b.get('/admin/users');
        assert.equal(console.status, 200);
        assert.match(console.body, /admin@example\.org/);
        // In the admin's own row (the state as text, not a select whose options name every state).
        assert.match(
          console.body,
          /<td[^>]*>admin@example\.org<\/td><td[^>]*>Administrator<\/td><td[^>]*>Active<\/td>\s*<td[^>]*class="mfa">Enforced<\/td>/,
          'the new admin is shown as enforced',
        );
        const own = await b.get('/admin/users/user?address=admin%40example.org');
        assert.match(own.body, /<span id="user-mfa">Enforced<\/span>/, "and on the admin's own page");
        // The operator still manages the admin from the CLI, with no session at all; whatever state
        // an admin is put in, their main password stays refused on mail protocols.
        assert.match(await runSesameCli(env, ['user', 'mfa', 'admin@example.org', 'disabled']), /disabled/);
        assert.equal(await basic(), 401, 'an admin main password never works on a mail protocol');
      });
    });
}

describe('the admin helpers across worlds: an admin registered in an earlier store is not taken as registered in a fresh one', () => {
  it('registers the admin again on a fresh store, then signs in with what was registered there', async () => {
    const w1 = await makeWorld('sqlite');
    try {
      await adminApiToken(w1.app, ADMIN);
      await adminApiToken(w1.app, ADMIN);
    } finally {
      await w1.close();
    }
    const w2 = await makeWorld('sqlite');
    try {
      const token = await adminApiToken(w2.app, ADMIN);
      assert.equal(
        (await w2.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(token) })).statusCode,
        200,
      );
      const again = await adminApiToken(w2.app, ADMIN);
      assert.equal(
        (await w2.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(again) })).statusCode,
        200,
      );
      const b = new Browser(w2.app);
      const done = await signInAdminWithMfa(b, ADMIN, { next: '/admin/users' });
      assert.equal(done.location, '/admin/users');
    } finally {
      await w2.close();
    }
  });
});
