/** Security headers (checklist 33) and output escaping on every page (checklist 35). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { ADMIN, Browser, makeWorld, type World } from '../support/world.js';

describe('security headers and escaping', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite');
    await w.ctx.accounts.addUser(OPERATOR, {
      address: 'xss@contoso.test',
      name: '<svg onload=alert(1)>',
      password: 'granite-orchid-sail-31',
    });
  });
  after(async () => w.close());

  it('sends a strict CSP without inline script, forbids framing, sniffing and cross-site referrers', async () => {
    for (const url of ['/signin', '/nope', '/api/v1/me']) {
      const res = await new Browser(w.app).get(url);
      const csp = String(res.headers['content-security-policy']);
      assert.match(csp, /default-src 'self'/, url);
      assert.match(csp, /script-src 'self'(;|$)/, url);
      assert.match(csp, /frame-ancestors 'none'/, url);
      assert.match(csp, /object-src 'none'/, url);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, url);
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'same-origin');
      assert.equal(res.headers['strict-transport-security'], undefined, 'no HSTS on plain http');
    }
  });

  it('keeps browser machinery off the machine-facing routes: no cookies, no page headers on /healthz and the legacy endpoints', async () => {
    for (const url of ['/healthz', '/auth/basic']) {
      const res = await w.app.inject({
        method: 'GET',
        url,
        headers: { 'accept-language': 'nl', cookie: 'sesame_lang=nl' },
      });
      assert.equal(res.headers['set-cookie'], undefined, url);
      assert.equal(res.headers['content-security-policy'], undefined, url);
    }
    // A malformed body on a legacy endpoint gets a JSON error, not a page.
    const bad = await w.app.inject({
      method: 'POST',
      url: '/oauth2/introspect',
      headers: { 'content-type': 'application/json' },
      payload: '{not json',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { error: { code: string } }).error.code, 'invalid_input');
  });

  it('has no inline script or style on any page, and escapes user-supplied names everywhere', async () => {
    const xss = new Browser(w.app);
    await xss.signIn('xss@contoso.test', 'granite-orchid-sail-31');
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN);
    const pages = [
      await xss.get('/account'),
      await admin.get('/admin/users'),
      await admin.get('/admin/users?q=%3Csvg'),
      await admin.get('/admin/sign-ins'),
      await new Browser(w.app).get('/signin'),
    ];
    for (const p of pages) {
      assert.doesNotMatch(p.body, /<script|<style|<[^>]*\s(style|on\w+)=/i);
      assert.doesNotMatch(p.body, /<svg/);
    }
    assert.match(pages[0]!.body, /&lt;svg onload=alert\(1\)&gt;/);
    assert.match(pages[1]!.body, /&lt;svg onload=alert\(1\)&gt;/);
  });
});
