/** The web pages through Fastify's inject(): sign-in and out in both languages, My account, admin pages. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { ADMIN, Browser, csrfFrom, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

describe('web pages', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite');
  });
  after(async () => w.close());

  it('shows the sign-in page in English by default with the product words', async () => {
    const res = await new Browser(w.app).get('/signin');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/html/);
    assert.match(res.body, /<html lang="en">/);
    assert.match(res.body, /<label for="email">Email<\/label>/);
    assert.match(res.body, /<label for="password">Password<\/label>/);
    assert.match(res.body, /<button type="submit" class="primary">Sign in<\/button>/);
  });

  it('shows it in Dutch when the browser prefers Dutch', async () => {
    const res = await new Browser(w.app, { 'accept-language': 'nl-NL,nl;q=0.9,en;q=0.5' }).get('/signin');
    assert.match(res.body, /<html lang="nl">/);
    assert.match(res.body, /<label for="email">E-mail<\/label>/);
    assert.match(res.body, /<label for="password">Wachtwoord<\/label>/);
    assert.match(res.body, />Aanmelden<\/button>/);
  });

  it('switches language with the visible switch and remembers it', async () => {
    const b = new Browser(w.app, { 'accept-language': 'en' });
    const res = await b.submit('/signin', '/lang', { lang: 'nl', back: '/signin' });
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/signin');
    assert.match((await b.get('/signin')).body, /Wachtwoord/);
    const evil = await b.submit('/signin', '/lang', { lang: 'en', back: '//evil.test/' });
    assert.equal(evil.headers.location, '/', 'the way back is a path on this site');
  });

  it('has a favicon, and marks the current page in the navigation (#17, item 5)', async () => {
    const b = new Browser(w.app);
    assert.match(
      (await b.get('/signin')).body,
      /<link rel="icon" href="\/static\/favicon\.svg" type="image\/svg\+xml">/,
    );
    const ico = await b.get('/favicon.ico');
    assert.equal(ico.statusCode, 301);
    assert.equal(ico.headers.location, '/static/favicon.svg');
    const svg = await b.get('/static/favicon.svg');
    assert.equal(svg.statusCode, 200);
    assert.match(String(svg.headers['content-type']), /^image\/svg\+xml/);
    await b.signIn(USER.address, USER.password);
    const nav = async (url: string) =>
      /<nav aria-label="[^"]+">([\s\S]*?)<\/nav>/.exec((await b.get(url)).body)?.[1] ?? '';
    const current = async (url: string) =>
      [...(await nav(url)).matchAll(/<a href="([^"]+)" aria-current="page">/g)].map((m) => m[1]);
    assert.deepEqual(await current('/account'), ['/account']);
    assert.deepEqual(await current('/account/sessions'), ['/account'], 'a page beneath My account marks My account');
    assert.deepEqual(await current('/security-info'), ['/security-info']);
  });

  it('signs in, shows My account with name and organization, and signs out', async () => {
    const b = new Browser(w.app);
    const res = await b.signIn(USER.address, USER.password);
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/account');
    const account = await b.get('/account');
    assert.equal(account.statusCode, 200);
    assert.match(account.body, /<dd id="account-name">Bob Builder<\/dd>/);
    assert.match(account.body, /<dd id="account-org">Contoso<\/dd>/);
    assert.doesNotMatch(account.body, /\/admin\/users/, 'no admin links for a user');
    const out = await b.post('/signout', { _csrf: csrfFrom(account.body) });
    assert.equal(out.statusCode, 303);
    assert.equal(out.headers.location, '/signin?m=signedout');
    assert.match((await b.get('/signin?m=signedout')).body, /You have signed out\./);
    const again = await b.get('/account');
    assert.equal(again.statusCode, 303);
    assert.match(again.headers.location as string, /^\/signin\?next=%2Faccount/);
  });

  it('signs in and out in Dutch', async () => {
    const b = new Browser(w.app, { 'accept-language': 'nl' });
    await b.signIn(USER.address, USER.password);
    const account = await b.get('/account');
    assert.match(account.body, /<h1>Mijn account<\/h1>/);
    assert.match(account.body, />Afmelden<\/button>/);
    assert.match(account.body, /<dt>Organisatie<\/dt>/);
    const wrong = await new Browser(w.app, { 'accept-language': 'nl' }).signIn(USER.address, 'not-the-password');
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.body, /Uw account of wachtwoord is onjuist\./);
  });

  it('goes back to the page that asked for sign-in, but only on this site', async () => {
    const b = new Browser(w.app);
    const first = await b.get('/admin/users?q=bob');
    assert.equal(first.headers.location, '/signin?next=%2Fadmin%2Fusers%3Fq%3Dbob');
    // The admin's second step keeps `next` (the sign-in form on that page posts it).
    const res = await signInAdminWithMfa(b, ADMIN, { next: '/admin/users?q=bob' });
    assert.equal(res.location, '/admin/users?q=bob');
    for (const next of ['//evil.test', '/\\evil.test', 'https:evil.test', 'javascript:alert(1)']) {
      const c = new Browser(w.app);
      const r = await c.submit('/signin', '/signin', { email: USER.address, password: USER.password, next });
      assert.equal(r.headers.location, '/account', next);
    }
  });

  it('lets an admin list, search, add, disable and enable users of their organization only', async () => {
    const b = new Browser(w.app);
    await signInAdminWithMfa(b, ADMIN);
    const list = await b.get('/admin/users');
    assert.equal(list.statusCode, 200);
    assert.match(list.body, /bob@contoso\.test/);
    assert.doesNotMatch(list.body, /fabrikam/, 'another organization is invisible');
    assert.match((await b.get('/admin/users?q=builder')).body, /bob@contoso\.test/);
    assert.doesNotMatch((await b.get('/admin/users?q=zzz')).body, /bob@contoso\.test/);

    const posted = await b.submit('/admin/users', '/admin/users', {
      address: 'carol@contoso.test',
      name: 'Carol <b>Chen</b>',
    });
    assert.equal(posted.statusCode, 303, 'post/redirect/get');
    assert.doesNotMatch(posted.body, /set-password/);
    assert.doesNotMatch(String(posted.headers.location), /token/, 'the link is never in the URL');
    const added = await b.get(String(posted.headers.location));
    assert.equal(added.statusCode, 200);
    assert.match(added.body, /Carol &lt;b&gt;Chen&lt;\/b&gt;/);
    const link = /<code id="set-password-link"[^>]*>([^<]+)<\/code>/.exec(added.body)?.[1];
    assert.ok(link?.startsWith('http://127.0.0.1:8080/set-password?token='), link);

    assert.match(
      added.body,
      /name="back" value="\/admin\/users\?m=added/,
      'the language switch returns to a real page',
    );
    const reload = await b.get(String(posted.headers.location));
    assert.doesNotMatch(reload.body, /set-password-link/, 'shown once');
    assert.match(reload.body, /was shown once and cannot be shown again/);

    const outside = await b.submit('/admin/users', '/admin/users', { address: 'mallory@fabrikam.test' });
    assert.equal(outside.statusCode, 403);
    const dup = await b.submit('/admin/users', '/admin/users', { address: 'carol@contoso.test' });
    assert.equal(dup.statusCode, 409);
    assert.match(dup.body, /A user carol@contoso\.test already exists\./);
    const bad = await b.submit('/admin/users', '/admin/users', { address: 'not an address' });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /Enter an email address/);

    const dis = await b.submit('/admin/users', '/admin/users/disable', { address: 'bob@contoso.test' });
    assert.equal(dis.statusCode, 303, 'post/redirect/get');
    const after = await b.get(dis.headers.location as string);
    assert.match(after.body, /User bob@contoso\.test was disabled/);
    assert.match(after.body, /name="back" value="\/admin\/users\?m=disabled&amp;who=bob%40contoso\.test"/);
    assert.equal(
      (await new Browser(w.app).signIn(USER.address, USER.password)).statusCode,
      401,
      'a disabled user cannot sign in',
    );
    await b.submit('/admin/users', '/admin/users/enable', { address: 'bob@contoso.test' });
    assert.equal((await new Browser(w.app).signIn(USER.address, USER.password)).statusCode, 303);

    const foreign = await b.submit('/admin/users', '/admin/users/disable', { address: OTHER_ADMIN.address });
    assert.equal(foreign.statusCode, 403, "an admin cannot disable another organization's user");
    assert.equal(
      (
        await w.ctx.accounts.findUserById(
          (
            await w.ctx.store.db
              .selectFrom('users')
              .select('id')
              .where('address', '=', OTHER_ADMIN.address)
              .executeTakeFirstOrThrow()
          ).id,
        )
      )?.status,
      'active',
    );
  });

  it('completes a one-time set-password link once', async () => {
    const b = new Browser(w.app);
    await signInAdminWithMfa(b, ADMIN);
    const posted = await b.submit('/admin/users', '/admin/users', { address: 'dave@contoso.test', name: 'Dave' });
    const added = await b.get(String(posted.headers.location));
    const link = new URL(
      /<code id="set-password-link"[^>]*>([^<]+)<\/code>/.exec(added.body)![1]!.replace(/&amp;/g, '&'),
    );
    const visitor = new Browser(w.app);
    const form = await visitor.get(link.pathname + link.search);
    assert.equal(form.statusCode, 200);
    assert.match(form.body, /dave@contoso\.test/);
    assert.equal(form.headers['referrer-policy'], 'no-referrer');
    const token = link.searchParams.get('token')!;
    const mismatch = await visitor.post('/set-password', {
      _csrf: csrfFrom(form.body),
      token,
      password: 'sapphire-kettle-drum-8',
      confirm: 'other',
    });
    assert.equal(mismatch.statusCode, 400);
    assert.ok(
      mismatch.body.includes(`name="back" value="/set-password?token=${token}"`),
      'switching language keeps the link',
    );
    const common = await visitor.post('/set-password', {
      _csrf: csrfFrom(form.body),
      token,
      password: 'password123',
      confirm: 'password123',
    });
    assert.equal(common.statusCode, 400);
    assert.match(common.body, /too common/);
    const ok = await visitor.post('/set-password', {
      _csrf: csrfFrom(form.body),
      token,
      password: 'sapphire-kettle-drum-8',
      confirm: 'sapphire-kettle-drum-8',
    });
    assert.equal(ok.statusCode, 303);
    assert.equal((await new Browser(w.app).signIn('dave@contoso.test', 'sapphire-kettle-drum-8')).statusCode, 303);
    const reuse = await visitor.post('/set-password', {
      _csrf: csrfFrom(form.body),
      token,
      password: 'another-kettle-drum-9',
      confirm: 'another-kettle-drum-9',
    });
    assert.equal(reuse.statusCode, 400, 'the link works once');
    assert.equal((await new Browser(w.app).signIn('dave@contoso.test', 'another-kettle-drum-9')).statusCode, 401);
  });

  it('shows the sign-in log to admins: every attempt, never a secret, user agent escaped', async () => {
    const attacker = new Browser(w.app, { 'user-agent': '<svg onload=alert(1)>\r\nX-Injected: yes' });
    await attacker.signIn('nobody@contoso.test', 'hunter2-secret-guess');
    await attacker.signIn(USER.address, 'wrong-password-guess');
    const b = new Browser(w.app);
    await signInAdminWithMfa(b, ADMIN);
    const log = await b.get('/admin/sign-ins');
    assert.equal(log.statusCode, 200);
    assert.match(log.body, /nobody@contoso\.test/);
    // Reasons in words, the stable code beside them (#17, item 3).
    assert.match(log.body, /Unknown account <code class="hint">unknown_user<\/code>/);
    assert.match(log.body, /Wrong password <code class="hint">wrong_password<\/code>/);
    assert.match(log.body, /<td[^>]*>Browser<\/td>/);
    // The red is on the outcome ("Failure"), whatever column it is in (My sign-ins has fewer).
    assert.match(
      log.body,
      /<tr class="failure">\s*<td[^>]*>[\s\S]*?<\/td><td[^>]*>[^<]*<\/td><td[^>]*class="outcome">Failure<\/td>/,
    );
    const css = fs.readFileSync(
      path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'public', 'sesame.css'),
      'utf8',
    );
    assert.match(css, /^tr\.failure td\.outcome, tr\.throttled td\.outcome \{ color: var\(--bad\); \}$/m);
    assert.doesNotMatch(css, /td:nth-child/, 'no colour by column number');
    assert.match(log.body, /&lt;svg onload=alert\(1\)&gt;/);
    assert.doesNotMatch(log.body, /<svg/);
    assert.doesNotMatch(log.body, /hunter2-secret-guess|wrong-password-guess/);
    assert.doesNotMatch(log.body, /eve@fabrikam/);
    const rows = await w.ctx.store.db.selectFrom('sign_in_events').selectAll().execute();
    assert.ok(!JSON.stringify(rows).includes('hunter2-secret-guess'), 'no password in the store');
    assert.ok(
      rows.every((r) => !/[\r\n]/.test(r.user_agent)),
      'no CR/LF in logged user agents',
    );
  });

  it('refuses admin pages to users', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    assert.equal((await b.get('/admin/users')).statusCode, 403);
    assert.equal((await b.get('/admin/sign-ins')).statusCode, 403);
    const page = await b.get('/account');
    const res = await b.post('/admin/users', { _csrf: csrfFrom(page.body), address: 'x@contoso.test' });
    assert.equal(res.statusCode, 403);
    assert.equal(
      await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', 'x@contoso.test').executeTakeFirst(),
      undefined,
    );
  });

  it('answers unknown pages with a translated 404 and serves the stylesheet', async () => {
    const res = await new Browser(w.app, { 'accept-language': 'nl' }).get('/nope');
    assert.equal(res.statusCode, 404);
    assert.match(res.body, /Pagina niet gevonden/);
    const css = await new Browser(w.app).get('/static/sesame.css');
    assert.equal(css.statusCode, 200);
  });
});
