/**
 * Self-service through the pages and the JSON API, on SQLite and on PostgreSQL, with real
 * counterparts: a real SMTP server receives the reset links, codes and notices; oathtool computes
 * TOTP codes; a real HTTP listener stands in for Dovecot's doveadm API. Covers "Forgot your
 * password?" (link by mail, second factor still asked, single use, 30 minutes, no enumeration,
 * throttled, works while locked out), admins' reset links, Change password, My sessions, My sign-ins
 * with "This wasn't me", and CSRF on every new form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { RESET_LIMITS } from '../../src/domain/self-service/password-reset.js';
import { REPORTS_PER_DAY } from '../../src/domain/self-service/self-service.js';
import { lastEmailCode, parseMessage, startSmtp, startWebhook } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import {
  ADMIN,
  Browser,
  csrfFrom,
  FakeClock,
  makeWorld,
  OTHER_ADMIN,
  oathtoolTotp,
  registerThroughPages,
  registerTotpAtSignIn,
  USER,
  type World,
} from '../support/world.js';

const BOB_HOME = 'bob.home@example.org';
const CAROL = { address: 'carol@contoso.test', password: 'granite-orchid-sail-31', home: 'carol.home@example.org' };
const NEW_PASSWORD = 'lantern-harbour-violet-88';

for (const kind of STORE_KINDS) {
  describe(`self-service on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let doveadm: Awaited<ReturnType<typeof startWebhook>>;
    let texts: Awaited<ReturnType<typeof startWebhook>>;
    const clock = new FakeClock(Date.UTC(2026, 10, 27, 9, 0, 0));
    let bobSecret = '';
    let adminSecret = '';
    let carolCodes: string[] = [];
    let ipCounter = 10;
    /** A browser of its own, from a client IP of its own (the world trusts loopback's X-Forwarded-For). */
    const browser = (lang = 'en') =>
      new Browser(w.app, { 'x-forwarded-for': `198.51.100.${ipCounter++}`, 'accept-language': lang });
    const user = async (address: string) => (await w.ctx.accounts.findUserByAddressOrNull(address)) as User;

    /** Signs in with password and a fresh TOTP code (each sign-in a new time step); returns where it landed. */
    async function signInTotp(
      b: Browser,
      address: string,
      password: string,
      secret: string,
    ): Promise<string | undefined> {
      const r = await b.signIn(address, password);
      if (r.headers.location !== '/signin/mfa') return String(r.headers.location ?? r.statusCode);
      clock.advance(30_000);
      const v = await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
      return v.headers.location as string | undefined;
    }

    /** Registers an authenticator app at sign-in (MFA enabled), through the pages; returns its secret and the recovery codes. */
    async function registerTotp(b: Browser, address: string, password: string) {
      await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
      const { secret, done } = await registerTotpAtSignIn(b, clock, address, password);
      assert.equal(done.headers.location, '/account');
      return secret;
    }

    /** Adds an email method under Security info (the session's second factor is fresh), confirmed by the code mailed there. */
    async function addEmailMethod(b: Browser, alternate: string) {
      assert.equal(
        (await b.submit('/security-info', '/security-info/add', {})).headers.location,
        '/security-info/flow',
      );
      await b.submit('/security-info/flow', '/security-info/flow/method', { kind: 'email', email: alternate });
      await b.submit('/security-info/flow', '/security-info/flow/verify', {
        code: lastEmailCode(smtp.received, alternate),
      });
      const next = await b.submit('/security-info/flow', '/security-info/flow/next', {});
      assert.equal(next.statusCode, 303);
    }

    /** The reset link (path and query) in the newest mail to `to`. */
    function resetLinkTo(to: string): string {
      const mail = [...smtp.received]
        .reverse()
        .find((r) => r.to.includes(to) && /reset-password\?token=/.test(parseMessage(r.raw).body));
      assert.ok(mail, `a reset link was mailed to ${to}`);
      const url = /(http:\/\/\S+\/reset-password\?token=\S+)/.exec(parseMessage(mail.raw).body)![1]!;
      const u = new URL(url);
      return u.pathname + u.search;
    }

    const mailsTo = (to: string) => smtp.received.filter((r) => r.to.includes(to)).length;
    /** The page without what differs on every answer (the CSRF token). */
    const stable = (body: string) => body.replace(/name="_csrf" value="[^"]+"/g, 'name="_csrf" value=""');

    async function requestReset(b: Browser, address: string) {
      const r = await b.submit('/forgot-password', '/forgot-password', { email: address });
      await w.ctx.passwordReset.idle();
      return r;
    }

    before(async () => {
      smtp = await startSmtp();
      doveadm = await startWebhook();
      texts = await startWebhook();
      w = await makeWorld(
        kind,
        {
          smtpUrl: `smtp://127.0.0.1:${smtp.port}`,
          mailFrom: 'Sesame <sesame@contoso.test>',
          trustedProxies: ['127.0.0.1'],
          doveadmUrl: doveadm.url,
          doveadmApiKey: 'doveadm-test-key',
          smsWebhookUrl: texts.url,
          smsWebhookSecret: 'a-webhook-secret-of-some-length',
        },
        { clock },
      );
      const b = browser();
      bobSecret = await registerTotp(b, USER.address, USER.password);
      await addEmailMethod(b, BOB_HOME);
      adminSecret = await registerTotp(browser(), ADMIN.address, ADMIN.password);
      // Carol's only method is email: a reset must then ask for a recovery code.
      await w.ctx.accounts.addUser(OPERATOR, {
        address: CAROL.address,
        password: CAROL.password,
        name: 'Carol Customer',
      });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, CAROL.address, 'enabled');
      carolCodes = (
        await registerThroughPages(browser(), CAROL.address, CAROL.password, { kind: 'email', email: CAROL.home }, () =>
          lastEmailCode(smtp.received, CAROL.home),
        )
      ).recoveryCodes;
      assert.equal(carolCodes.length, 10);
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
      await doveadm?.stop();
      await texts?.stop();
    });

    it('offers "Forgot your password?" on the sign-in page, in English and Dutch', async () => {
      assert.match(
        (await browser().get('/signin')).body,
        /<a href="\/forgot-password" id="forgot-password">Forgot your password\?<\/a>/,
      );
      assert.match((await browser('nl').get('/signin')).body, />Wachtwoord vergeten\?<\/a>/);
      const page = await browser('nl').get('/forgot-password');
      assert.match(page.body, /<h1>Uw wachtwoord opnieuw instellen<\/h1>/);
    });

    it('answers the same for a known and an unknown address (status and page), and mails a link only for the known one', async () => {
      const before = smtp.received.length;
      const known = await requestReset(browser(), USER.address);
      const unknown = await requestReset(browser(), 'nobody@contoso.test');
      const noRecovery = await requestReset(browser(), OTHER_ADMIN.address);
      assert.equal(known.statusCode, 200);
      assert.equal(unknown.statusCode, known.statusCode);
      assert.equal(noRecovery.statusCode, known.statusCode);
      assert.equal(stable(unknown.body), stable(known.body));
      assert.equal(stable(noRecovery.body), stable(known.body));
      assert.match(known.body, /a link is on its way there/);
      assert.ok(!known.body.includes(USER.address) && !known.body.includes(BOB_HOME), 'neither address is shown back');
      // The JSON API likewise.
      const api = async (email: string) =>
        w.app.inject({
          method: 'POST',
          url: '/api/v1/password-reset',
          headers: { 'x-forwarded-for': `198.51.100.${ipCounter++}` },
          payload: { email },
        });
      const [a, b] = [await api(USER.address), await api('nobody@contoso.test')];
      await w.ctx.passwordReset.idle();
      assert.equal(a.statusCode, 202);
      assert.equal(b.statusCode, 202);
      assert.equal(a.body, b.body);
      const sent = smtp.received.slice(before);
      assert.deepEqual(
        sent.map((m) => m.to.join()),
        [BOB_HOME, BOB_HOME],
        'two links, both to the verified alternate address; nothing for the others',
      );
      const mail = parseMessage(sent[0]!.raw);
      assert.match(mail.headers.get('subject') ?? '', /Reset your Sesame password/);
      assert.match(mail.body, /http:\/\/127\.0\.0\.1:8080\/reset-password\?token=[A-Za-z0-9_-]{43}\b/);
      // Stored as a keyed hash only.
      const link = resetLinkTo(BOB_HOME);
      const token = new URLSearchParams(link.split('?')[1]).get('token')!;
      const rows = await w.ctx.store.db
        .selectFrom('one_time_tokens')
        .selectAll()
        .where('purpose', '=', 'reset_password')
        .execute();
      assert.ok(rows.length >= 2);
      assert.ok(rows.every((r) => r.token_hash !== token && /^[0-9a-f]{64}$/.test(r.token_hash)));
      assert.ok(
        rows.every((r) => r.expires_at === clock.now() + 30 * 60_000),
        'valid 30 minutes',
      );
    });

    it('asks for the second factor (not an email code) before the new password, signs in, ends every other session, and works once', async () => {
      const elsewhere = browser();
      assert.equal(await signInTotp(elsewhere, USER.address, USER.password, bobSecret), '/account');
      const r = browser();
      await requestReset(r, USER.address);
      const link = resetLinkTo(BOB_HOME);
      const landing = await r.get(link);
      assert.equal(landing.statusCode, 200);
      assert.equal(landing.headers['referrer-policy'], 'no-referrer');
      assert.match(landing.body, /lets you choose a new password for bob@contoso\.test/);
      const opened = await r.post('/reset-password', {
        _csrf: csrfFrom(landing.body),
        token: new URLSearchParams(link.split('?')[1]).get('token')!,
      });
      assert.equal(opened.statusCode, 303);
      assert.equal(opened.headers.location, '/reset-password/flow');
      assert.ok(!r.cookies.has('sesame_session'), 'no session yet');

      const factor = await r.get('/reset-password/flow');
      assert.match(factor.body, /<h1>Verify your identity<\/h1>/);
      assert.match(factor.body, /Enter the code shown in your authenticator app\./);
      assert.ok(!/b•••@example\.org/.test(factor.body), 'the alternate mailbox is not offered as the second factor');
      const mailsBefore = mailsTo(BOB_HOME);
      const emailMethod = (
        await w.ctx.store.db
          .selectFrom('mfa_methods')
          .select('id')
          .where('kind', '=', 'email')
          .where('target', '=', BOB_HOME)
          .executeTakeFirstOrThrow()
      ).id;
      const sw = await r.submit('/reset-password/flow', '/reset-password/flow/switch', { method: emailMethod });
      assert.equal(sw.statusCode, 404, 'switching to the email method is refused');
      assert.equal(mailsTo(BOB_HOME), mailsBefore, 'and no code goes to the mailbox the link came through');

      const early = await r.submit('/reset-password/flow', '/reset-password/flow/password', {
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      assert.equal(early.statusCode, 409, 'no new password before the second factor');
      const wrong = await r.submit('/reset-password/flow', '/reset-password/flow/verify', { code: '000000' });
      assert.equal(wrong.statusCode, 400);
      clock.advance(30_000);
      const ok = await r.submit('/reset-password/flow', '/reset-password/flow/verify', {
        code: oathtoolTotp(bobSecret, clock.now()),
      });
      assert.equal(ok.headers.location, '/reset-password/flow');
      const form = await r.get('/reset-password/flow');
      assert.match(form.body, /<h1>Choose a new password<\/h1>/);
      assert.match(form.body, /Every session of your account .* will be signed out/);
      assert.match(form.body, /revokes app passwords when the password changes: your 1 app password will stop working/);

      const mismatch = await r.submit('/reset-password/flow', '/reset-password/flow/password', {
        password: NEW_PASSWORD,
        confirm: `${NEW_PASSWORD}x`,
      });
      assert.equal(mismatch.statusCode, 400);
      assert.match(mismatch.body, /The two new passwords are not the same/);
      const common = await r.submit('/reset-password/flow', '/reset-password/flow/password', {
        password: 'iloveyou',
        confirm: 'iloveyou',
      });
      assert.equal(common.statusCode, 400);
      assert.match(common.body, /too common/);
      const done = await r.submit('/reset-password/flow', '/reset-password/flow/password', {
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      assert.equal(done.statusCode, 303);
      assert.equal(done.headers.location, '/account');
      assert.equal((await r.get('/account')).statusCode, 200, 'signed in');
      const session = await w.ctx.store.db
        .selectFrom('sessions')
        .select(['amr', 'mfa_at'])
        .where('user_id', '=', (await user(USER.address)).id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(session.amr), ['pwd', 'otp']);
      assert.ok(session.mfa_at);
      assert.equal((await elsewhere.get('/account')).statusCode, 303, 'the other session ended');
      assert.equal(
        (await w.ctx.appPasswords.list(await user(USER.address))).length,
        0,
        'app passwords revoked (the default policy)',
      );
      assert.ok(
        (
          await w.ctx.store.db
            .selectFrom('mfa_methods')
            .select('id')
            .where('user_id', '=', (await user(USER.address)).id)
            .execute()
        ).length >= 2,
        'no method removed',
      );
      assert.ok(
        smtp.received.some(
          (m) =>
            m.to.includes(USER.address) &&
            /Your password was changed/.test(parseMessage(m.raw).headers.get('subject') ?? ''),
        ),
        'the user is told',
      );

      assert.equal(
        (await browser().signIn(USER.address, USER.password)).statusCode,
        401,
        'the old password no longer works',
      );
      assert.equal(
        (await browser().signIn(USER.address, NEW_PASSWORD)).headers.location,
        '/signin/mfa',
        'the new one does (then the second factor)',
      );

      const again = browser();
      const reuse = await again.get(link);
      assert.equal(reuse.statusCode, 400, 'the link works once');
      assert.match(reuse.body, /This link is not valid any more/);
      const replay = await again.post('/reset-password', {
        _csrf: csrfFrom(reuse.body),
        token: new URLSearchParams(link.split('?')[1]).get('token')!,
      });
      assert.equal(replay.statusCode, 400);
      assert.ok(!again.cookies.has('sesame_reset'));
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('action')
        .where('target_user_id', '=', (await user(USER.address)).id)
        .execute();
      assert.ok(audit.some((a) => a.action === 'user.password_reset_link'));
      assert.ok(audit.some((a) => a.action === 'user.password_reset'));
    });

    it('expires a link after 30 minutes (moved clock)', async () => {
      await requestReset(browser(), USER.address);
      const link = resetLinkTo(BOB_HOME);
      clock.advance(29 * 60_000);
      const r = browser();
      const ok = await r.get(link);
      assert.equal(ok.statusCode, 200, 'still good at 29 minutes');
      clock.advance(60_000 + 1);
      const late = await r.get(link);
      assert.equal(late.statusCode, 400);
      assert.match(late.body, /more than 30 minutes have passed/);
      const post = await r.post('/reset-password', {
        _csrf: csrfFrom(ok.body),
        token: new URLSearchParams(link.split('?')[1]).get('token')!,
      });
      assert.equal(post.statusCode, 400);
      assert.ok(!r.cookies.has('sesame_reset'));
    });

    it('works while the account is locked out, and lifts the lock; with only an email method it asks for a recovery code', async () => {
      for (let i = 0; i < 10; i++) await browser().signIn(CAROL.address, 'wrong-password-guess');
      assert.equal((await browser().signIn(CAROL.address, CAROL.password)).statusCode, 429, 'locked');
      await requestReset(browser(), CAROL.address);
      const link = resetLinkTo(CAROL.home);
      const r = browser();
      const landing = await r.get(link);
      const mailsBefore = mailsTo(CAROL.home);
      await r.post('/reset-password', {
        _csrf: csrfFrom(landing.body),
        token: new URLSearchParams(link.split('?')[1]).get('token')!,
      });
      const factor = await r.get('/reset-password/flow');
      assert.match(factor.body, /Enter one of your recovery codes\./);
      assert.equal(mailsTo(CAROL.home), mailsBefore, 'no email code: the mailbox alone is not enough');
      const ok = await r.submit('/reset-password/flow', '/reset-password/flow/verify', { code: carolCodes[0]! });
      assert.equal(ok.headers.location, '/reset-password/flow');
      const done = await r.submit('/reset-password/flow', '/reset-password/flow/password', {
        password: NEW_PASSWORD,
        confirm: NEW_PASSWORD,
      });
      assert.equal(done.headers.location, '/account');
      const fresh = await browser().signIn(CAROL.address, NEW_PASSWORD);
      assert.equal(fresh.headers.location, '/signin/mfa', 'the lock is lifted');
    });

    it('keeps the link good when the second factor cannot be sent (text gateway down), and texts the code once it can', async () => {
      const DAVE = {
        address: 'dave@contoso.test',
        password: 'pebble-garnet-willow-26',
        home: 'dave.home@example.org',
        phone: '+31612345678',
      };
      await w.ctx.accounts.addUser(OPERATOR, { address: DAVE.address, password: DAVE.password, name: 'Dave Driver' });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, DAVE.address, 'enabled');
      const d = browser();
      const smsCode = () => /\b(\d{6})\b/.exec(texts.calls.at(-1)!.body.text)![1]!;
      assert.equal(
        (await registerThroughPages(d, DAVE.address, DAVE.password, { kind: 'sms', phone: DAVE.phone }, smsCode)).done
          .headers.location,
        '/account',
      );
      await addEmailMethod(d, DAVE.home);

      await requestReset(browser(), DAVE.address);
      const link = resetLinkTo(DAVE.home);
      const token = new URLSearchParams(link.split('?')[1]).get('token')!;
      const r = browser();
      texts.state.status = 500;
      const down = await r.post('/reset-password', { _csrf: csrfFrom((await r.get(link)).body), token });
      assert.equal(down.statusCode, 502);
      assert.match(down.body, /couldn(&#39;|')t send the code/);
      texts.state.status = 200;
      const sent = texts.calls.length;
      clock.advance(31_000);
      const up = await r.post('/reset-password', { _csrf: csrfFrom((await r.get(link)).body), token });
      assert.equal(up.headers.location, '/reset-password/flow', 'the same link works once the gateway is back');
      assert.equal(texts.calls.length, sent + 1);
      assert.equal(texts.calls.at(-1)!.body.to, DAVE.phone, 'the code goes by text, not to the mailbox');
      const ok = await r.submit('/reset-password/flow', '/reset-password/flow/verify', { code: smsCode() });
      assert.equal(ok.headers.location, '/reset-password/flow');
      assert.match((await r.get('/reset-password/flow')).body, /<h1>Choose a new password<\/h1>/);
    });

    it('throttles requests per address and per client IP, alike for unknown addresses', async () => {
      const answers: number[] = [];
      for (let i = 0; i <= RESET_LIMITS.address; i++)
        answers.push((await requestReset(browser(), 'ghost@contoso.test')).statusCode);
      assert.deepEqual(answers, [...Array(RESET_LIMITS.address).fill(200), 429]);
      const one = browser();
      const fromOneIp: number[] = [];
      for (let i = 0; i <= RESET_LIMITS.ip; i++)
        fromOneIp.push((await requestReset(one, `someone${i}@contoso.test`)).statusCode);
      assert.deepEqual(fromOneIp, [...Array(RESET_LIMITS.ip).fill(200), 429]);
      const limited = await requestReset(one, 'another@contoso.test');
      assert.equal(limited.statusCode, 429);
      assert.ok(limited.headers['retry-after']);
    });

    it("lets an admin send a reset link from the user's page and the JSON API, within their organization only", async () => {
      const admin = browser();
      assert.equal(await signInTotp(admin, ADMIN.address, ADMIN.password, adminSecret), '/account');
      const users = await admin.get('/admin/users/user?address=bob%40contoso.test');
      assert.match(users.body, /action="\/admin\/users\/reset-link"/);
      const before = mailsTo(BOB_HOME);
      const sent = await admin.post('/admin/users/reset-link', { _csrf: csrfFrom(users.body), address: USER.address });
      assert.equal(sent.statusCode, 303);
      const notice = await admin.get(sent.headers.location as string);
      assert.match(notice.body, /A password reset link for bob@contoso\.test was sent to b•••@example\.org\./);
      assert.equal(mailsTo(BOB_HOME), before + 1);
      const none = await admin.submit('/admin/users', '/admin/users/reset-link', { address: ADMIN.address });
      assert.equal(none.statusCode, 409);
      assert.match(none.body, /has no verified alternate email address/);

      const adminUser = await user(ADMIN.address);
      const { token } = await w.ctx.sessions.start(
        adminUser.id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'api-test', via: 'api' },
        clock.now(),
      );
      const api = await w.app.inject({
        method: 'POST',
        url: `/api/v1/users/${USER.address}/reset-link`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(api.statusCode, 202);
      assert.deepEqual(JSON.parse(api.body), { sentTo: 'b•••@example.org' });
      assert.equal(mailsTo(BOB_HOME), before + 2);
      const eve = await user(OTHER_ADMIN.address);
      const other = await w.ctx.sessions.start(
        eve.id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'api-test', via: 'api' },
        clock.now(),
      );
      const foreign = await w.app.inject({
        method: 'POST',
        url: `/api/v1/users/${USER.address}/reset-link`,
        headers: { authorization: `Bearer ${other.token}` },
      });
      assert.equal(foreign.statusCode, 403);
      assert.equal(mailsTo(BOB_HOME), before + 2, 'nothing sent for another organization');
      const bobSession = await w.ctx.sessions.start(
        (await user(USER.address)).id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'api-test', via: 'api' },
        clock.now(),
      );
      const notAdmin = await w.app.inject({
        method: 'POST',
        url: `/api/v1/users/${CAROL.address}/reset-link`,
        headers: { authorization: `Bearer ${bobSession.token}` },
      });
      assert.equal(notAdmin.statusCode, 403);
    });

    it('changes the password with the current one, saying first what it ends; a wrong current password changes nothing', async () => {
      const b = browser();
      assert.equal(await signInTotp(b, USER.address, NEW_PASSWORD, bobSecret), '/account');
      const other = browser();
      assert.equal(await signInTotp(other, USER.address, NEW_PASSWORD, bobSecret), '/account');
      const bob = await user(USER.address);
      await w.ctx.appPasswords.create(bob, null, 'Phone', { ip: '127.0.0.1', locale: 'en' });
      assert.match((await b.get('/account')).body, /<a href="\/account\/password">Change password<\/a>/);
      const page = await b.get('/account/password');
      assert.match(page.body, /You stay signed in here; every other session/);
      assert.match(page.body, /your 1 app password will stop working/);
      const hashBefore = (
        await w.ctx.store.db
          .selectFrom('users')
          .select('password_hash')
          .where('id', '=', bob.id)
          .executeTakeFirstOrThrow()
      ).password_hash;

      const wrong = await b.submit('/account/password', '/account/password', {
        current: 'not-my-password',
        password: 'copper-sail-orchid-12',
        confirm: 'copper-sail-orchid-12',
      });
      assert.equal(wrong.statusCode, 400);
      assert.match(wrong.body, /Your current password is not right/);
      const common = await b.submit('/account/password', '/account/password', {
        current: NEW_PASSWORD,
        password: 'iloveyou',
        confirm: 'iloveyou',
      });
      assert.equal(common.statusCode, 400);
      assert.match(common.body, /too common/);
      assert.equal(
        (
          await w.ctx.store.db
            .selectFrom('users')
            .select('password_hash')
            .where('id', '=', bob.id)
            .executeTakeFirstOrThrow()
        ).password_hash,
        hashBefore,
        'nothing changed',
      );
      assert.equal((await other.get('/account')).statusCode, 200, 'nor was any session ended');

      const ok = await b.submit('/account/password', '/account/password', {
        current: NEW_PASSWORD,
        password: 'copper-sail-orchid-12',
        confirm: 'copper-sail-orchid-12',
      });
      assert.equal(ok.statusCode, 303);
      const after = await b.get(ok.headers.location as string);
      assert.match(
        after.body,
        /Your password has been changed\. Signed out elsewhere: [1-9]\d* sessions?\. App passwords revoked: 1\./,
      );
      assert.equal((await b.get('/account')).statusCode, 200, 'this session stays');
      assert.equal((await other.get('/account')).statusCode, 303, 'the other one ended');
      assert.equal((await w.ctx.appPasswords.list(bob)).length, 0);
      assert.ok(
        doveadm.calls.some((c) => JSON.stringify(c.body).includes(USER.address)),
        'mail servers told',
      );

      // With the policy switch off, app passwords survive and the page says so.
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, bob.orgId, { appPasswords: { revokeOnPasswordChange: false } });
      await w.ctx.appPasswords.create(bob, null, 'Tablet', { ip: '127.0.0.1', locale: 'en' });
      assert.match((await b.get('/account/password')).body, /Your app passwords keep working\./);
      const token = (
        await w.ctx.sessions.start(
          bob.id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 'curl/8.5.0', via: 'api' },
          clock.now(),
        )
      ).token;
      const effects = await w.app.inject({
        method: 'GET',
        url: '/api/v1/me/password',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.deepEqual(JSON.parse(effects.body), {
        endsOtherSessions: true,
        revokesAppPasswords: false,
        appPasswords: 1,
      });
      const bad = await w.app.inject({
        method: 'PUT',
        url: '/api/v1/me/password',
        headers: { authorization: `Bearer ${token}` },
        payload: { current: 'nope-nope-nope', password: NEW_PASSWORD },
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(JSON.parse(bad.body).error.code, 'current_password_wrong');
      const put = await w.app.inject({
        method: 'PUT',
        url: '/api/v1/me/password',
        headers: { authorization: `Bearer ${token}` },
        payload: { current: 'copper-sail-orchid-12', password: NEW_PASSWORD },
      });
      assert.equal(put.statusCode, 200);
      assert.deepEqual(JSON.parse(put.body), { endedSessions: 1, revokedAppPasswords: 0 });
      assert.equal((await w.ctx.appPasswords.list(bob)).length, 1);
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, bob.orgId, { appPasswords: { revokeOnPasswordChange: true } });
    });

    it('throttles guesses of the current password like sign-ins', async () => {
      const bob = await user(USER.address);
      const token = (
        await w.ctx.sessions.start(
          bob.id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 'curl/8.5.0', via: 'api' },
          clock.now(),
        )
      ).token;
      const codes: number[] = [];
      for (let i = 0; i < 11; i++) {
        const r = await w.app.inject({
          method: 'PUT',
          url: '/api/v1/me/password',
          headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.77' },
          payload: { current: `guess-${i}-guess`, password: 'copper-sail-orchid-12' },
        });
        codes.push(r.statusCode);
      }
      assert.deepEqual(codes, [...Array(10).fill(400), 429]);
      const log = await w.ctx.audit.listSignIns({ orgId: bob.orgId, userId: bob.id, limit: 20, offset: 0 });
      assert.ok(
        log.events.some((e) => e.protocol === 'api:password-change' && e.reason === 'wrong_password'),
        'each guess is in the sign-in log',
      );
      // A reset link lifts that lock too (cleanup for the tests after this one).
      await w.ctx.signIn.unlockAccount(USER.address);
    });

    it('lists my sessions (browser and API, current marked) and ends one, or all the others', async () => {
      const b = browser();
      assert.equal(await signInTotp(b, USER.address, NEW_PASSWORD, bobSecret), '/account');
      const bob = await user(USER.address);
      const api = await w.ctx.sessions.start(
        bob.id,
        ['pwd', 'otp'],
        { ip: '192.0.2.44', userAgent: 'curl/8.5.0', via: 'api' },
        clock.now(),
      );
      const page = await b.get('/account/sessions');
      assert.match(page.body, /<h1>My sessions<\/h1>/);
      assert.match(page.body, /<tr class="current" aria-current="true">[\s\S]*?<strong>This session<\/strong>/);
      assert.match(page.body, /curl<br><span class="hint">192\.0\.2\.44<\/span><\/td>\s*<td[^>]*>API<\/td>/);
      const listed = await w.app.inject({
        method: 'GET',
        url: '/api/v1/me/sessions',
        headers: { authorization: `Bearer ${api.token}` },
      });
      const sessions = JSON.parse(listed.body).sessions as {
        id: string;
        current: boolean;
        via: string;
        device: string;
      }[];
      assert.deepEqual(
        sessions.filter((s) => s.current).map((s) => [s.id, s.via, s.device]),
        [[api.session.id, 'api', 'curl']],
      );
      assert.ok(sessions.some((s) => !s.current && s.via === 'web'));

      const end = await b.post('/account/sessions/end', { _csrf: csrfFrom(page.body), id: api.session.id });
      assert.equal(end.headers.location, '/account/sessions?m=ended');
      assert.equal(
        (await w.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${api.token}` } }))
          .statusCode,
        401,
        'that session ended',
      );
      const notMine = await w.ctx.sessions.start(
        (await user(ADMIN.address)).id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'x' },
        clock.now(),
      );
      const refused = await b.submit('/account/sessions', '/account/sessions/end', { id: notMine.session.id });
      assert.equal(refused.statusCode, 404, "another user's session is not mine to end");
      assert.ok(await w.ctx.sessions.resume(notMine.token), 'and it lives on');

      const other1 = browser();
      await signInTotp(other1, USER.address, NEW_PASSWORD, bobSecret);
      const api2 = await w.ctx.sessions.start(
        bob.id,
        ['pwd'],
        { ip: '192.0.2.45', userAgent: 'python-requests/2.31', via: 'api' },
        clock.now(),
      );
      const others = await b.submit('/account/sessions', '/account/sessions/end-others', {});
      assert.match(others.headers.location as string, /^\/account\/sessions\?m=others&n=[2-9]/);
      assert.equal((await other1.get('/account')).statusCode, 303);
      assert.equal(await w.ctx.sessions.resume(api2.token), undefined);
      assert.equal((await b.get('/account/sessions')).statusCode, 200, 'this one stays');
      const viaApi = await w.ctx.sessions.start(
        bob.id,
        ['pwd'],
        { ip: '192.0.2.46', userAgent: 'curl/8.5.0', via: 'api' },
        clock.now(),
      );
      const endOthers = await w.app.inject({
        method: 'POST',
        url: '/api/v1/me/sessions/end-others',
        headers: { authorization: `Bearer ${viaApi.token}` },
      });
      assert.deepEqual(JSON.parse(endOthers.body), { ended: 1 });
      assert.equal((await b.get('/account')).statusCode, 303, 'the browser session was the other one');
      const self = await w.app.inject({
        method: 'DELETE',
        url: `/api/v1/me/sessions/${viaApi.session.id}`,
        headers: { authorization: `Bearer ${viaApi.token}` },
      });
      assert.equal(self.statusCode, 204);
    });

    it('shows my sign-ins with legacy ones (app password, protocol, IP); "This wasn\'t me" revokes that app password, flushes Dovecot and tells the admins', async () => {
      const bob = await user(USER.address);
      const made = await w.ctx.appPasswords.create(bob, null, 'Old phone', { ip: '127.0.0.1', locale: 'en' });
      const good = await w.ctx.legacy.verify({
        user: USER.address,
        password: made.password,
        protocol: 'imap',
        ip: '203.0.113.9',
      });
      assert.equal(good.outcome, 'ok');
      await w.ctx.legacy.verify({
        user: ADMIN.address,
        password: 'wrong-for-someone-else',
        protocol: 'imap',
        ip: '203.0.113.10',
      });
      await w.ctx.flush();
      const b = browser();
      assert.equal(await signInTotp(b, USER.address, NEW_PASSWORD, bobSecret), '/account');
      const page = await b.get('/account/sign-ins');
      assert.match(page.body, /<h1>My sign-ins<\/h1>/);
      assert.match(
        page.body,
        /<td[^>]*>IMAP \(mail\)<br><span class="ap-name">Old phone<\/span><\/td>\s*<td[^>]*>203\.0\.113\.9<\/td>/,
      );
      assert.ok(!page.body.includes('203.0.113.10'), "someone else's sign-ins are not shown");
      const row =
        /<input type="hidden" name="id" value="([^"]+)"><button type="submit">This wasn&#39;t me<\/button>/.exec(
          page.body,
        );
      assert.ok(row, 'the app-password row has "This wasn\'t me"');
      assert.equal(
        (page.body.match(/This wasn&#39;t me<\/button>/g) ?? []).length,
        1,
        'only rows with an app password have it',
      );

      const adminMails = mailsTo(ADMIN.address);
      const flushes = doveadm.calls.length;
      const reported = await b.post('/account/sign-ins/not-me', { _csrf: csrfFrom(page.body), id: row[1]! });
      assert.equal(reported.headers.location, '/account/sign-ins?m=reported');
      assert.match(
        (await b.get('/account/sign-ins?m=reported')).body,
        /That app password no longer works, and your administrators were told\./,
      );
      assert.equal(
        (
          await w.ctx.legacy.verify({
            user: USER.address,
            password: made.password,
            protocol: 'imap',
            ip: '203.0.113.9',
          })
        ).outcome,
        'wrong',
        'revoked at once',
      );
      assert.ok(doveadm.calls.length > flushes, 'Dovecot told to forget it');
      assert.equal(mailsTo(ADMIN.address), adminMails + 1, 'the admin is emailed');
      const mail = parseMessage([...smtp.received].reverse().find((m) => m.to.includes(ADMIN.address))!.raw);
      assert.match(mail.headers.get('subject') ?? '', /bob@contoso\.test reported a sign-in that was not theirs/);
      assert.match(
        mail.body,
        /IMAP sign-in at .* from 203\.0\.113\.9 with their app password "Old phone" as not theirs\. That app password has been revoked\./,
      );
      assert.equal(mailsTo(OTHER_ADMIN.address), 0, "another organization's admin is not");
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select(['action', 'detail'])
        .where('action', '=', 'sign_in.reported')
        .execute();
      assert.equal(audit.length, 1);
      assert.match(audit[0]!.detail, /imap sign-in from 203\.0\.113\.9 .* app password "Old phone" revoked/);

      // Through the API: the list, and a second report of the same row (the app password is gone now).
      const token = (
        await w.ctx.sessions.start(
          bob.id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 'curl/8.5.0', via: 'api' },
          clock.now(),
        )
      ).token;
      const list = JSON.parse(
        (
          await w.app.inject({
            method: 'GET',
            url: '/api/v1/me/sign-ins?limit=100',
            headers: { authorization: `Bearer ${token}` },
          })
        ).body,
      ) as { events: { id: string; protocol: string; appPasswordId: string | null }[]; total: number };
      assert.ok(
        list.events.some((e) => e.id === row[1] && e.protocol === 'imap' && e.appPasswordId === made.appPassword.id),
      );
      const again = await w.app.inject({
        method: 'POST',
        url: `/api/v1/me/sign-ins/${row[1]}/not-me`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.deepEqual(JSON.parse(again.body), { revoked: false, adminsTold: 1 });
      const webRow = list.events.find((e) => e.appPasswordId === null)!;
      const refused = await w.app.inject({
        method: 'POST',
        url: `/api/v1/me/sign-ins/${webRow.id}/not-me`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(refused.statusCode, 404, 'a row without an app password cannot be reported');
      const adminToken = (
        await w.ctx.sessions.start(
          (
            await user(ADMIN.address)
          ).id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 'x' },
          clock.now(),
        )
      ).token;
      const foreign = await w.app.inject({
        method: 'POST',
        url: `/api/v1/me/sign-ins/${row[1]}/not-me`,
        headers: { authorization: `Bearer ${adminToken}` },
      });
      assert.equal(foreign.statusCode, 404, "nobody reports another user's sign-in");
      // Each report emails every admin: a user (or a stolen session) gets REPORTS_PER_DAY a day.
      const statuses: number[] = [];
      for (let i = 4; i <= REPORTS_PER_DAY; i++)
        statuses.push(
          (
            await w.app.inject({
              method: 'POST',
              url: `/api/v1/me/sign-ins/${row[1]}/not-me`,
              headers: { authorization: `Bearer ${token}` },
            })
          ).statusCode,
        );
      assert.deepEqual(
        statuses,
        Array(REPORTS_PER_DAY - 3).fill(200),
        'three reports so far: two of the row, one refused',
      );
      const flooded = await w.app.inject({
        method: 'POST',
        url: `/api/v1/me/sign-ins/${row[1]}/not-me`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(flooded.statusCode, 429);
    });

    it('refuses every new form without its CSRF token, and changes nothing', async () => {
      const b = browser();
      assert.equal(await signInTotp(b, USER.address, NEW_PASSWORD, bobSecret), '/account');
      const bob = await user(USER.address);
      const hash = async () =>
        (
          await w.ctx.store.db
            .selectFrom('users')
            .select('password_hash')
            .where('id', '=', bob.id)
            .executeTakeFirstOrThrow()
        ).password_hash;
      const before = {
        hash: await hash(),
        sessions: (await w.ctx.sessions.listLive(bob.id)).length,
        mails: smtp.received.length,
      };
      const forms: [string, Record<string, string>][] = [
        ['/forgot-password', { email: USER.address }],
        ['/reset-password', { token: 'x' }],
        ['/reset-password/flow/password', { password: 'copper-sail-orchid-12', confirm: 'copper-sail-orchid-12' }],
        [
          '/account/password',
          { current: NEW_PASSWORD, password: 'copper-sail-orchid-12', confirm: 'copper-sail-orchid-12' },
        ],
        ['/account/sessions/end', { id: 'x' }],
        ['/account/sessions/end-others', {}],
        ['/account/sign-ins/not-me', { id: 'x' }],
        ['/admin/users/reset-link', { address: USER.address }],
      ];
      for (const [url, form] of forms) {
        for (const token of [undefined, 'forged-token']) {
          const r = await b.post(url, token ? { ...form, _csrf: token } : form);
          assert.equal(r.statusCode, 403, `${url} ${token ?? 'no token'}`);
          assert.match(r.body, /This form has expired/);
        }
      }
      await w.ctx.passwordReset.idle();
      assert.deepEqual(
        { hash: await hash(), sessions: (await w.ctx.sessions.listLive(bob.id)).length, mails: smtp.received.length },
        before,
      );
    });

    it('documents the new endpoints in the OpenAPI document', async () => {
      const doc = JSON.parse((await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).body) as {
        paths: Record<string, Record<string, unknown>>;
      };
      for (const [path, method] of [
        ['/api/v1/password-reset', 'post'],
        ['/api/v1/me/password', 'put'],
        ['/api/v1/me/password', 'get'],
        ['/api/v1/me/sessions', 'get'],
        ['/api/v1/me/sessions/{id}', 'delete'],
        ['/api/v1/me/sessions/end-others', 'post'],
        ['/api/v1/me/sign-ins', 'get'],
        ['/api/v1/me/sign-ins/{id}/not-me', 'post'],
        ['/api/v1/users/{address}/reset-link', 'post'],
      ] as const) {
        assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
      }
    });
  });
}
