/**
 * Black-box probes of the password step (issue #7 item 3), against the real server over HTTP with
 * its shipped limits (10 failures lock an account; 100 per IP): the checklist's probes "real
 * user/wrong password, unknown user, disabled user: identical responses", "101 wrong passwords",
 * "an app password on the browser sign-in form" and "a planted session cookie", and the open
 * redirect after sign-in (checklist 34).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { FetchBrowser, type FetchAnswer } from '../support/fetch-browser.js';
import {
  basic,
  bearer,
  call,
  csrfOf,
  form,
  isSameSitePath,
  registerTotp,
  signInLog,
  startProbeServer,
  tallyAttempts,
  webSignIn,
  webSignInWithRecovery,
  type ProbeServer,
  type Registered,
} from '../support/probes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
const BOB = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' };
const OFF = { address: 'off@contoso.test', password: 'granite-orchid-sail-31' };
const CAROL = { address: 'carol@contoso.test', password: 'amber-glacier-tunnel-19' };
const DAVE = { address: 'dave@contoso.test', password: 'lilac-summit-rower-27' };
const MALLORY = { address: 'mallory@contoso.test', password: 'harbor-velvet-quill-63' };
const LOCK = {
  web: 'lock-web@contoso.test',
  api: 'lock-api@contoso.test',
  imap: 'lock-imap@contoso.test',
  password: 'saffron-delta-kettle-85',
};
const WRONG = 'not-the-password-1';

/** The sign-in page with what legitimately differs between two answers masked: the fresh CSRF token and the echoed address. */
const normalise = (body: string, email: string) =>
  body.replaceAll(email, 'EMAIL').replace(/name="_csrf" value="[^"]+"/g, 'CSRF');
const cookieNames = (a: FetchAnswer) =>
  a.headers
    .getSetCookie()
    .map((c) => c.split('=')[0])
    .sort();

