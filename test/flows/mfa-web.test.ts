/**
 * The MFA flows through the pages (inject), with real counterparts: oathtool computes TOTP codes,
 * a real SMTP server receives email codes and notices, a real HTTP listener receives text codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { lastEmailCode, parseMessage, startSmtp, startWebhook } from '../support/sinks.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import {
  ADMIN,
  Browser,
  csrfFrom,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  recoveryCodesFrom,
  secretFrom,
  USER,
  type World,
} from '../support/world.js';

describe('MFA through the pages', () => {
  let w: World;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let hook: Awaited<ReturnType<typeof startWebhook>>;
  const clock = new FakeClock(Date.UTC(2026, 10, 27, 12, 0, 0));
  let secret = '';
  let enrolmentCode = '';
  let recovery: string[] = [];

  before(async () => {
    smtp = await startSmtp();
    hook = await startWebhook();
    w = await makeWorld(
      'sqlite',
      {
        smtpUrl: `smtp://127.0.0.1:${smtp.port}`,
        mailFrom: 'Sesame <sesame@contoso.test>',
        smsWebhookUrl: hook.url,
        smsWebhookSecret: 'a-webhook-secret-of-some-length',
      },
      { clock },
    );
  });
  after(async () => {
    await w.close();
    await smtp.stop();
    await hook.stop();
  });

  /** Posts a form on the flow page (fresh CSRF token) and follows the redirect back to it. */
  async function step(b: Browser, action: string, form: Record<string, string> = {}, base = '/signin/mfa') {
    const res = await b.submit(base, `${base}/${action}`, form);
    if (res.statusCode === 303 && res.headers.location === base) return b.get(base);
    return res;
  }

  it('walks a user whose MFA is enabled through Set it up now, the authenticator app, Next and recovery codes', async () => {
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
    const b = new Browser(w.app);
    const signIn = await b.signIn(USER.address, USER.password);
    assert.equal(signIn.statusCode, 303);
    assert.equal(signIn.headers.location, '/signin/mfa');
    assert.ok(!b.cookies.has('sesame_session'), 'no session before the second factor');
    assert.equal((await b.get('/account')).statusCode, 303, 'no other page is reachable');

    const more = await b.get('/signin/mfa');
    assert.match(more.body, /<h1>More information required<\/h1>/);
    assert.match(more.body, />Set it up now<\/button>/);

    const choose = await step(b, 'setup');
    assert.match(choose.body, /<h1>How should we contact you\?<\/h1>/);
    for (const k of ['totp', 'sms', 'voice', 'email']) assert.match(choose.body, new RegExp(`value="${k}"`), k);
    // The methods alone, each with its line of description; no number or address field yet, and
    // the title is not repeated as the legend (#17, task A).
    assert.match(choose.body, /<form method="post" action="\/signin\/mfa\/pick"/);
    assert.doesNotMatch(choose.body, /type="tel"|type="email"|name="phone"/);
    assert.match(choose.body, /aria-describedby="kind-sms-hint"[^>]*> <strong>Text message<\/strong><\/label>/);
    assert.match(choose.body, /<p class="hint" id="kind-sms-hint">We text a code to your mobile phone\.<\/p>/);
    assert.doesNotMatch(choose.body, /<legend>How should we contact you\?<\/legend>/);

    // An authenticator app needs nothing more: picking it goes straight to its setup.
    const qr = await step(b, 'pick', { kind: 'totp' });
    assert.match(qr.body, /<img id="totp-qr" class="qr" src="data:image\/png;base64,/);
    secret = secretFrom(qr.body);
    assert.match(secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret');
    // On a phone the key opens in the authenticator app with a tap, filed under the organization;
    // the key has a Copy button (without spaces) that copy.js reveals (#17, item 2).
    const link = /<a id="totp-link" href="([^"]+)">On this phone\? Open the key in your authenticator app<\/a>/.exec(
      qr.body,
    );
    assert.ok(link, 'a tappable otpauth:// link');
    const uri = new URL(link[1]!.replaceAll('&amp;', '&'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(`${uri.host}${decodeURIComponent(uri.pathname)}`, `totp/Contoso:${USER.address}`);
    assert.equal(uri.searchParams.get('secret'), secret);
    assert.match(
      qr.body,
      /<button type="button" class="copy secondary" data-copy="totp-secret" data-compact [^>]*hidden>Copy<\/button>/,
    );
    const stored = await w.ctx.store.db.selectFrom('mfa_methods').selectAll().execute();
    assert.equal(stored.length, 0, 'nothing is stored before the code confirms it');

    const wrong = await step(b, 'verify', { code: '000000' });
    assert.equal(wrong.statusCode, 400);
    assert.match(wrong.body, /That code is not right/);

    enrolmentCode = oathtoolTotp(secret, clock.now());
    const ok = await step(b, 'verify', { code: enrolmentCode });
    assert.match(ok.body, /<h1>Verification succeeded<\/h1>/);
    assert.match(ok.body, /id="next">Next<\/button>/);
    assert.equal(
      (
        await w.ctx.accounts.findUserById(
          (
            await w.ctx.store.db
              .selectFrom('users')
              .select('id')
              .where('address', '=', USER.address)
              .executeTakeFirstOrThrow()
          ).id,
        )
      )?.mfaState,
      'enforced',
      'enabled becomes enforced by itself',
    );
    const row = await w.ctx.store.db.selectFrom('mfa_methods').selectAll().executeTakeFirstOrThrow();
    assert.ok(row.secret_enc && !row.secret_enc.includes(secret), 'the seed is stored encrypted');

    const keep = await step(b, 'next');
    assert.match(keep.body, /<h1>Keep using your existing applications<\/h1>/);
    const shown = /<code id="app-password" class="secret">([a-z ]+)<\/code>/.exec(keep.body)?.[1];
    assert.match(shown ?? '', /^([a-hjkmnp-z]{4} ){4}[a-hjkmnp-z]{4}$/);
    assert.match(keep.body, /data-copy="app-password"[^>]*hidden>Copy<\/button>/);
    // The first app password too says it is shown only this once (#17, item 4).
    assert.match(keep.body, /<p class="hint" id="app-password-once">This is the only time it is shown/);
    // Next, not a first Done: the recovery codes follow, and only their page says Done (#17, task E).
    assert.match(keep.body, /<button type="submit" class="primary" id="next">Next<\/button>/);
    assert.doesNotMatch(keep.body, />Done<\/button>/);
    assert.equal(
      (
        await w.ctx.appPasswords.list(
          (await w.ctx.accounts.findUserById(
            (
              await w.ctx.store.db
                .selectFrom('users')
                .select('id')
                .where('address', '=', USER.address)
                .executeTakeFirstOrThrow()
            ).id,
          ))!,
        )
      )[0]?.name,
      'Existing applications',
    );
    const codes = await step(b, 'next');
    assert.match(codes.body, /<h1>Save your recovery codes<\/h1>/);
    recovery = recoveryCodesFrom(codes.body);
    assert.equal(recovery.length, 10);
    assert.equal(new Set(recovery).size, 10);
    // Kept the ways people keep them: Copy and Print (revealed by copy.js), and a .txt download
    // that works without scripts and holds every code, one per line (#17, item 2).
    assert.match(codes.body, /data-copy="recovery-codes"[^>]*hidden>Copy<\/button>/);
    assert.match(codes.body, /<button type="button" class="print secondary" hidden>Print<\/button>/);
    const download =
      /<a class="button secondary" id="recovery-download" download="recovery-codes\.txt" href="data:text\/plain;charset=utf-8,([^"]+)">Download \(\.txt\)<\/a>/.exec(
        codes.body,
      );
    assert.ok(download, 'a download link');
    const file = decodeURIComponent(download[1]!);
    assert.deepEqual(
      file.split('\r\n').filter((l) => recovery.includes(l)),
      recovery,
    );
    assert.match(file, /^Recovery codes for your work or school account\./);
    assert.equal(codes.body.match(/>Done<\/button>/g)?.length, 1, 'one Done');
    const done = await b.submit('/signin/mfa', '/signin/mfa/done', {});
    assert.equal(done.statusCode, 303);
    assert.equal(done.headers.location, '/account');
    assert.equal((await b.get('/account')).statusCode, 200);
    const session = await w.ctx.store.db
      .selectFrom('sessions')
      .select(['amr', 'mfa_at'])
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(session.amr), ['pwd', 'otp']);
    assert.ok(session.mfa_at);
    assert.equal((await b.get('/signin/mfa')).statusCode, 400, 'the flow is over');
  });

  it('asks for the code at the next sign-in: the used code and its replay are refused, the next step works', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    const page = await b.get('/signin/mfa');
    assert.match(page.body, /<h1>Verify your identity<\/h1>/);
    assert.match(page.body, /Enter the code shown in your authenticator app\./);
    // A phone opens its number pad for a one-time code.
    assert.match(page.body, /<input id="code"[^>]* inputmode="numeric" autocomplete="one-time-code"/);
    const replay = await step(b, 'verify', { code: enrolmentCode });
    assert.equal(replay.statusCode, 400, 'the enrolment code cannot be used again');
    clock.advance(30_000);
    const next = oathtoolTotp(secret, clock.now());
    const ok = await b.submit('/signin/mfa', '/signin/mfa/verify', { code: next });
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/account');
    // The same code from a second browser, in the same time step: refused.
    const b2 = new Browser(w.app);
    await b2.signIn(USER.address, USER.password);
    const again = await step(b2, 'verify', { code: next });
    assert.equal(again.statusCode, 400);
    assert.ok(!b2.cookies.has('sesame_session'));
  });

  it('lets the user sign in another way with a recovery code, once', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    const page = await b.get('/signin/mfa');
    assert.match(page.body, /<summary>Sign in another way<\/summary>/);
    const rc = await step(b, 'switch', { method: 'recovery' });
    assert.match(rc.body, /Enter one of your recovery codes\./);
    // Recovery codes hold letters: the full keyboard, not the number pad (#17, item 2).
    assert.match(
      rc.body,
      /<input id="code"[^>]* inputmode="text" autocomplete="off" autocapitalize="none" spellcheck="false"/,
    );
    const ok = await b.submit('/signin/mfa', '/signin/mfa/verify', {
      code: recovery[0]!.toUpperCase().replace(/-/g, ' '),
    });
    assert.equal(ok.headers.location, '/account', 'accepted in any case, with spaces');
    const b2 = new Browser(w.app);
    await b2.signIn(USER.address, USER.password);
    await step(b2, 'switch', { method: 'recovery' });
    assert.equal((await step(b2, 'verify', { code: recovery[0]! })).statusCode, 400, 'a recovery code works once');
    const notice = smtp.received.filter((r) => r.to.includes(USER.address)).map((r) => parseMessage(r.raw).body);
    assert.ok(
      notice.some((t) => /recovery codes was used/.test(t)),
      'the user is told a recovery code was used',
    );
  });

  it('sends email codes through the SMTP server: valid once, bound to the sign-in, resend limited', async () => {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'carol@contoso.test', password: 'granite-orchid-sail-31' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'carol@contoso.test', 'enabled');
    const b = new Browser(w.app, { 'accept-language': 'nl' });
    await b.signIn('carol@contoso.test', 'granite-orchid-sail-31');
    assert.match((await b.get('/signin/mfa')).body, />Nu instellen<\/button>/);
    await step(b, 'setup');
    // The account's own address (in any case) is no second factor: refused with a reason, nothing sent.
    const mailsBefore = smtp.received.length;
    const own = await step(b, 'method', { kind: 'email', email: 'Carol@Contoso.test' });
    assert.equal(own.statusCode, 400);
    assert.match(own.body, /Gebruik een ander adres dan uw werk- of schoolaccount/);
    assert.equal(smtp.received.length, mailsBefore, 'no code was sent to the work address');
    const sent = await step(b, 'method', { kind: 'email', email: 'carol.private@example.org' });
    assert.match(sent.body, /We hebben een code gestuurd naar c•••@example\.org/);
    const mail = smtp.received.at(-1)!;
    assert.deepEqual(mail.to, ['carol.private@example.org']);
    assert.match(parseMessage(mail.raw).body, /Uw verificatiecode van Sesame is \d{6}/);
    const first = lastEmailCode(smtp.received, 'carol.private@example.org');

    const tooSoon = await step(b, 'resend');
    assert.equal(tooSoon.statusCode, 429);
    assert.match(tooSoon.body, /Er is net een code verstuurd/);
    clock.advance(31_000);
    await step(b, 'resend');
    const second = lastEmailCode(smtp.received, 'carol.private@example.org');
    if (second !== first)
      assert.equal((await step(b, 'verify', { code: first })).statusCode, 400, 'a resend voids the old code');

    // Carol's code does not work in Bob's flow.
    await w.ctx.mfaAdmin.requireReRegistration(OPERATOR, 'bob@contoso.test');
    const bob = new Browser(w.app);
    await bob.signIn(USER.address, USER.password);
    await step(bob, 'setup');
    await step(bob, 'method', { kind: 'email', email: 'bob.private@example.org' });
    assert.equal((await step(bob, 'verify', { code: second })).statusCode, 400, "user A's code for user B");

    const ok = await step(b, 'verify', { code: second });
    assert.match(ok.body, /<h1>Verificatie geslaagd<\/h1>/);
    assert.match(ok.body, />Volgende<\/button>/);
    const keep = await step(b, 'next');
    assert.match(keep.body, /<h1>Uw bestaande toepassingen blijven gebruiken<\/h1>/);
    assert.match(keep.body, />Kopiëren<\/button>/);
  });

  it('sends text codes through the webhook gateway, and says so when the gateway fails', async () => {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'dan@contoso.test', password: 'harbour-violet-lamp-58' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'dan@contoso.test', 'enforced');
    const b = new Browser(w.app);
    await b.signIn('dan@contoso.test', 'harbour-violet-lamp-58');
    await step(b, 'setup');
    const numberPage = await step(b, 'pick', { kind: 'sms' });
    assert.match(numberPage.body, /<h1>Text message<\/h1>/);
    const bad = await step(b, 'method', { kind: 'sms', phone: '12345' });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /country code/);
    hook.state.status = 502;
    const failed = await step(b, 'method', { kind: 'sms', phone: '+31 6 1234 5678' });
    assert.equal(failed.statusCode, 502);
    assert.match(failed.body, /We couldn&#39;t send the code/);
    // Not the number's fault: it is kept, with no reason beside the field.
    assert.match(failed.body, /<input id="phone" name="phone" type="tel"[^>]* value="\+31 6 1234 5678"/);
    assert.doesNotMatch(failed.body, /aria-invalid/);
    hook.state.status = 200;
    clock.advance(31_000);
    const sent = await step(b, 'method', { kind: 'sms', phone: '+31 6 1234 5678' });
    assert.match(sent.body, /We sent a code to \+31 •••• 5678/);
    const call = hook.calls.at(-1)!;
    assert.equal(call.headers['x-sesame-secret'], 'a-webhook-secret-of-some-length');
    assert.deepEqual(
      { to: call.body.to, channel: call.body.channel, locale: call.body.locale },
      { to: '+31612345678', channel: 'sms', locale: 'en' },
    );
    const code = /\b(\d{6})\b/.exec(call.body.text)![1]!;
    assert.match((await step(b, 'verify', { code })).body, /Verification succeeded/);
  });

  it("asks for the chosen method's number or address alone, reads national numbers in the default country, and keeps what was typed beside its error", async () => {
    const admin = {
      kind: 'user' as const,
      amr: ['pwd', 'otp'],
      user: (await w.ctx.accounts.findUserById(
        (
          await w.ctx.store.db
            .selectFrom('users')
            .select('id')
            .where('address', '=', ADMIN.address)
            .executeTakeFirstOrThrow()
        ).id,
      ))!,
    };
    await w.ctx.accounts.addUser(OPERATOR, { address: 'gus@contoso.test', password: 'pebble-meadow-torch-47' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'gus@contoso.test', 'enabled');
    const b = new Browser(w.app);
    await b.signIn('gus@contoso.test', 'pebble-meadow-torch-47');
    await step(b, 'setup');

    // Step two for a text message: its number only, with an example in international form while
    // the organization has no default country.
    const sms = await step(b, 'pick', { kind: 'sms' });
    assert.equal(sms.statusCode, 200);
    assert.match(sms.body, /<h1>Text message<\/h1>/);
    assert.match(sms.body, /<label for="phone">Mobile number<\/label>/);
    assert.match(sms.body, /<p class="hint" id="phone-hint">With the country code, for example \+31 6 12345678\.<\/p>/);
    assert.doesNotMatch(sms.body, /type="radio"|type="email"|name="email"/);
    assert.match(sms.body, /<input type="hidden" name="kind" value="sms">/);

    const national = await step(b, 'method', { kind: 'sms', phone: '06 12345678' });
    assert.equal(national.statusCode, 400);
    assert.match(national.body, /<h1>Text message<\/h1>/, 'still the chosen method');
    assert.match(national.body, /<p class="error" role="alert" id="page-error">Enter the number with its country code/);
    assert.match(
      national.body,
      /<p class="field-error" id="contact-error"><span class="visually-hidden">Error:<\/span> Enter the number with its country code, starting with \+/,
    );
    const input = /<input id="phone"[^>]*>/.exec(national.body)?.[0] ?? '';
    assert.match(input, /value="06 12345678"/, 'the number typed is still there');
    assert.match(input, /aria-describedby="contact-error phone-hint"/);
    assert.match(input, /aria-invalid="true"/);
    assert.ok(
      national.body.indexOf('id="contact-error"') < national.body.indexOf('<input id="phone"'),
      'the message is right above the field',
    );

    // With the Netherlands as default country, the national form is understood and shown as example.
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { defaultCountry: 'NL' });
    try {
      const again = await b.get('/signin/mfa');
      assert.match(again.body, /<p class="hint" id="phone-hint">For example 06 12345678\.<\/p>/);
      assert.doesNotMatch(again.body, /aria-invalid/, 'a fresh page has no error');
      const wrong = await step(b, 'method', { kind: 'sms', phone: '06-1234' });
      assert.equal(wrong.statusCode, 400);
      assert.match(
        wrong.body,
        /id="contact-error"><span class="visually-hidden">Error:<\/span> This is not a valid phone number/,
      );
      assert.match(/<input id="phone"[^>]*>/.exec(wrong.body)?.[0] ?? '', /value="06-1234"[^>]* aria-invalid="true"/);
      clock.advance(31_000);
      const sent = await step(b, 'method', { kind: 'sms', phone: '06-12345678' });
      assert.match(sent.body, /We sent a code to \+31 •••• 5678/);
      assert.equal(hook.calls.at(-1)!.body.to, '+31612345678');

      // "Use another method": the list again, the method chosen before still chosen; email asks
      // for the address alone, and keeps a refused one with its reason.
      const list = await step(b, 'choose');
      assert.match(list.body, /<input type="radio" name="kind" value="sms" checked/);
      const voice = await step(b, 'pick', { kind: 'voice' });
      assert.match(voice.body, /<label for="phone">Phone number<\/label>/);
      await step(b, 'choose');
      const email = await step(b, 'pick', { kind: 'email' });
      assert.match(email.body, /<input id="alt-email" name="email" type="email"/);
      assert.doesNotMatch(email.body, /type="tel"|name="phone"/);
      const own = await step(b, 'method', { kind: 'email', email: 'Gus@Contoso.test' });
      assert.equal(own.statusCode, 400);
      assert.match(own.body, /<h1>Email to another address<\/h1>/);
      assert.match(own.body, /id="contact-error"><span class="visually-hidden">Error:<\/span> Use another address/);
      assert.match(
        /<input id="alt-email"[^>]*>/.exec(own.body)?.[0] ?? '',
        /value="Gus@Contoso.test"[^>]* aria-invalid="true"/,
      );
      // What was typed comes back as text, never as markup.
      const hostile = await step(b, 'method', { kind: 'email', email: '"><svg onload=alert(1)>' });
      assert.equal(hostile.statusCode, 400);
      assert.match(hostile.body, /value="&quot;&gt;&lt;svg onload=alert\(1\)&gt;"/);
      assert.doesNotMatch(hostile.body, /<svg/);
    } finally {
      await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { defaultCountry: null });
    }
  });

  it('gives an expired sign-in a way on: Sign in again, towards where it was going (#17, task D)', async () => {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'hal@contoso.test', password: 'cobalt-river-lamp-82' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'hal@contoso.test', 'enabled');
    const b = new Browser(w.app);
    const start = await b.submit('/signin?next=%2Fsecurity-info', '/signin', {
      email: 'hal@contoso.test',
      password: 'cobalt-river-lamp-82',
      next: '/security-info',
    });
    assert.equal(start.headers.location, '/signin/mfa');
    const page = await b.get('/signin/mfa');
    clock.advance(16 * 60_000);
    // A form posted after the flow expired: the page says so and links to a new sign-in with `next`.
    const late = await b.post('/signin/mfa/setup', { _csrf: csrfFrom(page.body) });
    assert.equal(late.statusCode, 400);
    assert.match(late.body, /This sign-in has expired\. Please start again\./);
    const link = /<a class="button" id="way-on" href="([^"]+)">Sign in again<\/a>/.exec(late.body);
    assert.ok(link, 'a way on');
    assert.equal(link[1]!.replaceAll('&amp;', '&'), '/signin?next=%2Fsecurity-info');
    const again = await b.get(link[1]!.replaceAll('&amp;', '&'));
    assert.equal(again.statusCode, 200);
    assert.match(again.body, /<input type="hidden" name="next" value="\/security-info">/);
    // The old flow is gone, so a reload knows no `next`: still a way on, to the sign-in page.
    const reload = await b.get('/signin/mfa');
    assert.equal(reload.statusCode, 400);
    assert.match(reload.body, /<a class="button" id="way-on" href="\/signin">Sign in again<\/a>/);
    // Following the way on starts a new sign-in that goes where the old one was going.
    const anew = await b.submit(link[1]!.replaceAll('&amp;', '&'), '/signin', {
      email: 'hal@contoso.test',
      password: 'cobalt-river-lamp-82',
      next: '/security-info',
    });
    assert.equal(anew.headers.location, '/signin/mfa');
    const { flow } = await w.ctx.flows.load(b.cookies.get('sesame_flow'));
    assert.equal(flow.data.next, '/security-info');
    // In Dutch too.
    const nl = await new Browser(w.app, { 'accept-language': 'nl' }).get('/signin/mfa');
    assert.match(nl.body, /Deze aanmelding is verlopen\.[\s\S]*>Opnieuw aanmelden<\/a>/);

    // A signed-in user's flow (adding a method) that is gone leads back to Security info.
    await w.ctx.accounts.addUser(OPERATOR, { address: 'ivy@contoso.test', password: 'amber-quarry-flute-64' });
    const ivy = new Browser(w.app);
    assert.equal((await ivy.signIn('ivy@contoso.test', 'amber-quarry-flute-64')).headers.location, '/account');
    ivy.cookies.set('sesame_flow_si', 'a-flow-that-is-no-more');
    const gone = await ivy.get('/security-info/flow');
    assert.equal(gone.statusCode, 400);
    assert.match(gone.body, /<a class="button" id="way-on" href="\/security-info">Back to Security info<\/a>/);
  });

  it('locks the second step after 10 wrong codes, even for the right one, and emails the user once', async () => {
    const before = smtp.received.filter((r) => r.to.includes(USER.address) && /second factor/.test(r.raw)).length;
    // Bob was sent back to registration above; give him a TOTP again through the service.
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    await step(b, 'setup');
    const qr = await step(b, 'method', { kind: 'totp' });
    const s = secretFrom(qr.body);
    clock.advance(60_000);
    await step(b, 'verify', { code: oathtoolTotp(s, clock.now()) });
    await step(b, 'next');
    await step(b, 'next');
    await b.submit('/signin/mfa', '/signin/mfa/done', {});

    const attacker = new Browser(w.app);
    await attacker.signIn(USER.address, USER.password);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await step(attacker, 'verify', { code: String(100000 + i) })).statusCode);
    assert.deepEqual(statuses, [...Array(10).fill(400), 429]);
    clock.advance(30_000);
    const right = await step(attacker, 'verify', { code: oathtoolTotp(s, clock.now()) });
    assert.equal(right.statusCode, 429, 'locked: the right code is refused too');
    const notices = smtp.received.filter((r) => r.to.includes(USER.address) && /second factor/.test(r.raw)).length;
    assert.equal(notices - before, 1, 'told once that the password was right but the second factor failed');
  });

  it('makes new users start in the organization default, and offers only the allowed methods', async () => {
    const admin = {
      kind: 'user' as const,
      amr: ['pwd', 'otp'],
      user: (await w.ctx.accounts.findUserById(
        (
          await w.ctx.store.db
            .selectFrom('users')
            .select('id')
            .where('address', '=', ADMIN.address)
            .executeTakeFirstOrThrow()
        ).id,
      ))!,
    };
    const orgId = admin.user.orgId;
    await w.ctx.mfaAdmin.setPolicy(admin, orgId, { mfaDefault: 'enabled', allowedMethods: ['totp', 'email'] });
    const u = await w.ctx.accounts.addUser(OPERATOR, {
      address: 'erin@contoso.test',
      password: 'copper-lantern-fjord-12',
    });
    assert.equal(u.mfaState, 'enabled');
    const b = new Browser(w.app);
    await b.signIn('erin@contoso.test', 'copper-lantern-fjord-12');
    const choose = await step(b, 'setup');
    assert.match(choose.body, /value="totp"/);
    assert.match(choose.body, /value="email"/);
    assert.doesNotMatch(choose.body, /value="sms"|value="voice"|value="webauthn"/);
    const refused = await step(b, 'pick', { kind: 'sms' });
    assert.equal(refused.statusCode, 400);
    assert.equal((await step(b, 'method', { kind: 'sms', phone: '+31612345678' })).statusCode, 400);
    await assert.rejects(w.ctx.mfaAdmin.setPolicy(admin, orgId, { rememberDays: 366 }), { code: 'invalid_policy' });
    await assert.rejects(w.ctx.mfaAdmin.setPolicy(admin, orgId, { allowedMethods: [] }), { code: 'invalid_policy' });
    await w.ctx.mfaAdmin.setPolicy(admin, orgId, {
      mfaDefault: 'disabled',
      allowedMethods: ['totp', 'webauthn', 'sms', 'voice', 'email'],
    });
  });

  it('remembers a trusted device for the policy’s days, until re-registration', async () => {
    const admin = {
      kind: 'user' as const,
      amr: ['pwd', 'otp'],
      user: (await w.ctx.accounts.findUserById(
        (
          await w.ctx.store.db
            .selectFrom('users')
            .select('id')
            .where('address', '=', ADMIN.address)
            .executeTakeFirstOrThrow()
        ).id,
      ))!,
    };
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { rememberDays: 30 });
    await w.ctx.accounts.addUser(OPERATOR, { address: 'fay@contoso.test', password: 'marble-kite-orchard-66' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'fay@contoso.test', 'enabled');
    const b = new Browser(w.app);
    await b.signIn('fay@contoso.test', 'marble-kite-orchard-66');
    await step(b, 'setup');
    const s = secretFrom((await step(b, 'method', { kind: 'totp' })).body);
    await step(b, 'verify', { code: oathtoolTotp(s, clock.now()) });
    await step(b, 'next');
    await step(b, 'next');
    await b.submit('/signin/mfa', '/signin/mfa/done', {});
    await b.submit('/account', '/signout', {});

    await b.signIn('fay@contoso.test', 'marble-kite-orchard-66');
    const page = await b.get('/signin/mfa');
    assert.match(page.body, /Don&#39;t ask again on this device for 30 days/);
    clock.advance(30_000);
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(s, clock.now()), remember: '1' });
    assert.ok(b.cookies.has('sesame_trust'));
    await b.submit('/account', '/signout', {});
    const straight = await b.signIn('fay@contoso.test', 'marble-kite-orchard-66');
    assert.equal(straight.headers.location, '/account', 'the remembered device skips the second step');
    const other = new Browser(w.app);
    assert.equal(
      (await other.signIn('fay@contoso.test', 'marble-kite-orchard-66')).headers.location,
      '/signin/mfa',
      'another device is asked',
    );

    await w.ctx.mfaAdmin.requireReRegistration(OPERATOR, 'fay@contoso.test');
    assert.equal(
      (await b.signIn('fay@contoso.test', 'marble-kite-orchard-66')).headers.location,
      '/signin/mfa',
      're-registration forgets devices',
    );
    assert.match((await b.get('/signin/mfa')).body, /More information required/);
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { rememberDays: 0 });
  });

  it('lets an admin set MFA, require re-registration and end sessions from the Users page, in their organization only', async () => {
    const b = new Browser(w.app);
    await signInAdminWithMfa(b, ADMIN, { clock });
    const users = await b.get('/admin/users');
    assert.match(users.body, /<th scope="col">Multi-factor authentication<\/th>/);
    const set = await b.submit('/admin/users', '/admin/users/mfa', {
      address: 'carol@contoso.test',
      state: 'enforced',
    });
    assert.equal(set.statusCode, 303);
    assert.match((await b.get(set.headers.location as string)).body, /MFA for carol@contoso\.test is now Enforced\./);
    const bad = await b.submit('/admin/users', '/admin/users/mfa', {
      address: 'carol@contoso.test',
      state: 'sometimes',
    });
    assert.equal(bad.statusCode, 400);
    const foreign = await b.submit('/admin/users', '/admin/users/mfa', {
      address: 'eve@fabrikam.test',
      state: 'disabled',
    });
    assert.equal(foreign.statusCode, 403);
    const rr = await b.submit('/admin/users', '/admin/users/reregister', {
      address: 'carol@contoso.test',
      confirm: '1',
    });
    assert.equal(rr.statusCode, 303);
    assert.equal(
      (
        await w.ctx.store.db
          .selectFrom('users')
          .select('mfa_state')
          .where('address', '=', 'carol@contoso.test')
          .executeTakeFirstOrThrow()
      ).mfa_state,
      'enabled',
    );
    const audit = await w.ctx.store.db
      .selectFrom('audit_events')
      .select(['action', 'actor_label'])
      .where('action', 'like', 'mfa.%')
      .execute();
    assert.ok(audit.some((a) => a.action === 'mfa.state' && a.actor_label === ADMIN.address));
    assert.ok(audit.some((a) => a.action === 'mfa.require_reregistration' && a.actor_label === ADMIN.address));
    const policy = await b.submit('/admin/policy', '/admin/policy', {
      mfaDefault: 'enforced',
      methods: 'totp',
      rememberDays: '400',
    });
    assert.equal(policy.statusCode, 400, 'more than 365 days is refused');
    const saved = await b.post('/admin/policy', {
      _csrf: csrfFrom((await b.get('/admin/policy')).body),
      mfaDefault: 'disabled',
      rememberDays: '14',
    });
    assert.equal(saved.statusCode, 400, 'no method at all is refused');
  });
});
