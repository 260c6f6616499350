/**
 * Destructive actions and creating forms (issue #14, item 5), through the real pages and the JSON
 * API, on SQLite and PostgreSQL:
 * - deleting an app password, all of them, a method (the user), turning a user's MFA off, "Require
 *   re-registration" and "Delete all existing app passwords" (the admin) ask first, on a page that
 *   names what stops working, in both languages; a POST without `confirm=1` changes nothing;
 * - the last method stays while the user's sign-ins need a second factor (MFA on, or an admin), so
 *   the password alone can never end in a new method; with MFA off it may go;
 * - turning MFA off mails the user, naming the app passwords that went (the API too, which acts
 *   at once);
 * - "Create app password" is post/redirect/get: the secret is shown once, to this session only,
 *   and the same form posted again (a reload, a double click, parallel posts) makes one app
 *   password and sends one mail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { lastEmailCode, parseMessage, startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import {
  ADMIN,
  Browser,
  FakeClock,
  formFields,
  hiddenFields,
  makeWorld,
  oathtoolTotp,
  recoveryCodesFrom,
  registerTotpAtSignIn,
  type World,
} from '../support/world.js';

interface Person {
  address: string;
  password: string;
  secret: string;
  /** Signed in, with a second factor proved just now. */
  b: Browser;
}