describe('probes: the password step', () => {
  let probe: ProbeServer;
  let base = '';
  let key = '';
  let adminToken = '';
  let carol: Registered;

  before(async () => {
    const env = {
      SESAME_MAIL_BACKEND_IMAP: '127.0.0.1:1143',
      // This probe signs in more than 60 times a minute from one address (127.0.0.1); the per-IP rate
      // of password checks has its own probes (probes-lockout.test.ts).
      SESAME_IP_PASSWORD_CHECKS_PER_MINUTE: '1000000',
    };
    const started = await startProbeServer('signin', env, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
      for (const u of [BOB, OFF, CAROL, DAVE, MALLORY]) await ctx.accounts.addUser(OPERATOR, u);
      for (const address of [LOCK.web, LOCK.api, LOCK.imap])
        await ctx.accounts.addUser(OPERATOR, { address, password: LOCK.password });
      await ctx.accounts.addUser(OPERATOR, { address: 'new@contoso.test' });
      await ctx.accounts.disableUser(OPERATOR, OFF.address);
      await ctx.mfaAdmin.setUserState(OPERATOR, CAROL.address, 'enabled');
      return (await ctx.integrations.add('dovecot')).key;
    });
    probe = started.probe;
    base = probe.base;
    key = started.setupResult;
    adminToken = await adminApiToken(base, ADMIN);
    // Carol registers an authenticator app over the JSON API: MFA enforced, an app password, recovery codes.
    carol = await registerTotp(base, CAROL.address, CAROL.password);
    assert.ok(carol.appPassword);
  });
  after(async () => probe?.stop());

  const cases = [
    { label: 'real user, wrong password', email: BOB.address, password: WRONG },
    { label: 'unknown user', email: 'ghost@contoso.test', password: WRONG },
    { label: 'unknown organization', email: 'ghost@nowhere.test', password: WRONG },
    { label: 'disabled user, right password', email: OFF.address, password: OFF.password },
    { label: 'user without a password yet', email: 'new@contoso.test', password: WRONG },
  ];

  it('probe: a real user with a wrong password, an unknown user and a disabled user get identical answers on the sign-in form, the JSON API and the legacy endpoints', async () => {
    // The sign-in form: status, page, cookies set and redirect, all the same.
    const web = [];
    for (const c of cases) {
      const b = new FetchBrowser(base);
      const page = await b.get('/signin');
      const r = await b.request('/signin', form({ _csrf: csrfOf(page.body), email: c.email, password: c.password }));
      web.push({
        status: r.status,
        body: normalise(r.body, c.email),
        cookies: cookieNames(r),
        location: r.headers.get('location'),
        retryAfter: r.headers.get('retry-after'),
      });
    }
    for (let i = 1; i < web.length; i++) assert.deepEqual(web[i], web[0], `web form: ${cases[i]!.label}`);
    assert.equal(web[0]!.status, 401);
    assert.match(web[0]!.body, /Your account or password is incorrect\./);
    assert.ok(
      !web[0]!.cookies.includes('sesame_session') && !web[0]!.cookies.includes('sesame_flow'),
      'no session and no flow for anyone',
    );

    // The JSON API: byte for byte.
    const api = [];
    for (const c of cases) {
      const r = await call(base, 'POST', '/api/v1/sessions', { email: c.email, password: c.password });
      api.push({ status: r.status, text: r.text, cookies: r.headers.getSetCookie() });
    }
    for (let i = 1; i < api.length; i++) assert.deepEqual(api[i], api[0], `JSON API: ${cases[i]!.label}`);
    assert.equal(api[0]!.status, 401);

    // Forward-auth and nginx's mail proxy pass their answer on to the client: the same for all.
    const fwd = [];
    const nginx = [];
    for (const c of cases) {
      const r = await call(base, 'GET', '/auth/basic', undefined, basic(c.email, c.password));
      fwd.push({ status: r.status, text: r.text, challenge: r.headers.get('www-authenticate') });
      const n = await call(base, 'GET', '/auth/nginx-mail', undefined, {
        ...bearer(key),
        'auth-user': encodeURIComponent(c.email),
        'auth-pass': encodeURIComponent(c.password),
        'auth-protocol': 'imap',
        'client-ip': '192.0.2.20',
      });
      nginx.push({
        status: n.status,
        authStatus: n.headers.get('auth-status'),
        wait: n.headers.get('auth-wait'),
        server: n.headers.get('auth-server'),
      });
    }
    for (let i = 1; i < fwd.length; i++) assert.deepEqual(fwd[i], fwd[0], `/auth/basic: ${cases[i]!.label}`);
    for (let i = 1; i < nginx.length; i++) assert.deepEqual(nginx[i], nginx[0], `/auth/nginx-mail: ${cases[i]!.label}`);
    assert.equal(fwd[0]!.status, 401);
    assert.equal(nginx[0]!.authStatus, 'Invalid login or password');
    // Dovecot's passdb hears the same body; its status is 401 or 403 (policy), both "password mismatch" to the client (docs/integrations.md).
    for (const c of cases) {
      const r = await call(
        base,
        'POST',
        '/auth/mail',
        { user: c.email, password: c.password, service: 'imap', remoteIp: '192.0.2.21' },
        bearer(key),
      );
      assert.ok([401, 403].includes(r.status), `${c.label}: ${r.status}`);
      assert.deepEqual(r.body, { result: 'wrong' }, c.label);
    }
    // Only the admin's sign-in log tells the reasons apart.
    const reasons = Object.fromEntries(
      (await signInLog(base, adminToken)).filter((e) => e.protocol === 'web').map((e) => [e.addressTyped, e.reason]),
    );
    assert.deepEqual(reasons, {
      [BOB.address]: 'wrong_password',
      'ghost@contoso.test': 'unknown_user',
      [OFF.address]: 'user_disabled',
      'new@contoso.test': 'no_password_set',
    });
  });

  it('probe: 101 wrong passwords to one account lock it before the 100th, and the right password is then refused too (sign-in form, JSON API, IMAP)', async () => {
    // The sign-in form.
    const web: number[] = [];
    for (let i = 0; i < 101; i++)
      web.push((await new FetchBrowser(base).signIn(LOCK.web, `wrong-password-${i}`)).status);
    const webFailures = web.indexOf(429);
    assert.ok(webFailures > 0 && webFailures < 100, `locked after ${webFailures} failures`);
    assert.deepEqual(
      web.slice(webFailures),
      Array(101 - webFailures).fill(429),
      'every attempt after the lock is refused',
    );
    const webRight = await new FetchBrowser(base).signIn(LOCK.web, LOCK.password);
    assert.equal(webRight.status, 429, 'the right password is refused while locked');
    assert.match(webRight.body, /Too many attempts/);
    assert.ok(Number(webRight.headers.get('retry-after')) >= 1);
    assert.equal(
      webRight.headers.getSetCookie().some((c) => c.startsWith('sesame_session=')),
      false,
    );

    // The JSON API.
    const api: number[] = [];
    for (let i = 0; i < 101; i++)
      api.push(
        (await call(base, 'POST', '/api/v1/sessions', { email: LOCK.api, password: `wrong-password-${i}` })).status,
      );
    const apiFailures = api.indexOf(429);
    assert.ok(apiFailures > 0 && apiFailures < 100, `locked after ${apiFailures} failures`);
    assert.deepEqual(api.slice(apiFailures), Array(101 - apiFailures).fill(429));
    const apiRight = await call(base, 'POST', '/api/v1/sessions', { email: LOCK.api, password: LOCK.password });
    assert.equal(apiRight.status, 429);
    assert.equal((apiRight.body.error as { code: string }).code, 'throttled');

    // IMAP through Dovecot's passdb (/auth/mail): a locked account is answered like a wrong
    // password, so the lock is read from the sign-in log.
    for (let i = 0; i < 101; i++) {
      const r = await call(
        base,
        'POST',
        '/auth/mail',
        { user: LOCK.imap, password: `wrong-password-${i}`, service: 'imap', remoteIp: '192.0.2.30' },
        bearer(key),
      );
      assert.equal(r.status, 401);
    }
    const right = await call(
      base,
      'POST',
      '/auth/mail',
      { user: LOCK.imap, password: LOCK.password, service: 'imap', remoteIp: '192.0.2.30' },
      bearer(key),
    );
    assert.equal(right.status, 401, 'the right password is refused while locked');
    const rows = (await signInLog(base, adminToken)).filter((e) => e.addressTyped === LOCK.imap);
    // Attempts, not rows: identical failures are one row with a count.
    const counts = tallyAttempts(rows, (e) => e.reason);
    assert.equal(
      rows.reduce((n, e) => n + e.count, 0),
      102,
    );
    assert.ok(
      (counts.wrong_password ?? 0) > 0 && (counts.wrong_password ?? 0) < 100,
      `checked ${counts.wrong_password} passwords before the lock`,
    );
    assert.equal(counts.account_locked, 102 - counts.wrong_password!);
    assert.equal(rows[0]!.reason, 'account_locked', 'the last attempt, with the right password, met the lock');
  });

  it('probe: an app password on the browser sign-in form is refused with the page any app-password-shaped password gets (and on the JSON API)', async () => {
    const grouped = carol.appPassword!;
    // Control: it is a live app password, accepted where app passwords belong.
    assert.equal((await call(base, 'GET', '/auth/basic', undefined, basic(CAROL.address, grouped))).status, 200);
    // The page says what app passwords are for (#17, task C) on the shape of what was typed alone:
    // a made-up one, on an address that does not exist, gets the very same page as a live one.
    const SHAPED = 'abcd abcd abcd abcd abcd';
    const NOBODY = 'nobody-at-all@contoso.test';
    const shaped = await new FetchBrowser(base).signIn(NOBODY, SHAPED);
    assert.match(shaped.body, /not for signing in here/);
    const wrong = await new FetchBrowser(base).signIn(CAROL.address, WRONG);
    assert.doesNotMatch(wrong.body, /app password/, 'an ordinary wrong password gets the generic sentence');
    for (const typed of [grouped, grouped.replace(/ /g, '')]) {
      const r = await new FetchBrowser(base).signIn(CAROL.address, typed);
      assert.equal(r.status, 401);
      assert.equal(
        normalise(r.body, CAROL.address),
        normalise(shaped.body, NOBODY),
        'the same page as a made-up app password on an unknown address',
      );
      assert.equal(r.headers.get('location'), null);
      assert.ok(
        !r.headers.getSetCookie().some((c) => /^sesame_(session|flow)=/.test(c)),
        'no session, no second-factor step',
      );
    }
    const apiShaped = await call(base, 'POST', '/api/v1/sessions', { email: NOBODY, password: SHAPED });
    const apiAp = await call(base, 'POST', '/api/v1/sessions', { email: CAROL.address, password: grouped });
    assert.deepEqual({ status: apiAp.status, text: apiAp.text }, { status: apiShaped.status, text: apiShaped.text });
    assert.match(apiAp.text, /"code":"sign_in_failed"/);
    // The admin sees what happened.
    const reasons = (await signInLog(base, adminToken))
      .filter((e) => e.addressTyped === CAROL.address && (e.protocol === 'web' || e.protocol === 'api'))
      .flatMap((e) => Array<string>(e.count).fill(e.reason));
    assert.equal(reasons.filter((r) => r === 'app_password_refused').length, 3);
  });

  it('probe: a planted session cookie before sign-in is replaced by a new id, with the password alone and through the second factor', async () => {
    const PLANTED = 'planted-by-attacker-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const sessionOf = (b: FetchBrowser) => b.jar.get('sesame_session');
    const victim = new FetchBrowser(base);
    victim.jar.set('sesame_session', PLANTED);
    await webSignIn(victim, DAVE.address, DAVE.password);
    assert.ok(sessionOf(victim) && sessionOf(victim) !== PLANTED, 'a new id');
    const attacker = new FetchBrowser(base);
    attacker.jar.set('sesame_session', PLANTED);
    assert.equal((await attacker.get('/account')).status, 303, 'the planted value opens nothing');

    // The attacker plants a session of their own, valid, and waits for the victim to sign in over it.
    const own = new FetchBrowser(base);
    await webSignIn(own, MALLORY.address, MALLORY.password);
    const mallorys = sessionOf(own)!;
    const victim2 = new FetchBrowser(base);
    victim2.jar.set('sesame_session', mallorys);
    // Signed in (as Mallory) the browser is sent on from /signin: the form is posted from another page, as a second sign-in is.
    const over = await victim2.submit('/account', '/signin', { email: DAVE.address, password: DAVE.password });
    assert.equal(over.headers.get('location'), '/account');
    assert.ok(sessionOf(victim2) && sessionOf(victim2) !== mallorys);
    assert.match((await victim2.get('/account')).body, /dave@contoso\.test/);
    const reuse = new FetchBrowser(base);
    reuse.jar.set('sesame_session', mallorys);
    assert.equal((await reuse.get('/account')).status, 303, 'the planted session was ended, not upgraded');

    // With a second factor: no session at the password step, a new one at the end.
    const mfa = new FetchBrowser(base);
    mfa.jar.set('sesame_session', PLANTED);
    const done = await webSignInWithRecovery(mfa, CAROL.address, CAROL.password, carol.recoveryCodes[0]!);
    assert.equal(done.headers.get('location'), '/account');
    assert.ok(sessionOf(mfa) && sessionOf(mfa) !== PLANTED);
  });

  /** Targets an attacker puts in ?next= or a forged form's `next`; every one must land on this site. */
  const HOSTILE = [
    '//evil.example',
    '/\\evil.example',
    'https:evil.example',
    'javascript:alert(1)',
    'https://evil.example/',
    'JaVaScRiPt:alert(1)',
    'data:text/html,<svg onload=alert(1)>',
    '\\\\evil.example',
    '/\\/evil.example',
    '/.//evil.example',
    '/..//evil.example',
    '/%2e//evil.example',
    '/a/..//evil.example',
    ' //evil.example',
    '/\t/evil.example',
    '/\r\nLocation: https://evil.example',
  ];
  const hiddenNext = (html: string) =>
    /name="next" value="([^"]*)"/
      .exec(html)?.[1]
      ?.replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');

  it('extra probe: open redirect after sign-in: //evil, /\\evil, https:evil, javascript: (and dot-segment tricks) land on a same-site path', async () => {
    for (const next of HOSTILE) {
      const b = new FetchBrowser(base);
      // The link an attacker sends: the sign-in page carries only a safe `next` forward.
      const page = await b.get(`/signin?next=${encodeURIComponent(next)}`);
      assert.equal(page.status, 200);
      const carried = hiddenNext(page.body);
      assert.ok(
        carried === undefined || isSameSitePath(carried, base),
        `${JSON.stringify(next)} carried as ${JSON.stringify(carried)}`,
      );
      // A forged form posting `next` directly.
      const r = await b.request(
        '/signin',
        form({ _csrf: csrfOf(page.body), email: DAVE.address, password: DAVE.password, next }),
      );
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), '/account', `${JSON.stringify(next)} after sign-in`);
      // Already signed in, /signin?next= sends the visitor on: same rule.
      const again = await b.get(`/signin?next=${encodeURIComponent(next)}`);
      assert.equal(again.headers.get('location'), '/account', `${JSON.stringify(next)} when signed in`);
      // The language switch's way back.
      const lang = await b.submit('/account', '/lang', { lang: 'en', back: next });
      assert.ok(
        isSameSitePath(lang.headers.get('location'), base),
        `${JSON.stringify(next)} after /lang: ${lang.headers.get('location')}`,
      );
    }
    // A same-site path is kept, so the check is not simply "always /account".
    const b = new FetchBrowser(base);
    const page = await b.get('/signin');
    const r = await b.request(
      '/signin',
      form({ _csrf: csrfOf(page.body), email: DAVE.address, password: DAVE.password, next: '/security-info?x=1' }),
    );
    assert.equal(r.headers.get('location'), '/security-info?x=1');
  });

  it('extra probe: open redirect after sign-in with a second factor: the flow carries only a same-site path to its end', async () => {
    for (const [i, next] of ['//evil.example', '/.//evil.example'].entries()) {
      const b = new FetchBrowser(base);
      const done = await webSignInWithRecovery(b, CAROL.address, CAROL.password, carol.recoveryCodes[1 + i]!, next);
      assert.equal(done.status, 303);
      assert.equal(done.headers.get('location'), '/account', JSON.stringify(next));
    }
  });
});
