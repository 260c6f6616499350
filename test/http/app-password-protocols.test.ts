/**
 * What one app password may be used for, chosen when it is made: Security info's boxes (one per
 * protocol the organization allows, all ticked) and the JSON API's `protocols`. A subset is stored
 * as asked; nothing asked, or a protocol the organization does not allow, makes nothing.
 * (That the row's protocols are enforced at sign-in: test/http/legacy-endpoints.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { Protocol } from '../../src/domain/app-passwords/model.js';
import { startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import {
  Browser,
  FakeClock,
  formFields,
  makeWorld,
  oathtoolTotp,
  registerTotpAtSignIn,
  type World,
} from '../support/world.js';

const ACTION = '/security-info/app-passwords';
const DEFAULT: Protocol[] = ['imap', 'pop3', 'smtp', 'dav', 'http'];

for (const kind of STORE_KINDS) {
  describe(`app passwords limited to some protocols, on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    const clock = new FakeClock(Date.UTC(2026, 11, 7, 9, 0, 0));
    const person = { address: 'printer-owner@contoso.test', password: 'copper-kettle-harbour-88' };
    let b: Browser;
    let secret = '';
    let orgId = '';

    /** Every app password of the person, by name: what it may be used for. */
    const stored = async () => {
      const user = (await w.ctx.accounts.findUserByAddressOrNull(person.address))!;
      return Object.fromEntries((await w.ctx.appPasswords.list(user)).map((p) => [p.name, p.protocols]));
    };
    const create = (form: Record<string, string | readonly string[]>) => b.submitForm('/security-info', ACTION, form);
    const setProtocols = (protocols: Protocol[]) =>
      w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { appPasswords: { protocols } });

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(kind, { smtpUrl: `smtp://127.0.0.1:${smtp.port}` }, { clock });
      await w.ctx.accounts.addUser(OPERATOR, person);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, person.address, 'enabled');
      orgId = (await w.ctx.accounts.findUserByAddressOrNull(person.address))!.orgId;
      b = new Browser(w.app);
      const r = await registerTotpAtSignIn(b, clock, person.address, person.password);
      assert.equal(r.done.headers.location, '/account');
      secret = r.secret;
    });
    after(async () => {
      await w.close();
      await smtp.stop();
    });

    it('offers a ticked box per protocol the organization allows, in a fieldset with a legend, in both languages', async () => {
      const page = (await b.get('/security-info')).body;
      const form = page.slice(page.indexOf(`action="${ACTION}#`), page.indexOf('</form>', page.indexOf(ACTION)));
      assert.match(form, /<fieldset id="ap-protocols"[^>]*><legend>May be used for<\/legend>/);
      assert.deepEqual(formFields(page, ACTION).protocols, DEFAULT, 'every allowed protocol, ticked');
      assert.match(
        form,
        /<label class="check"><input type="checkbox" name="protocols" value="smtp" checked> SMTP \(sending mail\)<\/label>/,
      );
      assert.doesNotMatch(form, /value="(?:ldap|radius)"/, 'not what the organization does not allow');
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      nl.cookies = b.cookies;
      assert.match((await nl.get('/security-info')).body, /<legend>Mag worden gebruikt voor<\/legend>/);
    });

    it('stores what was left ticked; all of them by default', async () => {
      assert.equal((await create({ name: 'Laptop' })).statusCode, 303);
      const printer = await create({ name: 'Printer', protocols: ['smtp'] });
      assert.equal(printer.statusCode, 303);
      assert.equal((await create({ name: 'Phone', protocols: ['imap', 'smtp'] })).statusCode, 303);
      const now = await stored();
      assert.deepEqual(now.Laptop, DEFAULT);
      assert.deepEqual(now.Printer, ['smtp']);
      assert.deepEqual(now.Phone, ['imap', 'smtp']);
      const list = (await b.get(String(printer.headers.location))).body;
      assert.match(
        list,
        /class="ap-name">Printer<\/td>(?:<td[^>]*>[\s\S]*?<\/td>){3}<td data-label="May be used for">SMTP<\/td>/,
        'the list says so',
      );
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('detail')
        .where('action', '=', 'app_password.create')
        .execute();
      assert.ok(
        audit.some((a) => a.detail.endsWith('"Printer" protocols=smtp')),
        JSON.stringify(audit),
      );
    });

    it('makes nothing with nothing ticked, nor for a protocol the organization does not allow (a forged form)', async () => {
      const before = await stored();
      const none = await create({ name: 'Nothing', protocols: [] });
      assert.equal(none.statusCode, 400);
      assert.match(none.body, /Tick at least one thing the app password may be used for\./);
      for (const forged of [['smtp', 'ldap'], ['radius'], ['ftp']]) {
        const r = await create({ name: 'Forged', protocols: forged });
        assert.equal(r.statusCode, 400, forged.join());
        assert.match(
          r.body,
          /does not allow app passwords for that\. Choose among what it allows: IMAP, POP3, SMTP, DAV, HTTP\./,
        );
      }
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      nl.cookies = b.cookies;
      const nlNone = await nl.submitForm('/security-info', ACTION, { name: 'Niets', protocols: [] });
      assert.match(nlNone.body, /Vink minstens één ding aan/);
      assert.deepEqual(await stored(), before, 'nothing made');
    });

    it('names the one protocol the organization allows instead of offering a box', async () => {
      await setProtocols(['smtp']);
      try {
        const page = (await b.get('/security-info')).body;
        assert.match(
          page,
          /<p id="ap-protocols">May be used for: SMTP \(sending mail\)<input type="hidden" name="protocols" value="smtp"><\/p>/,
        );
        assert.doesNotMatch(page, /type="checkbox" name="protocols"/);
        assert.equal((await create({ name: 'Scanner' })).statusCode, 303);
        assert.deepEqual((await stored()).Scanner, ['smtp']);
      } finally {
        await setProtocols(DEFAULT);
      }
    });

    it('takes `protocols` in the JSON API, with the same rules, and says so in the OpenAPI document', async () => {
      clock.advance(30_000);
      const start = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: person.address, password: person.password },
      });
      const done = await w.app.inject({
        method: 'POST',
        url: '/api/v1/flow/verify',
        headers: { 'x-sesame-flow': start.json().token as string },
        payload: { code: oathtoolTotp(secret, clock.now()) },
      });
      const auth = { authorization: `Bearer ${done.json().token as string}` };
      const make = (payload: object) =>
        w.app.inject({ method: 'POST', url: '/api/v1/me/app-passwords', headers: auth, payload });
      const subset = await make({ name: 'API printer', protocols: ['smtp', 'pop3'] });
      assert.equal(subset.statusCode, 201, subset.body);
      assert.deepEqual(subset.json().appPassword.protocols, ['pop3', 'smtp'], 'in the policy’s order');
      assert.deepEqual((await make({ name: 'API all' })).json().appPassword.protocols, DEFAULT);
      const before = await stored();
      const badEnum = await make({ name: 'API bad', protocols: ['ftp'] });
      assert.equal(badEnum.statusCode, 400);
      assert.equal(badEnum.json().error.code, 'invalid_input');
      for (const protocols of [['ldap'], ['smtp', 'radius'], []]) {
        const r = await make({ name: 'API refused', protocols });
        assert.equal(r.statusCode, 400, protocols.join());
        assert.equal(r.json().error.code, 'app_password_protocols_invalid');
      }
      assert.deepEqual(await stored(), before, 'nothing made');
      const spec = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      const body = spec.paths['/api/v1/me/app-passwords'].post.requestBody.content['application/json'].schema;
      assert.deepEqual(body.properties.protocols.items.enum, ['imap', 'pop3', 'smtp', 'dav', 'http', 'ldap', 'radius']);
      assert.deepEqual(body.required, ['name'], 'optional');
    });
  });
}
