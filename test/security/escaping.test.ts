/**
 * Output escaping and parameterised queries (checklist 35): `<svg onload=alert(1)>` as a display
 * name, as app-password names and as user agents is inert on every page that shows it (the
 * second step and a security key's options included); no query is built from strings.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { ADMIN, Browser, FakeClock, makeWorld, oathtoolTotp, secretFrom, type World } from '../support/world.js';

const XSS = '<svg onload=alert(1)>';
const XSS2 = '"><script>alert(2)</script><img src=x onerror=alert(3)>';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A page shows user-supplied text inert: no element or event handler from it, only its escaped form. */
function inert(res: LightMyRequestResponse, label: string) {
  assert.equal(res.statusCode, 200, `${label}: ${res.statusCode}`);
  assert.doesNotMatch(res.body, /<svg|<script>alert|<img src=x/i, label);
  // An event-handler attribute, once quoted attribute values (where escaped text may sit) are set aside.
  assert.doesNotMatch(res.body.replace(/"[^"]*"/g, '""'), /<[^>]*\s(onload|onerror)=/i, label);
}

describe('user-supplied strings are escaped on every page', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 10, 0, 0));
  const xss = { address: 'xss@contoso.test', password: 'inert-markup-lantern-3' };
  before(async () => {
    // A host name, not an IP address, so that security keys are offered (their options carry the name).
    w = await makeWorld('sqlite', { publicUrl: 'http://localhost:8080' }, { clock });
    await w.ctx.accounts.addUser(OPERATOR, { ...xss, name: XSS });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, xss.address, 'enabled');
  });
  after(async () => w.close());

  it('a display name, app-password names and user agents with markup are inert on every page that shows them', async () => {
    const b = new Browser(w.app, { 'user-agent': `${XSS} ${XSS2}` });
    await b.signIn(xss.address, xss.password);
    inert(await b.get('/signin/mfa'), 'More information required');
    await b.submit('/signin/mfa', '/signin/mfa/setup', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'webauthn' });
    const key = await b.get('/signin/mfa');
    inert(key, 'security key registration (its options name the user)');
    assert.match(key.body, /&lt;svg onload=alert\(1\)&gt;|\\u003csvg/, 'the name is in the options, escaped');
    await b.submit('/signin/mfa', '/signin/mfa/choose', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
    const qr = await b.get('/signin/mfa');
    inert(qr, 'authenticator app registration');
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secretFrom(qr.body), clock.now()) });
    inert(await b.get('/signin/mfa'), 'verification succeeded');
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/done', {});

    const account = await b.get('/account');
    inert(account, 'My account');
    assert.match(account.body, /&lt;svg onload=alert\(1\)&gt;/);
    for (const name of [XSS, XSS2]) {
      const made = await b.submitForm('/security-info', '/security-info/app-passwords', { name });
      inert(await b.get(String(made.headers.location)), `the new app password "${name}"`);
    }
    const si = await b.get('/security-info');
    // The confirmation pages name what stops working: names with markup stay text there too.
    const firstId = /name="id" value="([^"]+)"/.exec(si.body)![1]!;
    const asked = await b.submit('/security-info', '/security-info/app-passwords/delete', { id: firstId });
    inert(asked, 'the confirmation of deleting an app password');
    inert(
      await b.submit('/security-info', '/security-info/app-passwords/delete-all', {}),
      'the confirmation of Delete all',
    );
    inert(si, 'Security info');
    assert.match(si.body, /<td[^>]*class="ap-name">&lt;svg onload=alert\(1\)&gt;<\/td>/);
    assert.match(si.body, /<td[^>]*class="ap-name">&quot;&gt;&lt;script&gt;alert\(2\)&lt;\/script&gt;/);

    // The app password used by a mail app whose user agent carries markup, and a second step.
    const key2 = (await w.ctx.integrations.add('dovecot')).key;
    const mailAp = await b.submitForm('/security-info', '/security-info/app-passwords', { name: `${XSS} mail` });
    const ap = /<code id="app-password" class="secret">([a-z ]+)<\/code>/.exec(
      (await b.get(String(mailAp.headers.location))).body,
    )![1]!;
    const used = await w.app.inject({
      method: 'POST',
      url: '/auth/mail',
      headers: { authorization: `Bearer ${key2}`, 'user-agent': XSS2 },
      payload: { user: xss.address, password: ap, service: 'imap' },
    });
    assert.equal(used.statusCode, 200);
    const again = new Browser(w.app, { 'user-agent': XSS });
    await again.signIn(xss.address, xss.password);
    inert(await again.get('/signin/mfa'), 'the second step');

    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN, { clock });
    for (const url of [
      '/admin/users',
      `/admin/users?q=${encodeURIComponent(XSS)}`,
      '/admin/users?m=disabled&who=%3Csvg%20onload%3Dalert(1)%3E',
      `/admin/users/user?address=${encodeURIComponent(xss.address)}`,
      `/admin/users/user?address=${encodeURIComponent(xss.address)}&m=disabled`,
      '/admin/sign-ins',
    ]) {
      inert(await admin.get(url), url);
    }
    const log = (await admin.get('/admin/sign-ins')).body;
    assert.match(
      log,
      /<span class="ap-name">&lt;svg onload=alert\(1\)&gt; mail<\/span>/,
      'the app-password name in the sign-in log',
    );
    // The client in short, the whole header on hover: both escaped.
    assert.match(
      log,
      /<td[^>]*class="agent" title="&lt;svg onload=alert\(1\)&gt;[^"]*">&lt;svg<\/td>/,
      'the user agent in the sign-in log',
    );
  });

  it('every query is parameterised: no SQL is built from strings, and quotes in input are just text', async () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(dir, e.name));
        else if (e.name.endsWith('.ts')) files.push(path.join(dir, e.name));
      }
    };
    walk(path.join(root, 'src'));
    assert.ok(files.length > 50);
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      const rel = path.relative(root, f);
      assert.doesNotMatch(text, /\bsql\.(raw|lit|id|ref|table|join)\(/, `${rel}: raw SQL`);
      assert.doesNotMatch(
        text,
        /\.(prepare|exec|query|execute)\(\s*`[^`]*\$\{/,
        `${rel}: a query built with a template string`,
      );
      assert.doesNotMatch(
        text,
        /\.(prepare|exec|query)\(\s*['"][^'"]*['"]\s*\+/,
        `${rel}: a query built by concatenation`,
      );
      // Kysely's sql`...` tag binds every ${} as a parameter; only these files use it, and only for values.
      if (/\bsql`|\bsql</.test(text))
        assert.ok(
          [
            'src/storage/verification-reads.ts',
            'src/storage/readiness.ts',
            'src/storage/report-repository.ts',
            // findSignInOwner: a LEFT JOIN onto one constant row, the address and domain bound as values.
            'src/storage/account-repository.ts',
            // The aggregated sign-in upsert (column arithmetic, no input) and retention's rowid/ctid.
            'src/storage/audit-repository.ts',
            'src/storage/retention.ts',
          ].includes(rel),
          `${rel}: new use of the sql tag, check it`,
        );
    }
    // Quotes and LIKE wildcards reach the store as values.
    const admin = await adminApiToken(w.app, ADMIN, { clock });
    for (const q of ["' OR '1'='1", "x'); DROP TABLE users; --", '%', '_']) {
      const r = await w.app.inject({
        method: 'GET',
        url: `/api/v1/users?q=${encodeURIComponent(q)}`,
        headers: { authorization: `Bearer ${admin}` },
      });
      assert.equal(r.statusCode, 200, q);
      assert.equal(r.json().total, 0, q);
    }
    const odd = await w.app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      payload: { email: "ada'--@contoso.test", password: "' OR '1'='1" },
    });
    assert.equal(odd.statusCode, 401);
    assert.ok(
      (await w.ctx.store.db.selectFrom('users').select('id').execute()).length >= 4,
      'the users are all still there',
    );
  });
});
