/**
 * The admin's page of one user (#17, item 4) over HTTP (inject), on SQLite and PostgreSQL: what it
 * shows (methods, app passwords with their last use, sessions, recent sign-ins), every action on it
 * coming back to it with its notice (destructive ones through their confirmation page), "Send
 * set-password link" (shown once with Copy, mailed when asked, audited, and working), the Users
 * table without per-row buttons, `back` never leading off the console, and who is refused: an
 * admin of another organization (the same answer as for no user at all) and a plain user.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { DeliveryError, type Messenger } from '../../src/adapters/messaging/index.js';
import { addUserWithAppAndEmail } from '../support/people.js';
import { parseMessage, startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, csrfFrom, hiddenFields, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const PUBLIC = 'http://127.0.0.1:8080';
const CAROL = { address: 'carol@contoso.test', password: 'copper-harbour-violin-58', home: 'carol@home.example' };
const page = (address: string) => `/admin/users/user?${new URLSearchParams({ address })}`;

/** A session that proved a second factor, as admin rights need (the admin's sign-in is tested elsewhere). */
async function signedIn(w: World, address: string, amr = ['pwd', 'otp']): Promise<Browser> {
  const user = (await w.ctx.accounts.findUserByAddressOrNull(address))!;
  const { token } = await w.ctx.sessions.start(
    user.id,
    amr,
    { ip: '127.0.0.1', userAgent: 'test' },
    amr.includes('otp') ? Date.now() : null,
  );
  const b = new Browser(w.app);
  b.cookies.set('sesame_session', token);
  return b;
}

const basic = (w: World, address: string, password: string) =>
  w.app.inject({
    method: 'GET',
    url: '/auth/basic',
    headers: {
      authorization: `Basic ${Buffer.from(`${address}:${password}`).toString('base64')}`,
    },
  });

async function audited(w: World, action: string, address: string) {
  const user = (await w.ctx.accounts.findUserByAddressOrNull(address))!;
  return w.ctx.store.db
    .selectFrom('audit_events')
    .select(['actor_label', 'detail'])
    .where('action', '=', action)
    .where('target_user_id', '=', user.id)
    .execute();
}

/** The link shown on the page, unescaped. */
function shownLink(body: string): string {
  const m = /<code id="set-password-link">([^<]+)<\/code>/.exec(body);
  assert.ok(m, 'the page shows the set-password link');
  return m[1]!.replace(/&amp;/g, '&');
}

