/**
 * The location rules on the Named locations page and an admin's pin on a user's page (issue #20,
 * item 2), on both stores: the section says what the rules do and, without locations, that "only
 * from" needs one first; the organization's rows saved through the page take effect at /auth/mail
 * (the address Dovecot reports); "only from" with nothing ticked, or a location of another
 * organization, is shown with its message, keeps what was typed and changes nothing; a group's
 * rule is added (replacing the organization's for its members at /auth/mail) and removed, and
 * saving the organization's rows keeps it; a user who is not an admin, and a form without its
 * CSRF token, change nothing; the texts are Dutch in Dutch; an admin pins an app password from the
 * user's page ("Where from"), the list says where it may be used from, and /auth/mail applies it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { PROTOCOLS } from '../../src/domain/app-passwords/model.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, csrfFrom, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const OFFICE = '192.0.2.40';
const ELSEWHERE = '198.51.100.7';
const SCANNER_NET = '203.0.113.0/24';
const SCANNER = '203.0.113.9';

/** Every protocol's mode as the page posts it: "anywhere" unless `modes` says otherwise. */
function orgForm(modes: Record<string, string>, ticked: Record<string, string[]> = {}) {
  const form: Record<string, string | string[]> = {};
  for (const p of PROTOCOLS) {
    form[`mode_${p}`] = modes[p] ?? 'anywhere';
    if (ticked[p]) form[`locations_${p}`] = ticked[p];
  }
  return form;
}

