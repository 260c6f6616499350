/**
 * The Named locations pages (issue #20, item 1), on both stores: an admin adds a location (its
 * networks and countries listed, countries named in the page's language), edits it and deletes it
 * after a confirmation; a bad network, an unknown country, a duplicate name are shown with their
 * message, keep what was typed and change nothing; "Check an address" names the locations that hold
 * an address and its country, and none for one outside; DB-IP is credited in both languages; a
 * user who is not an admin gets nothing, every form needs its CSRF token, and an admin of another
 * organization neither sees nor changes contoso's locations. The country data is a small file of
 * its own (SESAME_GEOIP_COUNTRY_FILE), so the answers do not depend on the shipped data's version.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, csrfFrom, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const COUNTRIES = ['first,last,country', '4.0.0.0,4.0.0.255,US', '5.0.0.0,5.0.0.255,NL', '6.0.0.0,6.0.0.255,BE'];

const idFrom = (location: string | undefined) => new URL(String(location), 'http://x').searchParams.get('id') ?? '';

for (const kind of STORE_KINDS) {
  describe(`named locations pages on ${kind}`, () => {
    let w: World;
    let b: Browser;
    let org = '';
    let dir = '';
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-locations-pages-'));
      const file = path.join(dir, 'countries.csv');
      fs.writeFileSync(file, `${COUNTRIES.join('\n')}\n`);
      w = await makeWorld(kind, { geoipCountryFile: file });
      org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
    });
    after(async () => {
      await w.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const stored = async () =>
      (await w.ctx.locations.list(OPERATOR, org)).map((l) => [l.name, l.networks.join(' '), l.countries.join(' ')]);
    const officeId = async () => (await w.ctx.locations.byName(OPERATOR, org, 'Office')).id;

    it('the list: linked from the navigation, empty at first, with its intro and the DB-IP credit in both languages', async () => {
      const empty = await b.get('/admin/locations');
      assert.equal(empty.statusCode, 200);
      assert.match(empty.body, /<a href="\/admin\/locations" aria-current="page">Locations<\/a>/);
      assert.match(empty.body, /<h1>Named locations<\/h1>/);
      assert.match(empty.body, /id="locations-none"/);
      assert.match(empty.body, /id="locations-intro">[^<]*from where each protocol may be used[^<]*app password/);
      assert.match(empty.body, /<a href="https:\/\/db-ip\.com">IP geolocation by DB-IP<\/a>/);
      const nl = await new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const dutch = await nl.get('/admin/locations');
      assert.match(dutch.body, /<a href="\/admin\/locations" aria-current="page">Locaties<\/a>/);
      assert.match(dutch.body, /<a href="https:\/\/db-ip\.com">IP-geolocatie door DB-IP<\/a>/);
    });

    it('add: listed with its networks and its countries, each named in the page language', async () => {
      const made = await b.submitForm('/admin/locations', '/admin/locations', {
        name: 'Office',
        networks: '192.0.2.0/24\r\n2001:DB8:1::/48\r\n\r\n10.0.4.17',
        countries: 'nl, be',
      });
      assert.equal(made.statusCode, 303, made.body.slice(0, 300));
      assert.equal(made.headers.location, '/admin/locations?m=created&n=Office');
      assert.deepEqual(await stored(), [['Office', '10.0.4.17/32 192.0.2.0/24 2001:db8:1::/48', 'BE NL']]);
      const page = await b.get(String(made.headers.location));
      assert.match(page.body, /The location Office was added\./);
      const row = /<table id="locations"[\s\S]*?<tr><td data-label="Name">Office<\/td>([\s\S]*?)<\/tr>/.exec(page.body);
      assert.ok(row, 'Office is a row of the list');
      assert.match(
        row[1]!,
        /<td data-label="Networks"><code>10\.0\.4\.17\/32<\/code><br><code>192\.0\.2\.0\/24<\/code><br><code>2001:db8:1::\/48<\/code>/,
      );
      assert.match(
        row[1]!,
        /<code>BE<\/code> <span class="country-name">Belgium<\/span><br><code>NL<\/code> <span class="country-name">Netherlands<\/span>/,
      );
      assert.match(
        row[1]!,
        new RegExp(`<a href="/admin/locations/location\\?id=${await officeId()}" aria-label="Edit Office">Edit</a>`),
      );
      assert.match(row[1]!, /<form method="post" action="\/admin\/locations\/delete"/);
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const dutch = await nl.get('/admin/locations');
      assert.match(dutch.body, /<code>BE<\/code> <span class="country-name">België<\/span>/);
      assert.match(dutch.body, /<code>NL<\/code> <span class="country-name">Nederland<\/span>/);
    });

    it('refused: a network with host bits, an unknown country, a duplicate name, nothing at all; the form keeps what was typed, nothing changes', async () => {
      const before = await stored();
      const cases: [Record<string, string>, number, RegExp][] = [
        [
          { name: 'Branch', networks: '192.0.2.1/24', countries: '' },
          400,
          /“192\.0\.2\.1\/24” is not a network: write an address or a network such as 192\.0\.2\.0\/24/,
        ],
        [{ name: 'Branch', networks: '', countries: 'NL\nXX' }, 400, /“XX” is not a country code/],
        [
          { name: 'OFFICE', networks: '198.51.100.0/24', countries: '' },
          409,
          /already has a named location called OFFICE\./,
        ],
        [
          { name: 'Branch', networks: '', countries: '' },
          400,
          /Give the location Branch at least one network or one country\./,
        ],
        [
          { name: 'A, B', networks: '198.51.100.0/24', countries: '' },
          400,
          /a name of at most 100 characters, without commas/,
        ],
      ];
      for (const [form, status, message] of cases) {
        const res = await b.submitForm('/admin/locations', '/admin/locations', form);
        assert.equal(res.statusCode, status, form.name);
        assert.match(res.body, /<p class="error" role="alert" id="page-error">/);
        assert.match(res.body, message);
        assert.ok(res.body.includes(`value="${form.name}"`), `${form.name}: the name is kept`);
        assert.ok(
          res.body.includes(
            `name="networks" rows="5" spellcheck="false" autocomplete="off" aria-describedby="page-error location-networks-hint">${form.networks}</textarea>`,
          ),
          `${form.name}: the networks are kept`,
        );
        assert.ok(res.body.includes(`>${form.countries}</textarea>`), `${form.name}: the countries are kept`);
      }
      assert.deepEqual(await stored(), before, 'nothing was created');
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const dutch = await nl.submitForm('/admin/locations', '/admin/locations', {
        name: 'Branch',
        networks: '192.0.2.1/24',
        countries: '',
      });
      assert.equal(dutch.statusCode, 400);
      assert.match(dutch.body, /“192\.0\.2\.1\/24” is geen netwerk/);
    });

    it('edit: the form holds the location; saved, or refused with what was typed kept and nothing changed', async () => {
      const id = await officeId();
      const path = `/admin/locations/location?id=${id}`;
      const page = await b.get(path);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<h1>Location Office<\/h1>/);
      assert.match(page.body, />10\.0\.4\.17\/32\n192\.0\.2\.0\/24\n2001:db8:1::\/48<\/textarea>/);
      assert.match(page.body, />BE\nNL<\/textarea>/);
      assert.match(page.body, /<a href="https:\/\/db-ip\.com">/, 'a location with countries credits the data');
      const bad = await b.submitForm(path, '/admin/locations/update', {
        name: 'Head office',
        networks: '192.0.2.0/24\n198.51.100.7/16',
        countries: 'NL',
      });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /“198\.51\.100\.7\/16” is not a network/);
      assert.match(bad.body, /value="Head office"/);
      assert.match(bad.body, />192\.0\.2\.0\/24\n198\.51\.100\.7\/16<\/textarea>/);
      assert.deepEqual((await stored())[0], ['Office', '10.0.4.17/32 192.0.2.0/24 2001:db8:1::/48', 'BE NL']);
      const saved = await b.submitForm(path, '/admin/locations/update', {
        name: 'Head office',
        networks: '192.0.2.0/24',
        countries: 'NL',
      });
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 300));
      assert.equal(idFrom(saved.headers.location as string), id);
      assert.match((await b.get(String(saved.headers.location))).body, /The location Head office was saved\./);
      assert.deepEqual(await stored(), [['Head office', '192.0.2.0/24', 'NL']]);
      const renamed = await b.submitForm(path, '/admin/locations/update', {
        name: 'Office',
        networks: '192.0.2.0/24',
        countries: 'NL',
      });
      assert.equal(renamed.statusCode, 303);
      await w.ctx.flush();
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select(['action', 'detail'])
        .where('action', '=', 'location.update')
        .execute();
      assert.ok(
        audit.some((a) => a.detail === 'Head office -> Office: 192.0.2.0/24 NL'),
        JSON.stringify(audit),
      );
    });

    it('check an address: the locations that hold it and its country, none for one outside', async () => {
      await w.ctx.locations.create(OPERATOR, org, { name: 'Belgium', networks: [], countries: ['BE'] });
      const inside = await b.get('/admin/locations?ip=192.0.2.77');
      assert.equal(inside.statusCode, 200);
      assert.match(
        inside.body,
        /Locations that hold 192\.0\.2\.77:<\/p><ul id="location-check-matches"><li>Office<\/li><\/ul>/,
      );
      assert.match(
        inside.body,
        /id="location-check-ip" name="ip"[^>]*value="192\.0\.2\.77"/,
        'the address stays in its field',
      );
      const dutchSoil = await b.get('/admin/locations?ip=5.0.0.9');
      assert.match(dutchSoil.body, /<ul id="location-check-matches"><li>Office<\/li><\/ul>/, 'by its country');
      assert.match(
        dutchSoil.body,
        /id="location-check-country">Country: <code>NL<\/code> <span class="country-name">Netherlands<\/span>/,
      );
      const both = await b.get('/admin/locations?ip=6.0.0.1');
      assert.match(both.body, /<ul id="location-check-matches"><li>Belgium<\/li><\/ul>/);
      const outside = await b.get('/admin/locations?ip=4.0.0.1');
      assert.equal(outside.statusCode, 200);
      assert.match(outside.body, /id="location-check-none">None of the locations holds 4\.0\.0\.1\./);
      assert.doesNotMatch(outside.body, /id="location-check-matches"/);
      assert.match(outside.body, /Country: <code>US<\/code> <span class="country-name">United States<\/span>/);
      const v6 = await b.get(`/admin/locations?ip=${encodeURIComponent('2001:db8:2::1')}`);
      assert.match(v6.body, /id="location-check-none"/);
      assert.match(v6.body, /The country data does not place 2001:db8:2::1/);
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(nl, ADMIN);
      const dutch = await nl.get('/admin/locations?ip=4.0.0.1');
      assert.match(dutch.body, /Geen van de locaties bevat 4\.0\.0\.1\./);
      assert.match(dutch.body, /Land: <code>US<\/code> <span class="country-name">Verenigde Staten<\/span>/);
      const bad = await b.get('/admin/locations?ip=not-an-address');
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /“not-an-address” is not an IP address/);
      assert.match(
        bad.body,
        /id="location-check-ip" name="ip"[^>]*value="not-an-address" aria-describedby="page-error location-check-hint"/,
        'the field keeps the text and points at the error',
      );
      assert.match(
        bad.body,
        /id="location-networks"[^>]*aria-describedby="location-networks-hint"/,
        'not the add form',
      );
      assert.doesNotMatch(bad.body, /id="location-check-result"/);
    });

    it('delete: a confirmation first, saying what goes; only the confirmed POST deletes', async () => {
      const id = (await w.ctx.locations.byName(OPERATOR, org, 'Belgium')).id;
      const ask = await b.submitForm('/admin/locations', '/admin/locations/delete', { id });
      assert.equal(ask.statusCode, 200);
      assert.match(ask.body, /<h1>Delete the location Belgium\?<\/h1>/);
      assert.match(ask.body, /Its 0 networks and 1 country are forgotten\./);
      assert.equal((await stored()).length, 2, 'not yet');
      const done = await b.post('/admin/locations/delete', { _csrf: csrfFrom(ask.body), id, confirm: '1' });
      assert.equal(done.statusCode, 303);
      assert.equal(done.headers.location, '/admin/locations?m=deleted&n=Belgium');
      assert.match((await b.get(String(done.headers.location))).body, /The location Belgium was deleted\./);
      assert.deepEqual(
        (await stored()).map((l) => l[0]),
        ['Office'],
      );
      const again = await b.post('/admin/locations/delete', { _csrf: csrfFrom(ask.body), id, confirm: '1' });
      assert.equal(again.statusCode, 404);
      assert.match(again.body, /That named location does not exist\./);
    });

    it('every form refuses a missing or forged CSRF token; a user without admin rights gets nothing', async () => {
      const id = await officeId();
      const before = await stored();
      for (const [action, form] of [
        ['/admin/locations', { name: 'Forged', networks: '203.0.113.0/24' }],
        ['/admin/locations/update', { id, name: 'Forged', networks: '203.0.113.0/24' }],
        ['/admin/locations/delete', { id, confirm: '1' }],
      ] as const) {
        assert.equal((await b.post(action, { ...form, _csrf: 'forged' })).statusCode, 403, action);
        assert.equal((await b.post(action, form)).statusCode, 403, `${action} without a token`);
      }
      assert.deepEqual(await stored(), before, 'nothing changed');
      const user = new Browser(w.app);
      await user.signIn(USER.address, USER.password);
      assert.equal((await user.get('/admin/locations')).statusCode, 403);
      assert.equal((await user.get(`/admin/locations/location?id=${id}`)).statusCode, 403);
      assert.equal((await user.get('/admin/locations?ip=192.0.2.1')).statusCode, 403);
      const account = await user.get('/account');
      assert.doesNotMatch(account.body, /href="\/admin\/locations"/, 'no link in the navigation');
      const token = csrfFrom(account.body);
      for (const [action, form] of [
        ['/admin/locations', { name: 'Mine', networks: '203.0.113.0/24' }],
        ['/admin/locations/update', { id, name: 'Mine', networks: '203.0.113.0/24' }],
        ['/admin/locations/delete', { id, confirm: '1' }],
      ] as const)
        assert.equal((await user.post(action, { ...form, _csrf: token })).statusCode, 403, action);
      assert.deepEqual(await stored(), before, 'nothing changed');
    });

    it("an admin of fabrikam neither sees nor changes contoso's locations", async () => {
      const id = await officeId();
      const eve = new Browser(w.app);
      await signInAdminWithMfa(eve, OTHER_ADMIN);
      const list = await eve.get('/admin/locations');
      assert.match(list.body, /id="locations-none"/);
      assert.equal((await eve.get(`/admin/locations/location?id=${id}`)).statusCode, 404);
      const check = await eve.get('/admin/locations?ip=192.0.2.1');
      assert.match(check.body, /id="location-check-none"/, "contoso's networks are not fabrikam's");
      for (const [action, form] of [
        ['/admin/locations/update', { id, name: 'Eve', networks: '203.0.113.0/24', countries: '' }],
        ['/admin/locations/delete', { id, confirm: '1' }],
      ] as const) {
        const res = await eve.post(action, { ...form, _csrf: csrfFrom(list.body) });
        assert.equal(res.statusCode, 404, action);
      }
      assert.deepEqual(
        (await stored()).map((l) => l[0]),
        ['Office'],
      );
    });
  });
}