for (const kind of STORE_KINDS) {
  describe(`the admin's page of one user on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let admin: Browser;
    let carolBrowser: Browser;

    /** Posts the page's form for `action` as the browser would; a confirmation page is confirmed. */
    async function act(action: string, form: Record<string, string> = {}): Promise<LightMyRequestResponse> {
      const r = await admin.submitForm(page(CAROL.address), action, form);
      if (r.statusCode !== 200) return r;
      assert.match(r.body, /id="confirmation"/, `${action} asks first`);
      assert.match(
        r.body,
        new RegExp(`href="${page(CAROL.address).replace(/[?]/g, '\\?')}"`),
        'Cancel goes back to the user page',
      );
      return admin.post(action, { ...hiddenFields(r.body, action), confirm: '1' });
    }

    /** The action came back to Carol's page with notice `m`; that page, with its notice. */
    async function backOnPage(r: LightMyRequestResponse, m: string): Promise<string> {
      assert.equal(r.statusCode, 303, r.body.slice(0, 300));
      const location = String(r.headers.location);
      assert.ok(location.startsWith(`${page(CAROL.address)}&`), location);
      assert.equal(new URL(location, PUBLIC).searchParams.get('m'), m);
      const shown = await admin.get(location);
      assert.equal(shown.statusCode, 200);
      assert.match(shown.body, /<p class="notice" role="status">/);
      return shown.body;
    }

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(kind, {
        publicUrl: PUBLIC,
        smtpUrl: `smtp://127.0.0.1:${smtp.port}`,
        mailFrom: 'Sesame <sesame@contoso.test>',
      });
      // Carol as people are: an authenticator app at her first sign-in, then an alternate email.
      carolBrowser = new Browser(w.app);
      await addUserWithAppAndEmail(w, carolBrowser, { now: () => Date.now() }, smtp.received, CAROL);
      const carol = (await w.ctx.accounts.findUserByAddressOrNull(CAROL.address))!;
      const made = await w.ctx.appPasswords.create(carol, null, 'Phone mail', { ip: '127.0.0.1', locale: 'en' });
      assert.equal((await basic(w, CAROL.address, made.password)).statusCode, 200);
      await w.ctx.flush();
      admin = await signedIn(w, ADMIN.address);
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
    });

    it('shows the user: details, methods by name, app passwords with their last use, sessions and recent sign-ins', async () => {
      const r = await admin.get(page(CAROL.address));
      assert.equal(r.statusCode, 200, r.body.slice(0, 300));
      const b = r.body;
      assert.match(b, /<h1>carol<\/h1>/);
      assert.match(b, /<dd id="user-address">carol@contoso\.test<\/dd>/);
      assert.match(b, /<span id="user-mfa">Enforced<\/span>/, 'enforced once she registered a method');
      const methods = /<table id="user-methods"[^>]*>([\s\S]*?)<\/table>/.exec(b)?.[1] ?? '';
      assert.match(methods, /<td[^>]*>Authenticator app<\/td>/);
      assert.match(methods, /<td[^>]*>Email to another address: c[^<]*@home\.example<\/td>/);
      assert.match(b, /id="user-recovery-codes">10 unused recovery codes</);
      const aps = /<table id="app-password-list"[^>]*>([\s\S]*?)<\/table>/.exec(b)?.[1] ?? '';
      assert.match(aps, /<td[^>]*class="ap-name">Phone mail<\/td>/);
      assert.match(aps, / · HTTP \(Basic\) · 127\.0\.0\.1<\/td>/, 'the last use: time, protocol in words, IP');
      const sessions = /<table id="user-sessions"[^>]*>([\s\S]*?)<\/table>/.exec(b)?.[1] ?? '';
      assert.match(sessions, /<td[^>]*>Browser<\/td>/, "Carol's browser session is listed");
      const signIns = /<table id="user-sign-ins"[^>]*>([\s\S]*?)<\/table>/.exec(b)?.[1] ?? '';
      assert.match(signIns, /HTTP \(Basic\)[\s\S]*?Phone mail/, 'the app-password sign-in, naming the app password');
      assert.match(signIns, /Browser/, 'the browser sign-in');
      assert.match(
        b,
        /<a href="\/admin\/sign-ins\?user=carol%40contoso\.test" id="all-sign-ins">All sign-ins of carol@contoso\.test<\/a>/,
      );
      const log = await admin.get('/admin/sign-ins?user=carol%40contoso.test');
      assert.match(log.body, /carol@contoso\.test/);
      assert.doesNotMatch(log.body, /<td[^>]*>ada@contoso\.test<\/td>/, 'the log filtered to Carol');
      for (const action of [
        'disable',
        'reregister',
        'lift-locks',
        'end-sessions',
        'reset-link',
        'mfa',
        'set-password-link',
      ])
        assert.match(b, new RegExp(`action="/admin/users/${action}"`), `${action} is on the page`);
      // Every form carries its CSRF token.
      const forms = [...b.matchAll(/<form method="post"[\s\S]*?<\/form>/g)].map((m) => m[0]);
      assert.ok(forms.length >= 8);
      for (const f of forms) assert.match(f, /name="_csrf" value="[^"]+"/);
    });

    it('in Dutch too', async () => {
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      nl.cookies = new Map(admin.cookies);
      const r = await nl.get(page(CAROL.address));
      assert.match(r.body, /<h2 id="user-methods-h">Aanmeldmethoden<\/h2>/);
      assert.match(r.body, /<td[^>]*>Verificatie-app<\/td>/);
      assert.match(r.body, /Link voor wachtwoord instellen sturen/);
      assert.match(r.body, /Alle aanmeldingen van carol@contoso\.test/);
    });

    it('the Users table links each name to its page and has no per-row buttons', async () => {
      const r = await admin.get('/admin/users?q=carol');
      assert.equal(r.statusCode, 200);
      assert.match(
        r.body,
        /<td[^>]*><a href="\/admin\/users\/user\?address=carol%40contoso\.test">carol<\/a><\/td><td[^>]*>carol@contoso\.test<\/td><td[^>]*>User<\/td><td[^>]*>Active<\/td>\s*<td[^>]*class="mfa">Enforced<\/td>\s*<td[^>]*>[^<]*Authenticator app[^<]*<\/td>\s*<td[^>]*>2<\/td>/,
      );
      for (const action of ['disable', 'reregister', 'lift-locks', 'end-sessions', 'reset-link', 'mfa'])
        assert.doesNotMatch(r.body, new RegExp(`action="/admin/users/${action}"`), `no ${action} button per row`);
      assert.match(
        r.body,
        /name="address" value="carol@contoso\.test" form="bulk"/,
        'the checkbox for the bulk form stays',
      );
      assert.match(r.body, /action="\/admin\/users\/bulk\/preview"/);
      assert.match(r.body, /action="\/admin\/users\/bulk\/upload"/);
      // The old page of a user's app passwords leads to the user's page.
      const old = await admin.get('/admin/users/app-passwords?address=carol%40contoso.test');
      assert.equal(old.statusCode, 303);
      assert.equal(old.headers.location, page(CAROL.address));
    });

    it('Send set-password link: shown once with Copy and its expiry, mailed to the account when asked, audited, and it sets the password', async () => {
      const before = smtp.received.length;
      const first = await act('/admin/users/set-password-link', { mail: '1' });
      assert.equal(first.statusCode, 303, first.body.slice(0, 300));
      assert.equal(first.headers.location, `${page(CAROL.address)}&m=link`);
      const older = shownLink((await admin.get(String(first.headers.location))).body);
      const shown = await admin.get(page(CAROL.address));
      assert.doesNotMatch(shown.body, /id="set-password-link"/, 'the link is not on the page without m=link');
      const again = await act('/admin/users/set-password-link', { mail: '1' });
      assert.equal(again.statusCode, 303);
      const made = await admin.get(String(again.headers.location));
      assert.match(made.body, /id="set-password-made"/);
      assert.match(made.body, /A one-time set-password link for carol@contoso\.test\. It works once and until /);
      assert.match(made.body, /<button type="button" class="copy secondary" data-copy="set-password-link"/);
      assert.match(made.body, /id="set-password-mailed">It was also sent by email to carol@contoso\.test\./);
      const link = shownLink(made.body);
      assert.ok(link.startsWith(`${PUBLIC}/set-password?token=`), link);
      // Shown once: a reload says so.
      const reload = await admin.get(String(again.headers.location));
      assert.doesNotMatch(reload.body, /id="set-password-link"/);
      assert.match(reload.body, /was shown once and cannot be shown again/);
      // Mailed to the account's own address, the same link.
      await w.ctx.flush();
      const mails = smtp.received
        .slice(before)
        .filter((m) => m.to.includes(CAROL.address) && parseMessage(m.raw).body.includes('/set-password?token='));
      assert.equal(mails.length, 2, 'each link was mailed to carol@contoso.test');
      assert.ok(parseMessage(mails[1]!.raw).body.includes(link), 'the mail carries the link shown');
      // Audited as the admin's.
      const issued = await audited(w, 'user.set_password_link', CAROL.address);
      assert.ok(issued.length >= 2);
      assert.ok(issued.every((a) => a.actor_label === ADMIN.address));
      assert.equal((await audited(w, 'user.set_password_link_mailed', CAROL.address)).length, 2);
      // The newest link works; the older one was spent by it.
      assert.ok(parseMessage(mails[0]!.raw).body.includes(older));
      assert.equal((await new Browser(w.app).get(older.slice(PUBLIC.length))).statusCode, 400);
      const path = link.slice(PUBLIC.length);
      const b = new Browser(w.app);
      const form = await b.get(path);
      assert.equal(form.statusCode, 200);
      const password = 'lantern-orchard-quiet-91';
      const set = await b.post('/set-password', {
        _csrf: csrfFrom(form.body),
        token: new URL(link).searchParams.get('token')!,
        password,
        confirm: password,
      });
      assert.equal(set.headers.location, '/signin?m=password', set.body.slice(0, 300));
      const signIn = await new Browser(w.app).signIn(CAROL.address, password);
      assert.equal(signIn.headers.location, '/signin/mfa', 'the new password is taken (the second factor is next)');
      CAROL.password = password;
    });

    it('Send set-password link without mail sends nothing', async () => {
      const before = smtp.received.length;
      const r = await act('/admin/users/set-password-link');
      const made = await admin.get(String(r.headers.location));
      assert.match(made.body, /id="set-password-link"/);
      assert.doesNotMatch(made.body, /id="set-password-mailed"/);
      await w.ctx.flush();
      assert.equal(smtp.received.length, before);
    });

    it('Lift sign-in locks, Send reset link and End sessions come back to the page with their notice', async () => {
      assert.match(
        await backOnPage(await act('/admin/users/lift-locks'), 'unlocked'),
        /The sign-in locks of carol@contoso\.test are lifted\./,
      );
      const reset = await backOnPage(await act('/admin/users/reset-link'), 'reset');
      assert.match(reset, /A password reset link for carol@contoso\.test was sent to c[^ ]*@home\.example\./);
      // Her new password ended her sessions: one again.
      carolBrowser = await signedIn(w, CAROL.address);
      assert.equal((await carolBrowser.get('/account')).statusCode, 200, 'Carol is signed in before');
      const ended = await backOnPage(await act('/admin/users/end-sessions'), 'sessions');
      assert.match(ended, /All sessions of carol@contoso\.test are ended\./);
      assert.match(ended, /<p id="user-sessions">No active sessions\.<\/p>/);
      assert.notEqual((await carolBrowser.get('/account')).statusCode, 200, "Carol's session ended");
    });

    it('Delete all existing app passwords, MFA off and on, and Require re-registration confirm first, then come back', async () => {
      // Her new password revoked the ones she had (the organization's policy): one more.
      const carol = (await w.ctx.accounts.findUserByAddressOrNull(CAROL.address))!;
      await w.ctx.appPasswords.create(carol, null, 'Tablet', { ip: '127.0.0.1', locale: 'en' });
      const revoked = await backOnPage(await act('/admin/users/app-passwords/revoke-all'), 'revoked');
      assert.match(revoked, /1 app password of carol@contoso\.test was deleted\./);
      assert.match(revoked, /<p id="app-password-list">carol@contoso\.test has no app passwords\.<\/p>/);
      const off = await backOnPage(await act('/admin/users/mfa', { state: 'disabled' }), 'mfa');
      assert.match(off, /MFA for carol@contoso\.test is now Disabled\./);
      assert.match(off, /<span id="user-mfa">Disabled<\/span>/);
      const on = await backOnPage(await act('/admin/users/mfa', { state: 'enforced' }), 'mfa');
      assert.match(on, /<span id="user-mfa">Enforced<\/span>/);
      const rr = await backOnPage(await act('/admin/users/reregister'), 'reregistered');
      assert.match(rr, /carol@contoso\.test must register again at the next sign-in\./);
      assert.match(rr, /<p id="user-methods">carol@contoso\.test has no sign-in methods\.<\/p>/);
    });

    it('Disable and Enable come back; a disabled user is offered no set-password link, and one is refused', async () => {
      const off = await backOnPage(await act('/admin/users/disable'), 'disabled');
      assert.match(off, /<dd id="user-status">Disabled<\/dd>/);
      assert.match(off, /id="set-password-disabled"/);
      assert.doesNotMatch(off, /action="\/admin\/users\/set-password-link"/);
      const refused = await admin.post('/admin/users/set-password-link', {
        _csrf: csrfFrom(off),
        address: CAROL.address,
      });
      assert.equal(refused.statusCode, 409);
      assert.match(refused.body, /carol@contoso\.test is disabled, and a disabled user(&#39;|')s links do not work/);
      const on = await backOnPage(await act('/admin/users/enable'), 'enabled');
      assert.match(on, /<dd id="user-status">Active<\/dd>/);
      assert.match(on, /action="\/admin\/users\/set-password-link"/);
    });

    it('a refused action is shown on the user page', async () => {
      // Ada has no alternate email: her reset link is refused, on her own page, which tells her the web way.
      const r = await admin.submitForm(page(ADMIN.address), '/admin/users/reset-link', {});
      assert.equal(r.statusCode, 409, r.body.slice(0, 200));
      assert.match(r.body, /<dd id="user-address">ada@contoso\.test<\/dd>/);
      assert.match(r.body, /Give them a set-password link instead: Send set-password link, on their page\./);
      assert.doesNotMatch(r.body, /sesame user link/);
      assert.doesNotMatch(r.body, /id="action-disable"/, 'an admin cannot disable themselves');
    });

    it('`back` only ever leads to a page under /admin/users/', async () => {
      const csrf = csrfFrom((await admin.get(page(CAROL.address))).body);
      for (const back of [
        'https://evil.example/admin/users/',
        '//evil.example/admin/users/',
        '/admin/users/../../evil',
        '/account',
      ]) {
        const r = await admin.post('/admin/users/lift-locks', { _csrf: csrf, address: CAROL.address, back });
        assert.equal(r.statusCode, 303);
        assert.ok(String(r.headers.location).startsWith('/admin/users?m=unlocked'), `${back} -> ${r.headers.location}`);
      }
    });

    it('an admin of another organization learns nothing about a user there, nor whether one exists', async () => {
      const eveUser = await signedIn(w, OTHER_ADMIN.address);
      const other = await eveUser.get(page(CAROL.address));
      const none = await eveUser.get(page('nobody@contoso.test'));
      assert.equal(other.statusCode, 403);
      assert.equal(none.statusCode, other.statusCode);
      for (const r of [other, none]) {
        assert.doesNotMatch(r.body, /id="user-overview"|Phone mail|carol<\/|Authenticator app<\/td>/);
        assert.match(r.body, /You are not allowed to do that\./);
      }
      // Contoso's admin on Fabrikam's admin, and on an address there that does not exist: the same.
      const eve = await admin.get(page(OTHER_ADMIN.address));
      const ghost = await admin.get(page('ghost@fabrikam.test'));
      assert.equal(eve.statusCode, 403);
      assert.equal(ghost.statusCode, 403);
      assert.doesNotMatch(eve.body, /Eve Other|id="user-overview"/);
      const before = (await audited(w, 'user.set_password_link', OTHER_ADMIN.address)).length;
      const csrf = csrfFrom((await admin.get('/admin/users')).body);
      const link = await admin.post('/admin/users/set-password-link', {
        _csrf: csrf,
        address: OTHER_ADMIN.address,
        mail: '1',
      });
      assert.equal(link.statusCode, 403);
      assert.doesNotMatch(link.body, /set-password\?token=/);
      assert.equal((await audited(w, 'user.set_password_link', OTHER_ADMIN.address)).length, before, 'no link made');
      const old = await admin.get(`/admin/users/app-passwords?address=${encodeURIComponent(OTHER_ADMIN.address)}`);
      assert.equal(old.statusCode, 303, 'the old URL redirects whoever it names');
      assert.equal((await admin.get(String(old.headers.location))).statusCode, 403);
    });

    it('a plain user, and an admin whose session proved no second factor, are refused', async () => {
      const bob = await signedIn(w, USER.address, ['pwd']);
      const r = await bob.get(page(CAROL.address));
      assert.equal(r.statusCode, 403);
      assert.doesNotMatch(r.body, /id="user-overview"|Phone mail/);
      const post = await bob.post('/admin/users/set-password-link', {
        _csrf: csrfFrom((await bob.get('/account')).body),
        address: CAROL.address,
      });
      assert.equal(post.statusCode, 403);
      assert.doesNotMatch(post.body, /set-password\?token=/);
      const halfAdmin = await signedIn(w, ADMIN.address, ['pwd']);
      assert.equal((await halfAdmin.get(page(CAROL.address))).statusCode, 403);
      // No CSRF token: refused before anything happens.
      const forged = await admin.post('/admin/users/set-password-link', { address: CAROL.address });
      assert.equal(forged.statusCode, 403);
    });
  });
}