for (const kind of STORE_KINDS) {
  describe(`destructive actions and creating forms on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    const clock = new FakeClock(Date.UTC(2026, 11, 6, 9, 0, 0));
    let n = 0;

    /** A user with MFA on who registered an authenticator app at sign-in (and so got "Existing applications"). */
    async function person(): Promise<Person> {
      const i = ++n;
      const p = { address: `d${i}@contoso.test`, password: `copper-kettle-${i}-harbour-88` };
      await w.ctx.accounts.addUser(OPERATOR, p);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, p.address, 'enabled');
      const b = new Browser(w.app);
      const { secret, done } = await registerTotpAtSignIn(b, clock, p.address, p.password);
      assert.equal(done.headers.location, '/account');
      return { ...p, secret, b };
    }

    /** The same signed-in session, seen in Dutch. */
    const inDutch = (b: Browser) => {
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      nl.cookies = b.cookies;
      return nl;
    };

    const userId = async (address: string) =>
      (await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', address).executeTakeFirstOrThrow())
        .id;
    const appPasswords = async (address: string) =>
      (
        await w.ctx.store.db
          .selectFrom('app_passwords')
          .select('name')
          .where('user_id', '=', await userId(address))
          .execute()
      ).map((r) => r.name);
    const methods = async (address: string) =>
      (
        await w.ctx.store.db
          .selectFrom('mfa_methods')
          .select(['id', 'kind'])
          .where('user_id', '=', await userId(address))
          .execute()
      ).map((r) => r.id);
    const mfaState = async (address: string) =>
      (
        await w.ctx.store.db
          .selectFrom('users')
          .select('mfa_state')
          .where('address', '=', address)
          .executeTakeFirstOrThrow()
      ).mfa_state;
    const mailsTo = (to: string) =>
      smtp.received.filter((r) => r.to.includes(to)).map((r) => parseMessage(r.raw).body.replace(/\s+/g, ' '));

    const createForm = (b: Browser, name: string) =>
      b.submitForm('/security-info', '/security-info/app-passwords', { name });

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(
        kind,
        { smtpUrl: `smtp://127.0.0.1:${smtp.port}`, mailFrom: 'Sesame <sesame@contoso.test>' },
        { clock },
      );
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
    });

    it('asks before deleting an app password, all of them, or a method, naming what stops working (en and nl); without confirm nothing changes', async () => {
      const p = await person();
      assert.equal((await createForm(p.b, 'Thunderbird at home')).statusCode, 303);
      assert.deepEqual((await appPasswords(p.address)).sort(), ['Existing applications', 'Thunderbird at home']);
      const page = await p.b.get('/security-info');
      const id = /<td[^>]*class="ap-name">Thunderbird at home<\/td>[\s\S]*?name="id" value="([^"]+)"/.exec(
        page.body,
      )![1]!;

      // One app password: the first POST (from the list) only asks; so does any confirm other than 1.
      for (const extra of [{}, { confirm: 'yes' }, { confirm: '' }] as Record<string, string>[]) {
        const asked = await p.b.submit('/security-info', '/security-info/app-passwords/delete', { id, ...extra });
        assert.equal(asked.statusCode, 200);
        assert.match(asked.body, /Delete the app password &quot;Thunderbird at home&quot;\?/);
        assert.match(asked.body, /&quot;Thunderbird at home&quot;, last used: Never/);
        assert.match(asked.body, /stop working at once/);
        assert.match(asked.body, /<button type="submit" name="confirm" value="1"/);
        assert.equal((await appPasswords(p.address)).length, 2, 'nothing deleted without confirm=1');
      }
      const del = await p.b.submit('/security-info', '/security-info/app-passwords/delete', { id, confirm: '1' });
      assert.equal(del.headers.location, '/security-info?m=ap_deleted#app-passwords');
      assert.deepEqual(await appPasswords(p.address), ['Existing applications']);

      // Delete all, in Dutch: each one that goes is named.
      const nl = inDutch(p.b);
      const all = await nl.submit('/security-info', '/security-info/app-passwords/delete-all', {});
      assert.equal(all.statusCode, 200);
      assert.match(all.body, /Al uw app-wachtwoorden verwijderen\?/);
      assert.match(all.body, /&quot;Existing applications&quot;, laatst gebruikt: Nooit/);
      assert.equal((await appPasswords(p.address)).length, 1, 'nothing deleted without confirm=1');
      await nl.submit('/security-info', '/security-info/app-passwords/delete-all', { confirm: '1' });
      assert.deepEqual(await appPasswords(p.address), []);

      // A method (a second one, so that one is left): its name, what sign-ins lose, that it is the default.
      await p.b.submit('/security-info', '/security-info/add', {});
      const home = `d${n}@home.example`;
      await p.b.submit('/security-info/flow', '/security-info/flow/method', { kind: 'email', email: home });
      await p.b.submit('/security-info/flow', '/security-info/flow/verify', {
        code: lastEmailCode(smtp.received, home),
      });
      await p.b.submit('/security-info/flow', '/security-info/flow/next', {});
      const [totp] = (
        await w.ctx.store.db
          .selectFrom('mfa_methods')
          .select('id')
          .where('user_id', '=', await userId(p.address))
          .where('kind', '=', 'totp')
          .execute()
      ).map((r) => r.id);
      assert.equal((await methods(p.address)).length, 2);
      const asked = await p.b.submit('/security-info', '/security-info/delete', { method: totp! });
      assert.equal(asked.statusCode, 200);
      assert.match(asked.body, /Delete this sign-in method\?/);
      // The kind alone: the stored label of an authenticator app is only its English name.
      assert.match(asked.body, /<li>Authenticator app<\/li>/);
      assert.match(asked.body, /you will be asked for one of your other methods instead/);
      assert.match(asked.body, /It is your default method/);
      const gevraagd = await nl.submit('/security-info', '/security-info/delete', { method: totp! });
      assert.match(gevraagd.body, /Deze aanmeldmethode verwijderen\?/);
      assert.match(gevraagd.body, /<li>Verificatie-app<\/li>/);
      assert.doesNotMatch(gevraagd.body, /Authenticator app/, 'no English in the Dutch page');
      assert.equal((await methods(p.address)).length, 2, 'nothing deleted without confirm=1');
      const gone = await p.b.submit('/security-info', '/security-info/delete', { method: totp!, confirm: '1' });
      assert.equal(gone.headers.location, '/security-info?m=removed');
      assert.equal((await methods(p.address)).length, 1);
    });

    it('keeps the last method while sign-ins need a second factor (MFA on, or an admin), saying why in both languages; the next sign-in still asks for it', async () => {
      const p = await person();
      assert.equal(await mfaState(p.address), 'enforced');
      const [only] = await methods(p.address);
      for (const form of [{ method: only! }, { method: only!, confirm: '1' }] as Record<string, string>[]) {
        const refused = await p.b.submit('/security-info', '/security-info/delete', form);
        assert.equal(refused.statusCode, 409);
        assert.match(refused.body, /can&#39;t delete your only sign-in method|can't delete your only sign-in method/);
        const geweigerd = await inDutch(p.b).submit('/security-info', '/security-info/delete', form);
        assert.equal(geweigerd.statusCode, 409);
        assert.match(geweigerd.body, /U kunt uw enige aanmeldmethode niet verwijderen/);
      }
      assert.deepEqual(await methods(p.address), [only], 'the method stays');
      // The password alone still reaches only the second step, never a registration of a new method.
      const next = new Browser(w.app);
      assert.equal((await next.signIn(p.address, p.password)).headers.location, '/signin/mfa');
      const step = await next.get('/signin/mfa');
      assert.doesNotMatch(step.body, /More information required/);
      assert.match(step.body, /name="code"/);

      // An admin's sign-ins always need a second factor, whatever their own MFA state.
      const admin = new Browser(w.app);
      await signInAdminWithMfa(admin, ADMIN, { clock });
      const [adminMethod] = await methods(ADMIN.address);
      const kept = await admin.submit('/security-info', '/security-info/delete', {
        method: adminMethod!,
        confirm: '1',
      });
      assert.equal(kept.statusCode, 409);
      assert.equal((await methods(ADMIN.address)).length, 1);
    });

    it('lets the last method go once MFA is off (saying so first); when MFA is turned on again the next sign-in is a registration', async () => {
      const p = await person();
      await w.ctx.mfaAdmin.setUserState(OPERATOR, p.address, 'disabled');
      const [only] = await methods(p.address);
      const asked = await p.b.submit('/security-info', '/security-info/delete', { method: only! });
      assert.equal(asked.statusCode, 200);
      assert.match(asked.body, /It is your last method/);
      assert.deepEqual(await methods(p.address), [only]);
      const gone = await p.b.submit('/security-info', '/security-info/delete', { method: only!, confirm: '1' });
      assert.equal(gone.headers.location, '/security-info?m=removed');
      assert.deepEqual(await methods(p.address), []);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, p.address, 'enabled');
      const next = new Browser(w.app);
      assert.equal((await next.signIn(p.address, p.password)).headers.location, '/signin/mfa');
      assert.match((await next.get('/signin/mfa')).body, /More information required/);
    });

    it('turning MFA off asks the admin first, with the app passwords that go, and mails the user naming them; a POST without confirm changes nothing', async () => {
      const p = await person();
      await createForm(p.b, 'iPhone mail');
      const admin = new Browser(w.app);
      await signInAdminWithMfa(admin, ADMIN, { clock });
      const form = { address: p.address, state: 'disabled' };
      const asked = await admin.submit('/admin/users', '/admin/users/mfa', form);
      assert.equal(asked.statusCode, 200);
      assert.match(asked.body, new RegExp(`Turn MFA off for ${p.address}\\?`));
      assert.match(asked.body, /will sign in with their password alone/);
      assert.match(asked.body, /Their 2 app passwords are deleted/);
      assert.match(asked.body, /App password &quot;Existing applications&quot;, last used: Never/);
      assert.match(asked.body, /App password &quot;iPhone mail&quot;, last used: Never/);
      assert.match(asked.body, /is told by email/);
      const gevraagd = await inDutch(admin).submit('/admin/users', '/admin/users/mfa', form);
      assert.equal(gevraagd.statusCode, 200, `${gevraagd.statusCode} ${String(gevraagd.headers.location)}`);
      assert.match(gevraagd.body, new RegExp(`MFA uitschakelen voor ${p.address}\\?`));
      assert.match(gevraagd.body, /De 2 app-wachtwoorden worden verwijderd/);
      assert.equal(await mfaState(p.address), 'enforced', 'nothing changed without confirm=1');
      assert.equal((await appPasswords(p.address)).length, 2);
      assert.ok(!mailsTo(p.address).some((m) => /turned off multi-factor/.test(m)));

      const done = await admin.submit('/admin/users', '/admin/users/mfa', { ...form, confirm: '1' });
      assert.equal(done.statusCode, 303);
      assert.equal(await mfaState(p.address), 'disabled');
      assert.deepEqual(await appPasswords(p.address), []);
      const mail = mailsTo(p.address).find((m) => /turned off multi-factor authentication/.test(m));
      assert.ok(mail, 'the user is told');
      assert.match(mail, /Your 2 app passwords were deleted/);
      assert.match(mail, /"Existing applications"/);
      assert.match(mail, /"iPhone mail"/);

      // Other states act at once: turning it on takes nothing away.
      const on = await admin.submit('/admin/users', '/admin/users/mfa', { address: p.address, state: 'enforced' });
      assert.equal(on.statusCode, 303);
      assert.equal(await mfaState(p.address), 'enforced');
    });

    it('the bulk preview of turning MFA off says how many app passwords each user loses and changes nothing; Apply mails each user their names', async () => {
      const p = await person();
      await createForm(p.b, 'Calendar');
      const admin = new Browser(w.app);
      await signInAdminWithMfa(admin, ADMIN, { clock });
      const preview = await admin.submit('/admin/users', '/admin/users/bulk/preview', {
        op: 'mfa:disabled',
        address: p.address,
      });
      assert.equal(preview.statusCode, 200);
      assert.match(preview.body, /Disabled; their 2 app passwords are deleted/);
      const nl = await inDutch(admin).submit('/admin/users', '/admin/users/bulk/preview', {
        op: 'mfa:disabled',
        address: p.address,
      });
      assert.match(nl.body, /Uitgeschakeld; de 2 app-wachtwoorden worden verwijderd/);
      assert.equal(await mfaState(p.address), 'enforced');
      assert.equal((await appPasswords(p.address)).length, 2);

      // Apply, in Dutch: the user is told which app passwords went, as for a single change.
      const mailsBefore = mailsTo(p.address).length;
      const fields = Object.fromEntries(
        Object.entries(hiddenFields(nl.body, '/admin/users/bulk/apply')).map(([k, v]) => [
          k,
          v
            .replace(/&quot;/g, '"')
            .replace(/&#39;/g, "'")
            .replace(/&amp;/g, '&'),
        ]),
      );
      const done = await inDutch(admin).post('/admin/users/bulk/apply', fields);
      assert.equal(done.statusCode, 200, done.body.slice(0, 300));
      assert.equal(await mfaState(p.address), 'disabled');
      assert.deepEqual(await appPasswords(p.address), []);
      const told = mailsTo(p.address).slice(mailsBefore);
      assert.equal(told.length, 1, 'one notice');
      assert.match(told[0]!, /meervoudige verificatie voor uw account uitgeschakeld/);
      assert.match(told[0]!, /"Calendar"/);
    });

    it('the JSON API turns MFA off at once (programs ask no confirmation) and the user is mailed, in the caller’s language', async () => {
      const p = await person();
      const token = await adminApiToken(w.app, ADMIN, { clock });
      const r = await w.app.inject({
        method: 'PUT',
        url: `/api/v1/users/${encodeURIComponent(p.address)}/mfa`,
        headers: { authorization: `Bearer ${token}`, 'accept-language': 'nl' },
        payload: { state: 'disabled' },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(await appPasswords(p.address), []);
      const mail = mailsTo(p.address).find((m) => /meervoudige verificatie voor uw account uitgeschakeld/.test(m));
      assert.ok(mail, 'the user is told, in Dutch');
      assert.match(mail, /"Existing applications"/);
      // Already off: no second mail.
      const before = mailsTo(p.address).length;
      await w.app.inject({
        method: 'PUT',
        url: `/api/v1/users/${encodeURIComponent(p.address)}/mfa`,
        headers: { authorization: `Bearer ${token}` },
        payload: { state: 'disabled' },
      });
      assert.equal(mailsTo(p.address).length, before);
    });

    it('Require re-registration and Delete all existing app passwords name what they clear; a POST without confirm changes nothing', async () => {
      const p = await person();
      const admin = new Browser(w.app);
      await signInAdminWithMfa(admin, ADMIN, { clock });
      const asked = await admin.submit('/admin/users', '/admin/users/reregister', { address: p.address });
      assert.equal(asked.statusCode, 200);
      assert.match(asked.body, new RegExp(`Require re-registration of ${p.address}\\?`));
      assert.match(asked.body, /The sign-in method Authenticator app is deleted\./);
      assert.match(asked.body, /Their 10 unused recovery codes/);
      assert.match(asked.body, /All their sessions end/);
      assert.match(
        (await inDutch(admin).submit('/admin/users', '/admin/users/reregister', { address: p.address })).body,
        /Opnieuw registreren vereisen voor/,
      );
      assert.equal((await methods(p.address)).length, 1, 'nothing changed without confirm=1');
      assert.equal((await p.b.get('/account')).statusCode, 200, 'the user is still signed in');

      const apPage = `/admin/users/user?address=${encodeURIComponent(p.address)}`;
      const revoke = await admin.submit(apPage, '/admin/users/app-passwords/revoke-all', { address: p.address });
      assert.equal(revoke.statusCode, 200);
      assert.match(revoke.body, new RegExp(`Delete all app passwords of ${p.address}\\?`));
      assert.match(revoke.body, /&quot;Existing applications&quot;, last used: Never/);
      assert.match(
        (await inDutch(admin).submit(apPage, '/admin/users/app-passwords/revoke-all', { address: p.address })).body,
        /Alle app-wachtwoorden van .* verwijderen\?/,
      );
      assert.equal((await appPasswords(p.address)).length, 1, 'nothing deleted without confirm=1');

      const revoked = await admin.submit(apPage, '/admin/users/app-passwords/revoke-all', {
        address: p.address,
        confirm: '1',
      });
      assert.equal(revoked.statusCode, 303);
      assert.deepEqual(await appPasswords(p.address), []);
      const rr = await admin.submit('/admin/users', '/admin/users/reregister', { address: p.address, confirm: '1' });
      assert.equal(rr.statusCode, 303);
      assert.deepEqual(await methods(p.address), []);
      assert.equal(await mfaState(p.address), 'enabled');
    });

    it('new recovery codes: the same form posted again, or in parallel, makes one set and sends one mail; the codes are shown once', async () => {
      const p = await person();
      const renewals = async () =>
        (
          await w.ctx.store.db
            .selectFrom('audit_events')
            .select('id')
            .where('action', '=', 'mfa.recovery_codes_renewed')
            .where('target_user_id', '=', await userId(p.address))
            .execute()
        ).length;
      const before = await renewals();
      const mailsBefore = mailsTo(p.address).length;
      const page = await p.b.get('/security-info');
      const fields = hiddenFields(page.body, '/security-info/recovery-codes');
      assert.ok(fields.nonce, 'the form carries its one-time nonce');
      const [first, second] = await Promise.all([
        p.b.post('/security-info/recovery-codes', fields),
        p.b.post('/security-info/recovery-codes', fields),
      ]);
      assert.deepEqual([first.statusCode, second.statusCode], [303, 303]);
      const reload = await p.b.post('/security-info/recovery-codes', fields);
      assert.equal(reload.headers.location, '/security-info/recovery-codes/new');
      assert.equal(await renewals(), before + 1, 'one set for one form');
      assert.equal(mailsTo(p.address).length, mailsBefore + 1, 'one mail');
      // A new form (a new nonce) makes a new set, shown once by the page it redirects to.
      const next = await p.b.submitForm('/security-info', '/security-info/recovery-codes', {});
      assert.equal(next.statusCode, 303);
      assert.equal(recoveryCodesFrom((await p.b.get('/security-info/recovery-codes/new')).body).length, 10);
      assert.equal(recoveryCodesFrom((await p.b.get('/security-info/recovery-codes/new')).body).length, 0);
      assert.equal(await renewals(), before + 2);
    });

    it('creating an app password: the same form posted again, or in parallel, makes one and sends one mail; the secret is shown once, to this session only', async () => {
      const p = await person();
      const made = () => mailsTo(p.address).filter((m) => /app password named "Mail on the tablet"/.test(m)).length;
      const page = await p.b.get('/security-info');
      const fields: Record<string, string | string[]> = {
        ...formFields(page.body, '/security-info/app-passwords'),
        name: 'Mail on the tablet',
      };
      assert.match(String(fields.nonce ?? ''), /^[A-Za-z0-9_-]{22,64}$/, 'the form carries a one-time nonce');

      const first = await p.b.post('/security-info/app-passwords', fields);
      assert.equal(first.statusCode, 303);
      const reload = await p.b.post('/security-info/app-passwords', fields);
      assert.equal(reload.statusCode, 303);
      assert.equal(reload.headers.location, first.headers.location, 'the repeat leads to the same app password');
      assert.deepEqual((await appPasswords(p.address)).sort(), ['Existing applications', 'Mail on the tablet']);
      assert.equal(made(), 1, 'one mail');

      // Shown once, from the first post, and not again.
      const shown = await p.b.get(String(first.headers.location));
      const secret = /<code id="app-password" class="secret">([a-z ]+)<\/code>/.exec(shown.body)?.[1];
      assert.ok(secret, 'the page after the redirect shows it');
      const again = await p.b.get(String(first.headers.location));
      assert.ok(!again.body.includes(secret));
      assert.match(again.body, /was shown once and cannot be shown again/);

      // A double click: parallel posts of one form.
      const page2 = await p.b.get('/security-info');
      const fields2 = { ...formFields(page2.body, '/security-info/app-passwords'), name: 'Printer' };
      const answers = await Promise.all([1, 2, 3].map(() => p.b.post('/security-info/app-passwords', fields2)));
      assert.deepEqual(
        answers.map((a) => a.statusCode),
        [303, 303, 303],
      );
      assert.equal(new Set(answers.map((a) => a.headers.location)).size, 1);
      assert.equal((await appPasswords(p.address)).filter((x) => x === 'Printer').length, 1);
      assert.equal(mailsTo(p.address).filter((m) => /app password named "Printer"/.test(m)).length, 1);

      // The sealed secret opens in this session only, and holds no readable secret.
      const third = await createForm(p.b, 'Laptop');
      const sealed = p.b.cookies.get('sesame_shown');
      assert.ok(sealed, 'kept in a cookie until shown');
      const other = new Browser(w.app);
      clock.advance(30_000);
      await other.signIn(p.address, p.password);
      await other.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(p.secret, clock.now()) });
      other.cookies.set('sesame_shown', sealed);
      const elsewhere = await other.get(String(third.headers.location));
      assert.equal(elsewhere.statusCode, 200);
      assert.doesNotMatch(elsewhere.body, /class="secret"/, 'another session cannot open it');
      assert.match(elsewhere.body, /was shown once and cannot be shown again/);
      const here = await p.b.get(String(third.headers.location));
      const laptop = /<code id="app-password" class="secret">([a-z ]+)<\/code>/.exec(here.body)?.[1];
      assert.ok(laptop, 'the session that made it sees it');
      assert.ok(!decodeURIComponent(sealed).includes(laptop.replace(/ /g, '')), 'the cookie holds no readable secret');
    });
  });
}
