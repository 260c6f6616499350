/**
 * Pinning an app password from Security info (issue #20, item 2): the create form offers the
 * organization's named locations and one address; the list says where each may be used from; the
 * "Where from" page changes it later. A bad address shows the reason and changes nothing; widening
 * a pin after the recent-authentication window asks for the proof first, narrowing does not; the
 * pin is enforced at /auth/mail at once. In both languages, on both stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, FakeClock, formFields, makeWorld, registerTotpAtSignIn, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`pinning app passwords from Security info, on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    const clock = new FakeClock(Date.UTC(2026, 11, 8, 9, 0, 0));
    const person = { address: 'scan-owner@contoso.test', password: 'copper-kettle-harbour-88' };
    let b: Browser;
    let key = '';
    let office = '';
    let orgId = '';

    const mine = async () => {
      const user = (await w.ctx.accounts.findUserByAddressOrNull(person.address))!;
      return Object.fromEntries((await w.ctx.appPasswords.list(user)).map((p) => [p.name, p]));
    };
    const mail = (password: string, ip: string) =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: person.address, password, service: 'smtp', remoteIp: ip },
      });
    /** The secret shown once after creation. */
    const secretOf = (html: string) => /<code[^>]*id="app-password"[^>]*>([^<]+)<\/code>/.exec(html)?.[1];

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(kind, { smtpUrl: `smtp://127.0.0.1:${smtp.port}` }, { clock });
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.accounts.addUser(OPERATOR, person);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, person.address, 'enabled');
      orgId = (await w.ctx.accounts.findUserByAddressOrNull(person.address))!.orgId;
      office = (
        await w.ctx.locations.create(OPERATOR, orgId, {
          name: 'Head office',
          networks: ['192.0.2.0/24'],
          countries: [],
        })
      ).id;
      b = new Browser(w.app);
      const r = await registerTotpAtSignIn(b, clock, person.address, person.password);
      assert.equal(r.done.headers.location, '/account');
    });
    after(async () => {
      await w.close();
      await smtp.stop();
    });

    it('offers the locations and one address, nothing chosen; pinned to the scanner, it works only from there', async () => {
      const page = (await b.get('/security-info')).body;
      assert.match(page, /<fieldset id="ap-where"[^>]*><legend>May be used from<\/legend>/);
      assert.match(page, new RegExp(`<input type="checkbox" name="pin_locations" value="${office}"> Head office`));
      const fields = formFields(page, '/security-info/app-passwords#ap-created');
      assert.equal(fields.pin_locations, undefined, 'nothing ticked');
      assert.match(page, /<input id="ap-pin-network" name="pin_network"[^>]*value=""/, 'no address');
      const made = await b.submitForm('/security-info', '/security-info/app-passwords#ap-created', {
        name: 'Scanner',
        protocols: ['smtp'],
        pin_network: '10.0.4.17',
      });
      assert.equal(made.statusCode, 303, made.body);
      const shown = await b.get(String(made.headers.location));
      const secret = secretOf(shown.body);
      assert.ok(secret, 'the secret is shown once');
      assert.match(shown.body, /<td[^>]*class="ap-where"[^>]*>10\.0\.4\.17\/32<\/td>/);
      assert.deepEqual((await mine()).Scanner!.pin, { locationIds: [], network: '10.0.4.17/32' });
      assert.equal((await mail(secret, '10.0.4.17')).statusCode, 200);
      assert.equal((await mail(secret, '192.0.2.10')).statusCode, 403);
      const plain = await b.submitForm('/security-info', '/security-info/app-passwords#ap-created', { name: 'Laptop' });
      assert.equal(plain.statusCode, 303);
      assert.equal((await mine()).Laptop!.pin, null, 'nothing chosen: no pin');
      assert.match(
        (await b.get('/security-info')).body,
        /<td[^>]*class="ap-where"[^>]*>Wherever your organization allows<\/td>/,
      );
    });

    it('"Where from" changes it; a bad address is refused with its reason and changes nothing', async () => {
      const id = (await mine()).Scanner!.id;
      const page = await b.get(`/security-info/app-passwords/where/${id}`);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<input id="ap-pin-network" name="pin_network"[^>]*value="10\.0\.4\.17\/32"/);
      const bad = await b.submitForm(`/security-info/app-passwords/where/${id}`, '/security-info/app-passwords/where', {
        pin_network: '10.0.4.17/24',
      });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /id="ap-where-error"/);
      assert.match(bad.body, /value="10\.0\.4\.17\/24"[^>]*aria-invalid="true"/, 'what was typed, marked');
      assert.equal((await mine()).Scanner!.pin?.network, '10.0.4.17/32', 'unchanged');
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      nl.cookies = b.cookies;
      assert.match((await nl.get(`/security-info/app-passwords/where/${id}`)).body, /Mag worden gebruikt vanaf/);
      // Narrowing within the recent-authentication window, then widening to the office as well.
      const wide = await b.submitForm(
        `/security-info/app-passwords/where/${id}`,
        '/security-info/app-passwords/where',
        {
          pin_network: '10.0.4.17',
          pin_locations: [office],
        },
      );
      assert.equal(wide.statusCode, 303, wide.body);
      assert.deepEqual((await mine()).Scanner!.pin, { locationIds: [office], network: '10.0.4.17/32' });
    });

    it('after the recent-authentication window, narrowing is saved but widening asks for the proof first', async () => {
      clock.advance(11 * 60_000);
      const id = (await mine()).Scanner!.id;
      // The page ticks the pinned locations; unticking the office is narrowing.
      const narrow = await b.submitForm(
        `/security-info/app-passwords/where/${id}`,
        '/security-info/app-passwords/where',
        {
          pin_network: '10.0.4.17',
          pin_locations: [],
        },
      );
      assert.equal(narrow.headers.location, '/security-info?m=ap_where#app-passwords', narrow.body);
      assert.deepEqual((await mine()).Scanner!.pin, { locationIds: [], network: '10.0.4.17/32' });
      const widen = await b.submitForm(
        `/security-info/app-passwords/where/${id}`,
        '/security-info/app-passwords/where',
        {
          pin_network: '',
          pin_locations: [],
        },
      );
      assert.notEqual(widen.statusCode, 303, 'not saved');
      assert.deepEqual((await mine()).Scanner!.pin, { locationIds: [], network: '10.0.4.17/32' }, 'still pinned');
    });
  });
}