describe('Send set-password link where email is not set up', () => {
  let w: World;
  const noMail: Messenger = {
    supports: () => false,
    send: async () => {
      throw new Error('no channel');
    },
  };
  before(async () => {
    w = await makeWorld('sqlite', { publicUrl: PUBLIC }, { messenger: noMail });
  });
  after(async () => w?.close());

  it('says so, offers no mail, and shows the link only', async () => {
    const admin = await signedIn(w, ADMIN.address);
    const p = await admin.get(page(USER.address));
    assert.match(p.body, /id="set-password-no-mail">Email is not set up on this Sesame: the link is only shown here/);
    assert.doesNotMatch(p.body, /name="mail"/);
    // Even a form that asks for mail gets the link only.
    const r = await admin.submitForm(page(USER.address), '/admin/users/set-password-link', { mail: '1' });
    assert.equal(r.statusCode, 303);
    const made = await admin.get(String(r.headers.location));
    assert.ok(shownLink(made.body).startsWith(`${PUBLIC}/set-password?token=`));
    assert.doesNotMatch(made.body, /id="set-password-mailed"|id="set-password-mail-failed"/);
    const bob = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const mailed = await w.ctx.store.db
      .selectFrom('audit_events')
      .select('action')
      .where('target_user_id', '=', bob.id)
      .where('action', 'like', 'user.set_password_link%')
      .execute();
    assert.deepEqual(
      mailed.map((a) => a.action),
      ['user.set_password_link'],
    );
  });
});

describe('Send set-password link when the mail server refuses it', () => {
  let w: World;
  const refusing: Messenger = {
    supports: () => true,
    send: async () => {
      throw new DeliveryError('email', '554 refused');
    },
  };
  before(async () => {
    w = await makeWorld('sqlite', { publicUrl: PUBLIC }, { messenger: refusing });
  });
  after(async () => w?.close());

  it('still shows the link, says it was not mailed, and audits that', async () => {
    const admin = await signedIn(w, ADMIN.address);
    const r = await admin.submitForm(page(USER.address), '/admin/users/set-password-link', { mail: '1' });
    assert.equal(r.statusCode, 303, r.body.slice(0, 300));
    const made = await admin.get(String(r.headers.location));
    assert.ok(shownLink(made.body).startsWith(`${PUBLIC}/set-password?token=`));
    assert.match(made.body, /id="set-password-mail-failed">It could not be sent by email: pass it on yourself\./);
    assert.deepEqual(
      (await audited(w, 'user.set_password_link_not_mailed', USER.address)).map((a) => a.actor_label),
      [ADMIN.address],
    );
  });
});
