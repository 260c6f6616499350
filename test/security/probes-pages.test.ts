/**
 * Black-box probes of the pages (issue #7), against the real server over HTTP: a cross-site POST
 * that creates an app password or disables MFA is refused and changes nothing (checklist 32), and
 * `<svg onload=alert(1)>` as a display name, an app-password name and a user agent is inert on
 * every page that shows it (35). Everything the probes need is made over HTTP too: the hostile
 * user by the admin API and a set-password link, their authenticator app through the JSON API
 * flow, their app passwords through the API and the Security info page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { FetchBrowser, type FetchAnswer } from '../support/fetch-browser.js';
import {
  basic,
  bearer,
  call,
  csrfOf,
  form,
  registerTotp,
  startProbeServer,
  webSignInWithRecovery,
  type ProbeServer,
  type Registered,
} from '../support/probes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
const PAT = { address: 'pat@contoso.test', password: 'quiet-meadow-copper-77' };
const XSS = { address: 'xss@contoso.test', password: 'granite-orchid-sail-31' };
const HOSTILE = '<svg onload=alert(1)>';
const ESCAPED = '&lt;svg onload=alert(1)&gt;';
const EVIL_ORIGIN = { origin: 'https://evil.example', referer: 'https://evil.example/attack.html' };

/** Markup an attacker's text must never become: the element itself, or an event handler attribute on any tag. */
function assertInert(label: string, page: FetchAnswer) {
  assert.doesNotMatch(page.body, /<svg/i, `${label}: a raw <svg> element`);
  // Tags with their quoted attribute values blanked: escaped text inside a value is inert and may say anything.
  const tags = [...page.body.matchAll(/<[a-z][^>]*>/gi)].map((m) => m[0].replace(/"[^"]*"|'[^']*'/g, '""'));
  assert.deepEqual(
    tags.filter((t) => /\son\w+\s*=/i.test(t)),
    [],
    `${label}: an event handler attribute`,
  );
  assert.doesNotMatch(page.body, /<script(?![^>]*\ssrc=)/i, `${label}: inline script`);
  assert.doesNotMatch(String(page.headers.get('content-security-policy')), /unsafe-inline|unsafe-eval/, label);
}

/** The create form's one-time nonce (a repeated post of the same form makes nothing more). */
function nonceOf(html: string): Record<string, string> {
  const nonce = /name="nonce" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(nonce, 'the app-password form carries a nonce');
  return { nonce };
}

describe('probes: cross-site requests and hostile text on the pages', () => {
  let probe: ProbeServer;
  let base = '';
  let adminToken = '';
  let pat: Registered;
  let xss: Registered;

  before(async () => {
    ({ probe } = await startProbeServer('pages', {}, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, PAT);
      await ctx.mfaAdmin.setUserState(OPERATOR, PAT.address, 'enabled');
    }));
    base = probe.base;
    adminToken = await adminApiToken(base, ADMIN);
    pat = await registerTotp(base, PAT.address, PAT.password);

    // The hostile user, made over HTTP: the admin API adds them (name and all), they set a password through the link.
    const added = await call(
      base,
      'POST',
      '/api/v1/users',
      { address: XSS.address, name: HOSTILE },
      bearer(adminToken),
    );
    assert.equal(added.status, 201, added.text);
    const link = new URL(added.body.setPasswordUrl as string);
    const b = new FetchBrowser(base);
    const setPage = await b.get(link.pathname + link.search);
    assertInert('set-password page', setPage);
    const set = await b.request(
      '/set-password',
      form({
        _csrf: csrfOf(setPage.body),
        token: link.searchParams.get('token')!,
        password: XSS.password,
        confirm: XSS.password,
      }),
    );
    assert.equal(set.status, 303);
    assert.equal(
      (await call(base, 'PUT', `/api/v1/users/${XSS.address}/mfa`, { state: 'enabled' }, bearer(adminToken))).status,
      200,
    );
    xss = await registerTotp(base, XSS.address, XSS.password);
  });
  after(async () => probe?.stop());

  const appPasswordNames = async (token: string) =>
    (
      (await call(base, 'GET', '/api/v1/me/app-passwords', undefined, bearer(token))).body.appPasswords as {
        name: string;
      }[]
    )
      .map((p) => p.name)
      .sort();

  it('probe: a cross-site POST that creates an app password is refused and creates nothing', async () => {
    const victim = new FetchBrowser(base);
    assert.equal(
      (await webSignInWithRecovery(victim, PAT.address, PAT.password, pat.recoveryCodes[0]!)).headers.get('location'),
      '/account',
    );
    const before = await appPasswordNames(pat.token);
    // The attacker's page posts the form; the browser attaches the victim's cookies (as an older
    // browser, or a same-site subdomain, would), but the attacker cannot read the token.
    const noToken = await victim.request(
      '/security-info/app-passwords',
      form({ name: 'planted-by-attacker' }, EVIL_ORIGIN),
    );
    assert.equal(noToken.status, 403);
    const forged = await victim.request(
      '/security-info/app-passwords',
      form({ name: 'planted-by-attacker', _csrf: 'x'.repeat(52) }, EVIL_ORIGIN),
    );
    assert.equal(forged.status, 403);
    // A real token, but minted for the attacker's own browser: bound to another CSRF cookie.
    const attacker = new FetchBrowser(base);
    const theirs = csrfOf((await attacker.get('/signin')).body);
    assert.equal(
      (
        await victim.request(
          '/security-info/app-passwords',
          form({ name: 'planted-by-attacker', _csrf: theirs }, EVIL_ORIGIN),
        )
      ).status,
      403,
    );
    // The JSON API takes no cookies at all: a cross-site (text/plain, "simple") request with them is unauthenticated.
    const simple = await victim.request('/api/v1/me/app-passwords', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...EVIL_ORIGIN },
      body: JSON.stringify({ name: 'planted-by-attacker' }),
    });
    assert.ok([400, 401, 415].includes(simple.status), `API: ${simple.status}`);
    assert.deepEqual(await appPasswordNames(pat.token), before, 'nothing was created');
    // Control: the same form from the page itself works, so the refusals above were the CSRF check.
    const page = await victim.get('/security-info');
    const made = await victim.request(
      '/security-info/app-passwords',
      form({ ...nonceOf(page.body), _csrf: csrfOf(page.body), name: 'made-on-the-page', protocols: 'imap' }),
    );
    assert.equal(made.status, 303, 'made, and redirected to the page that shows it once');
    assert.deepEqual(await appPasswordNames(pat.token), [...before, 'made-on-the-page'].sort());
  });

  it("probe: a cross-site POST that disables MFA (the admin's per-user state, the user's own method) is refused and changes nothing", async () => {
    const admin = new FetchBrowser(base);
    await signInAdminWithMfa(admin, ADMIN);
    for (const fields of [{}, { _csrf: 'x'.repeat(52) }] as Record<string, string>[]) {
      const r = await admin.request(
        '/admin/users/mfa',
        form({ address: PAT.address, state: 'disabled', ...fields }, EVIL_ORIGIN),
      );
      assert.equal(r.status, 403);
    }
    const me = await call(base, 'GET', '/api/v1/me', undefined, bearer(pat.token));
    assert.equal((me.body.user as { mfaState: string }).mfaState, 'enforced', 'MFA still enforced');

    const user = new FetchBrowser(base);
    await webSignInWithRecovery(user, PAT.address, PAT.password, pat.recoveryCodes[1]!);
    const info = await user.get('/security-info');
    const methodId = /action="\/security-info\/delete"[^>]*>.*?name="method" value="([^"]+)"/s.exec(info.body)?.[1];
    assert.ok(methodId, 'a fresh session offers to delete the method');
    for (const fields of [{}, { _csrf: 'x'.repeat(52) }] as Record<string, string>[]) {
      assert.equal(
        (await user.request('/security-info/delete', form({ method: methodId, ...fields }, EVIL_ORIGIN))).status,
        403,
      );
    }
    // The method is still there: the next sign-in asks for it.
    const flow = await call(base, 'POST', '/api/v1/sessions', { email: PAT.address, password: PAT.password });
    assert.equal(flow.body.state, 'second_factor');
    assert.deepEqual(
      (flow.body.methods as { id: string }[]).map((m) => m.id),
      [methodId],
    );
  });

  it('probe: <svg onload=alert(1)> as a display name, an app-password name and a user agent is inert on every page that shows it', async () => {
    // An app password named by the attacker, through the API (fresh second factor from the registration) ...
    const viaApi = await call(base, 'POST', '/api/v1/me/app-passwords', { name: HOSTILE }, bearer(xss.token));
    assert.equal(viaApi.status, 201, viaApi.text);
    // ... used with a hostile user agent, so the name and the agent reach the sign-in log.
    const used = await call(base, 'GET', '/auth/basic', undefined, {
      ...basic(XSS.address, viaApi.body.password as string),
      'user-agent': HOSTILE,
    });
    assert.equal(used.status, 200);
    await call(
      base,
      'POST',
      '/api/v1/sessions',
      { email: `${HOSTILE}@contoso.test`, password: 'x' },
      { 'user-agent': HOSTILE },
    );

    const user = new FetchBrowser(base);
    assert.equal((await user.signIn(XSS.address, XSS.password)).headers.get('location'), '/signin/mfa');
    const secondStep = await user.get('/signin/mfa');
    await user.submit('/signin/mfa', '/signin/mfa/switch', { method: 'recovery' });
    const recoveryStep = await user.get('/signin/mfa');
    const signedIn = await user.request(
      '/signin/mfa/verify',
      form({ _csrf: csrfOf(recoveryStep.body), code: xss.recoveryCodes[0]! }),
    );
    assert.equal(signedIn.headers.get('location'), '/account');
    // ... and one more through the Security info page, whose answer shows the new one once.
    const info = await user.get('/security-info');
    const posted = await user.request(
      '/security-info/app-passwords',
      form({
        ...nonceOf(info.body),
        _csrf: csrfOf(info.body),
        name: `${HOSTILE}"'><img src=x onerror=alert(2)>`,
        protocols: 'imap',
      }),
    );
    assert.equal(posted.status, 303);
    const created = await user.get(String(posted.headers.get('location')));

    const admin = new FetchBrowser(base);
    await signInAdminWithMfa(admin, ADMIN);
    const anonymous = new FetchBrowser(base);
    const pages: [string, FetchAnswer, boolean][] = [
      // [what, page, must show the escaped name]
      ['second step of sign-in', secondStep, false],
      ['second step, recovery code', recoveryStep, false],
      ['My account', await user.get('/account'), true],
      ['Security info (after creating)', created, true],
      ['Security info', await user.get('/security-info'), true],
      ['admin: Users', await admin.get('/admin/users'), true],
      ['admin: Users, searched', await admin.get(`/admin/users?q=${encodeURIComponent('<svg')}`), true],
      ['admin: Users, notice', await admin.get(`/admin/users?m=disabled&who=${encodeURIComponent(HOSTILE)}`), true],
      ['admin: the user page', await admin.get(`/admin/users/user?address=${encodeURIComponent(XSS.address)}`), true],
      ['admin: Sign-in log', await admin.get('/admin/sign-ins'), true],
      ['sign-in form, echoing the typed address', await anonymous.signIn(`${HOSTILE}@contoso.test`, 'x'), true],
      ['not found', await anonymous.get(`/${encodeURIComponent(HOSTILE)}`), false],
      ['sign-in with next', await anonymous.get(`/signin?next=${encodeURIComponent(`/${HOSTILE}`)}`), false],
    ];
    for (const [label, page, showsIt] of pages) {
      assertInert(label, page);
      if (showsIt) assert.ok(page.body.includes(ESCAPED), `${label}: the text is shown, escaped`);
    }
    // The sign-in log shows the app password's name and the user agent (both escaped), as the admin needs them.
    const log = pages.find(([l]) => l === 'admin: Sign-in log')![1].body;
    assert.match(log, new RegExp(`<span class="ap-name">${ESCAPED.replace(/[()]/g, '\\$&')}</span>`));
    assert.match(log, new RegExp(`<td[^>]*class="agent" title="${ESCAPED.replace(/[()]/g, '\\$&')}">`));
  });
});