for (const kind of STORE_KINDS) {
  describe(`location rules page on ${kind}`, () => {
    let w: World;
    let b: Browser;
    let user: User;
    let org = '';
    let key = '';
    let phone = '';
    let phoneId = '';
    let office = '';

    const mail = (ip: string, service = 'imap') =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: USER.address, password: phone, service, remoteIp: ip },
      });
    const stored = async () =>
      (await w.ctx.locations.rules(OPERATOR, org)).map(
        (r) => `${r.protocol}:${r.groupId ?? '*'}:${r.mode}:${r.locationIds.join(',')}`,
      );

    before(async () => {
      w = await makeWorld(kind);
      org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { protocols: ['imap', 'pop3', 'smtp'] } });
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
        .session;
      const made = await w.ctx.appPasswords.create(user, s, 'Phone', { ip: '127.0.0.1', locale: 'en' });
      phone = made.password;
      phoneId = made.appPassword.id;
      b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
    });
    after(() => w.close());

    it('without locations: the section explains the rules, and "only from" asks for a location first', async () => {
      const page = await b.get('/admin/locations');
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<h2 id="location-rules-title">Where each protocol may be used from<\/h2>/);
      assert.match(page.body, /A protocol without a rule may be used from anywhere\./);
      assert.match(page.body, /A group’s rule replaces the organization’s rule for that protocol/);
      assert.match(page.body, /may use it wherever any of those rules allows/);
      assert.match(page.body, /shows in the sign-in log as “From a place the location rules do not allow”/);
      assert.match(page.body, /an address the country data does not place/);
      for (const p of PROTOCOLS) {
        assert.match(
          page.body,
          new RegExp(`<input type="radio" name="mode_${p}" value="anywhere" id="rule-${p}-anywhere" checked>`),
          p,
        );
        assert.match(
          page.body,
          new RegExp(
            `name="mode_${p}" value="locations" id="rule-${p}-locations" disabled> Only from named locations: add a location first`,
          ),
          p,
        );
      }
      assert.match(page.body, /<legend>IMAP \(mail\)<\/legend>/);
      assert.match(page.body, /<legend>LDAP \(address books, directory\)<\/legend>/);
      assert.match(page.body, /id="location-group-rules-none"/);
      assert.match(page.body, /id="location-group-rules-no-groups"/);
      office = (
        await w.ctx.locations.create(OPERATOR, org, { name: 'Office', networks: ['192.0.2.0/24'], countries: [] })
      ).id;
    });

    it('the organization’s rows saved through the page take effect at /auth/mail', async () => {
      assert.equal((await mail(ELSEWHERE)).statusCode, 200, 'no rule: from anywhere');
      const page = await b.get('/admin/locations');
      assert.match(page.body, new RegExp(`<input type="checkbox" name="locations_imap" value="${office}"> Office`));
      const saved = await b.post('/admin/locations/rules', {
        _csrf: csrfFrom(page.body),
        ...orgForm({ imap: 'locations', smtp: 'never' }, { imap: [office], pop3: [office] }),
      });
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 400));
      assert.equal(saved.headers.location, '/admin/locations?m=rules#location-rules');
      assert.deepEqual(await stored(), [`imap:*:locations:${office}`, 'smtp:*:never:']);
      const shown = await b.get(String(saved.headers.location));
      assert.match(shown.body, /The location rules were saved\./);
      assert.match(shown.body, /name="mode_imap" value="locations" id="rule-imap-locations" checked>/);
      assert.match(shown.body, new RegExp(`name="locations_imap" value="${office}" checked> Office`));
      assert.match(shown.body, /name="mode_smtp" value="never" id="rule-smtp-never" checked>/);
      assert.match(shown.body, /name="mode_pop3" value="anywhere" id="rule-pop3-anywhere" checked>/);
      assert.doesNotMatch(
        shown.body,
        new RegExp(`name="locations_pop3" value="${office}" checked`),
        'anywhere keeps no locations',
      );
      assert.equal((await mail(OFFICE)).statusCode, 200, 'IMAP from the office');
      assert.equal((await mail(ELSEWHERE)).statusCode, 403, 'IMAP from elsewhere');
      assert.equal((await mail(OFFICE, 'smtp')).statusCode, 403, 'SMTP never');
      assert.equal((await mail(ELSEWHERE, 'pop3')).statusCode, 200, 'POP3 from anywhere');
      await w.ctx.flush();
      const row = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['reason'])
        .where('ip', '=', ELSEWHERE)
        .where('outcome', '=', 'failure')
        .executeTakeFirst();
      assert.equal(row?.reason, 'location_not_allowed');
    });

    it('refused: "only from" with nothing ticked, a location of another organization; the form as typed, nothing changed', async () => {
      const before = await stored();
      const page = await b.get('/admin/locations');
      const none = await b.post('/admin/locations/rules', {
        _csrf: csrfFrom(page.body),
        ...orgForm({ imap: 'never', pop3: 'locations' }),
      });
      assert.equal(none.statusCode, 400);
      assert.match(
        none.body,
        /<p class="error" role="alert" id="page-error">The rule for POP3 says “only from named locations”: choose at least one location\.<\/p>/,
      );
      assert.match(none.body, /name="mode_pop3" value="locations" id="rule-pop3-locations" checked>/, 'kept as typed');
      assert.match(none.body, /name="mode_imap" value="never" id="rule-imap-never" checked>/, 'kept as typed');
      assert.match(none.body, /<fieldset id="rule-pop3" aria-describedby="page-error">/);
      const fabrikam = (await w.ctx.accounts.organizationByDomain('fabrikam.test')).id;
      const theirs = await w.ctx.locations.create(OPERATOR, fabrikam, {
        name: 'Theirs',
        networks: ['10.9.0.0/16'],
        countries: [],
      });
      const foreign = await b.post('/admin/locations/rules', {
        _csrf: csrfFrom(page.body),
        ...orgForm({ imap: 'locations' }, { imap: [theirs.id] }),
      });
      assert.equal(foreign.statusCode, 404);
      assert.match(foreign.body, /That named location does not exist\./);
      assert.deepEqual(await stored(), before, 'nothing changed');
      assert.equal((await mail(ELSEWHERE)).statusCode, 403, 'the rule still holds');
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const dutch = await nl.submitForm('/admin/locations', '/admin/locations/rules', orgForm({ pop3: 'locations' }));
      assert.equal(dutch.statusCode, 400);
      assert.match(dutch.body, /De regel voor POP3 zegt “alleen vanaf benoemde locaties”/);
      assert.deepEqual(await stored(), before, 'nothing changed');
    });

    it("a group's rule: added (its members may use IMAP from anywhere), kept when the organization's rows are saved, removed", async () => {
      const travel = await w.ctx.groups.create(OPERATOR, org, 'Travel');
      await w.ctx.groups.addMember(OPERATOR, org, travel.id, USER.address);
      const page = await b.get('/admin/locations');
      assert.match(page.body, new RegExp(`<option value="${travel.id}">Travel</option>`));
      const bad = await b.post('/admin/locations/group-rules', {
        _csrf: csrfFrom(page.body),
        group: travel.id,
        protocol: 'imap',
        mode: 'locations',
      });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /The rule for IMAP says “only from named locations”: choose at least one location\./);
      assert.match(bad.body, /name="mode" value="locations" id="group-rule-locations" checked>/, 'kept as typed');
      assert.equal((await stored()).length, 2, 'nothing changed');
      const added = await b.post('/admin/locations/group-rules', {
        _csrf: csrfFrom(page.body),
        group: travel.id,
        protocol: 'imap',
        mode: 'anywhere',
      });
      assert.equal(added.statusCode, 303, added.body.slice(0, 400));
      assert.equal(added.headers.location, '/admin/locations?m=group_rule&n=Travel#location-rules');
      assert.deepEqual(await stored(), [`imap:*:locations:${office}`, `imap:${travel.id}:anywhere:`, 'smtp:*:never:']);
      const listed = await b.get(String(added.headers.location));
      assert.match(listed.body, /The rule of the group Travel was saved\./);
      assert.match(
        listed.body,
        /<table id="location-group-rules"[^>]*>[\s\S]*<tr><td[^>]*>Travel<\/td><td[^>]*>IMAP \(mail\)<\/td><td[^>]*>From anywhere<\/td>/,
      );
      assert.match(listed.body, /aria-label="Remove the IMAP \(mail\) rule of Travel"/);
      assert.equal((await mail(ELSEWHERE)).statusCode, 200, "the group's rule replaces the organization's");

      // Saving the organization's rows keeps the group's rule.
      const resaved = await b.submitForm(
        '/admin/locations',
        '/admin/locations/rules',
        orgForm({ imap: 'locations', smtp: 'locations' }, { imap: [office], smtp: [office] }),
      );
      assert.equal(resaved.statusCode, 303, resaved.body.slice(0, 400));
      assert.deepEqual(await stored(), [
        `imap:*:locations:${office}`,
        `imap:${travel.id}:anywhere:`,
        `smtp:*:locations:${office}`,
      ]);

      const removed = await b.submit('/admin/locations', '/admin/locations/group-rules/remove', {
        group: travel.id,
        protocol: 'imap',
      });
      assert.equal(removed.statusCode, 303);
      assert.equal(removed.headers.location, '/admin/locations?m=group_rule_removed&n=Travel#location-rules');
      assert.match((await b.get(String(removed.headers.location))).body, /The rule of the group Travel was removed\./);
      assert.deepEqual(await stored(), [`imap:*:locations:${office}`, `smtp:*:locations:${office}`]);
      assert.equal((await mail(ELSEWHERE)).statusCode, 403, "the organization's rule again");
      assert.equal((await mail(OFFICE, 'smtp')).statusCode, 200, 'SMTP from the office now');
    });

    it('a user who is not an admin, or a form without its CSRF token, changes nothing', async () => {
      const before = await stored();
      const forms: [string, Record<string, string | string[]>][] = [
        ['/admin/locations/rules', orgForm({})],
        ['/admin/locations/group-rules', { group: 'x', protocol: 'imap', mode: 'never' }],
        ['/admin/locations/group-rules/remove', { group: 'x', protocol: 'imap' }],
        ['/admin/users/app-passwords/where', { address: USER.address, id: phoneId, pin_network: '10.0.0.1' }],
      ];
      for (const [action, form] of forms) {
        assert.equal((await b.post(action, form)).statusCode, 403, `${action} without a token`);
        assert.equal((await b.post(action, { ...form, _csrf: 'forged' })).statusCode, 403, `${action} forged`);
      }
      const carl = { address: 'carl@contoso.test', password: 'pebble-orchard-window-31', name: 'Carl' };
      await w.ctx.accounts.addUser(OPERATOR, { ...carl, role: 'user' });
      const u = new Browser(w.app);
      await u.signIn(carl.address, carl.password);
      assert.equal((await u.get('/admin/locations')).statusCode, 403);
      assert.equal(
        (await u.get(`/admin/users/app-passwords/where?address=${encodeURIComponent(USER.address)}&id=${phoneId}`))
          .statusCode,
        403,
      );
      const token = csrfFrom((await u.get('/account')).body);
      for (const [action, form] of forms)
        assert.equal((await u.post(action, { ...form, _csrf: token })).statusCode, 403, action);
      const eve = new Browser(w.app);
      await signInAdminWithMfa(eve, OTHER_ADMIN);
      const theirs = await eve.get(
        `/admin/users/app-passwords/where?address=${encodeURIComponent(USER.address)}&id=${phoneId}`,
      );
      assert.doesNotMatch(theirs.body, /id="ap-where"/, "another organization's admin gets no form");
      assert.deepEqual(await stored(), before, 'nothing changed');
      const ap = (await w.ctx.appPasswords.list(user)).find((p) => p.id === phoneId);
      assert.equal(ap?.pin, null, 'no pin set');
    });

    it('Dutch: the section in Dutch', async () => {
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const page = await nl.get('/admin/locations');
      assert.match(page.body, /<h2 id="location-rules-title">Vanaf waar elk protocol mag worden gebruikt<\/h2>/);
      assert.match(page.body, /Een protocol zonder regel mag overal vandaan worden gebruikt\./);
      assert.match(page.body, /staat in het aanmeldlogboek als “/);
      assert.match(page.body, /> Alleen vanaf benoemde locaties<\/label>/);
      assert.match(page.body, /> Overal vandaan<\/label>/);
      assert.match(page.body, /> Nooit<\/label>/);
      assert.match(page.body, /Regels voor groepen/);
    });

    it("an admin pins an app password from the user's page; /auth/mail applies it", async () => {
      const userPage = `/admin/users/user?address=${encodeURIComponent(USER.address)}`;
      const listed = await b.get(userPage);
      assert.match(listed.body, /<th scope="col">May be used from<\/th>/);
      assert.match(listed.body, /<td[^>]*class="ap-where">Wherever your organization allows<\/td>/);
      const where = `/admin/users/app-passwords/where?${new URLSearchParams({ address: USER.address, id: phoneId })}`;
      assert.ok(listed.body.includes(`href="${where.replaceAll('&', '&amp;')}"`), 'a Where from link');
      const page = await b.get(where);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<h1>Where (&quot;|")Phone(&quot;|") of bob@contoso\.test may be used from<\/h1>/);
      assert.match(page.body, new RegExp(`<input type="checkbox" name="pin_locations" value="${office}"> Office`));
      assert.equal((await mail(ELSEWHERE, 'pop3')).statusCode, 200, 'POP3 from anywhere before the pin');

      const bad = await b.submitForm(where, '/admin/users/app-passwords/where', { pin_network: '203.0.113.9/24' });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /is not a network/);
      assert.match(bad.body, /value="203\.0\.113\.9\/24"/, 'kept as typed');
      assert.equal((await w.ctx.appPasswords.list(user)).find((p) => p.id === phoneId)?.pin, null, 'nothing changed');

      const saved = await b.submitForm(where, '/admin/users/app-passwords/where', { pin_network: SCANNER_NET });
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 400));
      const back = await b.get(String(saved.headers.location));
      assert.match(
        back.body,
        /Saved\. The app password Phone of bob@contoso\.test now works only from where you chose\./,
      );
      assert.match(back.body, /<td[^>]*class="ap-where">203\.0\.113\.0\/24<\/td>/);
      assert.equal((await mail(SCANNER, 'pop3')).statusCode, 200, 'from the pinned network');
      assert.equal((await mail(ELSEWHERE, 'pop3')).statusCode, 403, 'not from elsewhere');

      const both = await b.submitForm(where, '/admin/users/app-passwords/where', {
        pin_locations: [office],
        pin_network: SCANNER_NET,
      });
      assert.equal(both.statusCode, 303);
      assert.match((await b.get(userPage)).body, /<td[^>]*class="ap-where">Office, 203\.0\.113\.0\/24<\/td>/);
      assert.equal((await mail(OFFICE, 'pop3')).statusCode, 200, 'from the pinned location');
      await w.ctx.flush();
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select(['action'])
        .where('action', '=', 'app_password.pin')
        .execute();
      assert.equal(audit.length, 2, 'each change audited');

      const cleared = await b.submitForm(where, '/admin/users/app-passwords/where', {
        pin_locations: [],
        pin_network: '',
      });
      assert.equal(cleared.statusCode, 303);
      assert.equal((await mail(ELSEWHERE, 'pop3')).statusCode, 200, 'no pin: from anywhere again');
    });
  });
}
