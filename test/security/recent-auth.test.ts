/**
 * Recent authentication ("sudo mode", issue 14 item 3; docs/security.md "Recent authentication"),
 * tried as whoever stole a session, on SQLite and on PostgreSQL, through the pages and the JSON API.
 * With only a session cookie and an API bearer token, nothing about how the account signs in can be
 * changed: no method added (email or authenticator app), none removed or made default, no new
 * recovery codes, no app password, no new password. A user without a method unlocks that by
 * re-entering the password; one with a method only by proving it (a step-up). Either proof lasts
 * the window (10 minutes by default), on the test's clock, and gives the session a new token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { confirmPassword, reauthApi, stepUp } from '../support/recent-auth.js';
import { STORE_KINDS } from '../support/stores.js';
import {
  Browser,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  recoveryCodesFrom,
  registerTotpAtSignIn,
  secretFrom,
  type World,
} from '../support/world.js';

const WINDOW_MS = 10 * 60_000;
const SESSION = 'sesame_session';
const SI_FLOW = 'sesame_flow_si';

interface Person {
  id: string;
  address: string;
  password: string;
}

/** A create form's one-time nonce, well formed: anyone can make one, so it proves nothing by itself. */
const nonce = () => randomBytes(18).toString('base64url');

for (const kind of STORE_KINDS) {
  describe(`recent authentication on ${kind}`, () => {
    let w: World;
    const clock = new FakeClock(Date.UTC(2026, 11, 6, 9, 0, 0));
    let n = 0;
    /** A fresh TOTP code: each in a time step of its own, so none is refused as a replay. */
    const code = (secret: string) => {
      clock.advance(30_000);
      return oathtoolTotp(secret, clock.now());
    };

    before(async () => {
      w = await makeWorld(kind, {}, { clock });
    });
    after(async () => w.close());

    async function person(): Promise<Person> {
      const i = ++n;
      const p = { address: `r${i}@contoso.test`, password: `harbour-lantern-${i}-quartz-58` };
      const u = await w.ctx.accounts.addUser(OPERATOR, p);
      return { ...p, id: u.id };
    }

    /** A browser signed in with the password alone (a user without a method). */
    async function signedIn(p: Person): Promise<Browser> {
      const b = new Browser(w.app);
      assert.equal((await b.signIn(p.address, p.password)).headers.location, '/account');
      return b;
    }

    async function apiToken(p: Person, secret?: string): Promise<string> {
      const start = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: p.address, password: p.password },
      });
      if (!secret) {
        assert.equal(start.statusCode, 201);
        return start.json().token as string;
      }
      const done = await w.app.inject({
        method: 'POST',
        url: '/api/v1/flow/verify',
        headers: { 'x-sesame-flow': start.json().token as string },
        payload: { code: code(secret) },
      });
      assert.equal(done.statusCode, 201);
      return done.json().token as string;
    }

    const api = (token: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
      w.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, payload });

    const count = async (table: 'mfa_methods' | 'recovery_codes' | 'app_passwords', userId: string) =>
      Number(
        (
          await w.ctx.store.db
            .selectFrom(table)
            .select((e) => e.fn.countAll().as('n'))
            .where('user_id', '=', userId)
            .executeTakeFirstOrThrow()
        ).n,
      );

    /** Whether `password` still signs `p` in (a browser of its own). */
    const passwordWorks = async (p: Person, password: string) =>
      (await new Browser(w.app).signIn(p.address, password)).headers.location === '/account';

    /** Adds an authenticator app through Security info's add flow in `b`; returns its secret. */
    async function addTotp(b: Browser): Promise<string> {
      const add = await b.submit('/security-info', '/security-info/add', {});
      assert.equal(add.headers.location, '/security-info/flow', `the add flow starts (${add.statusCode})`);
      await b.submit('/security-info/flow', '/security-info/flow/method', { kind: 'totp' });
      const secret = secretFrom((await b.get('/security-info/flow')).body);
      await b.submit('/security-info/flow', '/security-info/flow/verify', { code: code(secret) });
      assert.equal((await b.submit('/security-info/flow', '/security-info/flow/next', {})).statusCode, 303);
      return secret;
    }

    it('a user without a method: a stolen session cookie and API token alone add no method, no codes, no app password, no new password', async () => {
      const p = await person();
      const b = await signedIn(p);
      const token = await apiToken(p);

      // Adding an alternate email or an authenticator app: both start with the add flow, refused.
      const add = await b.submit('/security-info', '/security-info/add', {});
      assert.equal(add.statusCode, 403);
      assert.match(add.body, /Enter your password again first/);
      assert.equal(b.cookies.has(SI_FLOW), false, 'no add flow was started');
      for (const method of [{ kind: 'email', email: 'thief@evil.example' }, { kind: 'totp' }] as Record<
        string,
        string
      >[])
        assert.equal((await b.submit('/security-info', '/security-info/flow/method', method)).statusCode, 400);
      assert.equal(
        (await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() })).statusCode,
        403,
      );
      assert.equal(
        (await b.submit('/security-info', '/security-info/app-passwords', { name: 'Thief', nonce: nonce() }))
          .statusCode,
        403,
      );
      // The password: the form's current password is the re-authentication, which the thief lacks.
      const newPassword = 'stolen-session-new-pass-91';
      const pw = await b.submit('/account/password', '/account/password', {
        current: 'a-guess-of-theirs',
        password: newPassword,
        confirm: newPassword,
      });
      assert.equal(pw.statusCode, 400);

      // The JSON API with the bearer token alone.
      assert.equal((await api(token, 'POST', '/me/app-passwords', { name: 'Thief' })).statusCode, 403);
      assert.equal(
        (await api(token, 'PUT', '/me/password', { current: 'a-guess-of-theirs', password: newPassword })).statusCode,
        400,
      );
      const state = await api(token, 'GET', '/me/reauth');
      assert.deepEqual(state.json(), { proof: 'password', recentAuthUntil: null });

      assert.equal(await count('mfa_methods', p.id), 0);
      assert.equal(await count('recovery_codes', p.id), 0);
      assert.equal(await count('app_passwords', p.id), 0);
      assert.equal(await passwordWorks(p, p.password), true, 'the password is unchanged');
      assert.equal(await passwordWorks(p, newPassword), false);
    });

    it('a user without a method: after the password is re-entered the session may, under a new token; with a method, the password no longer does', async () => {
      const p = await person();
      const b = await signedIn(p);
      const before = b.cookies.get(SESSION)!;
      const confirmed = await confirmPassword(b, p.password);
      assert.equal(confirmed.headers.location, '/security-info?m=confirmed');
      assert.notEqual(b.cookies.get(SESSION), before, 'the session has a new token');
      const stale = new Browser(w.app);
      stale.cookies.set(SESSION, before);
      assert.equal(
        (await stale.get('/account')).statusCode,
        303,
        'the old token is dead: a stolen copy shares nothing',
      );

      const rc = await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() });
      assert.equal(rc.statusCode, 303);
      assert.equal(recoveryCodesFrom((await b.get(String(rc.headers.location))).body).length, 10);
      await addTotp(b);
      assert.equal(await count('mfa_methods', p.id), 1);
      // Now the user has a method: the password re-entered before does not stand in for it.
      assert.equal(
        (await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() })).statusCode,
        403,
      );
      const again = await b.submit('/security-info', '/security-info/reauth', { password: p.password });
      assert.equal(again.headers.location, '/security-info', 'no password page for a user with a method');
      assert.equal((await b.submit('/security-info', '/security-info/add', {})).statusCode, 403);
    });

    it('a user without a method: the proof lasts the window, then the session alone is refused again', async () => {
      const p = await person();
      const b = await signedIn(p);
      await confirmPassword(b, p.password);
      clock.advance(WINDOW_MS - 60_000);
      assert.equal(
        (await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() })).statusCode,
        303,
      );
      clock.advance(61_000);
      assert.equal(
        (await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() })).statusCode,
        403,
      );
      assert.equal((await b.submit('/security-info', '/security-info/add', {})).statusCode, 403);
      await confirmPassword(b, p.password);
      assert.equal(
        (await b.submit('/security-info', '/security-info/add', {})).headers.location,
        '/security-info/flow',
      );
    });

    it('the API: POST /me/reauth checks the password as a sign-in does, returns a new token and the window; the old token ends', async () => {
      const p = await person();
      const token = await apiToken(p);
      const wrong = await reauthApi(w.app, token, 'not-the-password');
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.error?.code, 'current_password_wrong');
      const log = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['protocol', 'reason'])
        .where('user_id', '=', p.id)
        .execute();
      assert.ok(
        log.some((e) => e.protocol === 'api:reauth' && e.reason === 'wrong_password'),
        'in the sign-in log',
      );
      const ok = await reauthApi(w.app, token, p.password);
      assert.equal(ok.status, 200);
      assert.equal(ok.body.recentAuthUntil, new Date(clock.now() + WINDOW_MS).toISOString());
      assert.equal((await api(token, 'GET', '/me')).statusCode, 401, 'the old token is dead');
      const fresh = ok.body.token!;
      assert.deepEqual((await api(fresh, 'GET', '/me/reauth')).json(), {
        proof: 'password',
        recentAuthUntil: ok.body.recentAuthUntil,
      });
      clock.advance(WINDOW_MS + 1000);
      assert.deepEqual((await api(fresh, 'GET', '/me/reauth')).json(), { proof: 'password', recentAuthUntil: null });
    });

    it('"Confirm your password" is CSRF-checked and throttled as a sign-in: wrong passwords count toward the lockout', async () => {
      const p = await person();
      const b = await signedIn(p);
      const page = await b.get('/security-info/reauth');
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /Confirm your password/);
      const csrfless = await b.post('/security-info/reauth', { password: p.password });
      assert.equal(csrfless.statusCode, 403);
      assert.equal((await b.submit('/security-info', '/security-info/add', {})).statusCode, 403, 'nothing confirmed');
      for (let i = 0; i < w.ctx.config.accountFailureLimit; i++) {
        const r = await b.submit('/security-info/reauth', '/security-info/reauth', { password: `wrong-${i}` });
        assert.equal(r.statusCode, 400, `attempt ${i + 1}`);
      }
      const locked = await b.submit('/security-info/reauth', '/security-info/reauth', { password: p.password });
      assert.equal(locked.statusCode, 429, 'locked: even the right password is refused for now');
      assert.equal(await passwordWorks(p, p.password), false, 'the same lock as sign-in');
      assert.equal((await b.submit('/security-info', '/security-info/add', {})).statusCode, 403);
    });

    it('a user with a method: a session past the window changes nothing, the password alone does not help; a step-up does, for the window', async () => {
      const p = await person();
      await w.ctx.mfaAdmin.setUserState(OPERATOR, p.address, 'enabled');
      const b = new Browser(w.app);
      const { secret } = await registerTotpAtSignIn(b, clock, p.address, p.password);
      const token = await apiToken(p, secret);
      const methodId = (
        await w.ctx.store.db
          .selectFrom('mfa_methods')
          .select('id')
          .where('user_id', '=', p.id)
          .executeTakeFirstOrThrow()
      ).id;
      const aps = await count('app_passwords', p.id);
      clock.advance(WINDOW_MS + 1000);

      const newPassword = 'stepped-up-new-pass-7731';
      const refused = async () => {
        assert.equal((await b.submit('/security-info', '/security-info/add', {})).statusCode, 403);
        assert.equal(b.cookies.has(SI_FLOW), false);
        assert.equal(
          (await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() })).statusCode,
          403,
        );
        assert.equal(
          (await b.submit('/security-info', '/security-info/app-passwords', { name: 'Thief', nonce: nonce() }))
            .statusCode,
          403,
        );
        assert.equal(
          (await b.submit('/security-info', '/security-info/default', { method: methodId })).statusCode,
          403,
        );
        assert.equal((await b.submit('/security-info', '/security-info/delete', { method: methodId })).statusCode, 403);
        // Even with the current password, the password page asks for the method first.
        const pwPage = await b.get('/account/password');
        assert.match(pwPage.body, /confirm it is you with it/);
        assert.equal(
          (
            await b.post('/account/password', {
              _csrf: /name="_csrf" value="([^"]+)"/.exec(pwPage.body)![1]!,
              current: p.password,
              password: newPassword,
              confirm: newPassword,
            })
          ).statusCode,
          403,
        );
        // The password re-entered is no proof for a user with a method, on either surface.
        assert.equal(
          (await b.submit('/security-info', '/security-info/reauth', { password: p.password })).headers.location,
          '/security-info',
        );
        assert.equal((await reauthApi(w.app, token, p.password)).body.error?.code, 'fresh_mfa_required');
        assert.equal((await api(token, 'POST', '/me/app-passwords', { name: 'Thief' })).statusCode, 403);
        assert.equal(
          (await api(token, 'PUT', '/me/password', { current: p.password, password: newPassword })).statusCode,
          403,
        );
        assert.equal(await count('mfa_methods', p.id), 1);
        assert.equal(await count('app_passwords', p.id), aps);
        assert.equal(await passwordWorks(p, newPassword), false);
      };
      await refused();

      // A step-up (the method proved again) allows it, and brings the user back where they were.
      assert.equal((await stepUp(b, () => code(secret), '/account/password')).headers.location, '/account/password');
      const made = await b.submitForm('/security-info', '/security-info/app-passwords', { name: 'Laptop' });
      assert.equal(made.statusCode, 303, 'made, and shown once by the page it redirects to');
      assert.equal(
        (await b.submit('/security-info', '/security-info/add', {})).headers.location,
        '/security-info/flow',
      );
      const pw = await b.submit('/account/password', '/account/password', {
        current: p.password,
        password: newPassword,
        confirm: newPassword,
      });
      assert.equal(pw.statusCode, 303);
      p.password = newPassword;

      // The window passes: refused again.
      clock.advance(WINDOW_MS + 1000);
      b.cookies.delete(SI_FLOW);
      assert.equal((await b.submit('/security-info', '/security-info/add', {})).statusCode, 403);
      assert.equal(
        (await b.submit('/security-info', '/security-info/recovery-codes', { nonce: nonce() })).statusCode,
        403,
      );
      const api2 = await apiToken(p, secret);
      assert.equal((await api(api2, 'POST', '/me/app-passwords', { name: 'Fresh' })).statusCode, 201);
      clock.advance(WINDOW_MS + 1000);
      assert.equal((await api(api2, 'POST', '/me/app-passwords', { name: 'Stale' })).statusCode, 403);
    });
  });
}
