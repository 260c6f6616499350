/**
 * The organization's regional settings (#17, items 2 and 3): the time zone every page writes times
 * in, and the default country of phone numbers, set on the policy page and through the API; the
 * sign-in log's filter reads typed times in that zone and offers its protocols in words.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { instantToLocal } from '../../src/domain/time-zone.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, makeWorld, type World } from '../support/world.js';

const POLICY_FORM = {
  mfaDefault: 'disabled',
  methods: 'totp',
  rememberDays: '0',
  apCap: '40',
  apProtocols: 'imap',
  apAllowed: '1',
};

for (const kind of STORE_KINDS) {
  describe(`regional settings on ${kind}`, () => {
    let w: World;
    before(async () => {
      w = await makeWorld(kind);
    });
    after(() => w.close());

    it('the admin sets the time zone and default country on the policy page; the pages then speak that zone', async () => {
      const b = new Browser(w.app, { 'accept-language': 'nl' });
      await signInAdminWithMfa(b, ADMIN);
      const before = await b.get('/admin/policy');
      assert.match(
        before.body,
        /<select id="time-zone" name="timeZone"><option value="" selected>UTC \(niet ingesteld\)<\/option>/,
      );
      assert.match(
        before.body,
        /<option value="NL">Nederland \(NL\)<\/option>/,
        'countries named in the reader’s language',
      );
      const log0 = await b.get('/admin/sign-ins');
      assert.match(log0.body, /Vanaf \(UTC\)/);
      assert.match(log0.body, /<time datetime="[^"]+Z">\d{1,2} [a-z]{3} \d{4}, \d\d:\d\d:\d\d UTC<\/time>/);

      const saved = await b.submit('/admin/policy', '/admin/policy', {
        ...POLICY_FORM,
        timeZone: 'Europe/Amsterdam',
        defaultCountry: 'NL',
      });
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 500));
      const after = await b.get('/admin/policy');
      assert.match(after.body, /<option value="Europe\/Amsterdam" selected>Europe\/Amsterdam<\/option>/);
      assert.match(after.body, /<option value="NL" selected>Nederland \(NL\)<\/option>/);

      const log = await b.get('/admin/sign-ins');
      assert.match(log.body, /Vanaf \(Europe\/Amsterdam\)/);
      assert.match(log.body, /<time datetime="[^"]+Z">\d{1,2} [a-z]{3} \d{4}, \d\d:\d\d:\d\d (CET|CEST)<\/time>/);
      assert.doesNotMatch(log.body, /\d\d:\d\d:\d\d UTC</, 'no time left in UTC');
      // The protocol filter offers words, not codes.
      assert.match(log.body, /<option value="web:mfa" >Browser, tweede stap<\/option>/);
      assert.match(log.body, /<option value="imap" >IMAP \(mail\)<\/option>/);
    });

    it("reads the filter's typed times in the organization's zone", async () => {
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
      const now = Date.now();
      const count = async (from: string) => {
        const r = await b.get(`/admin/sign-ins?from=${encodeURIComponent(from)}`);
        assert.equal(r.statusCode, 200, r.body.slice(0, 300));
        return Number(/(\d+) attempts?/.exec(r.body)?.[1] ?? '0');
      };
      // Five minutes ago in Amsterdam finds the admin's sign-ins; read as UTC it would be in the future.
      assert.ok((await count(instantToLocal(now - 5 * 60_000, 'Europe/Amsterdam'))) >= 1);
      assert.equal(await count(instantToLocal(now + 5 * 60_000, 'Europe/Amsterdam')), 0);
      const page = await b.get(
        `/admin/sign-ins?from=${encodeURIComponent(instantToLocal(now - 5 * 60_000, 'Europe/Amsterdam'))}`,
      );
      assert.match(
        page.body,
        new RegExp(`name="from" type="datetime-local" value="${instantToLocal(now - 5 * 60_000, 'Europe/Amsterdam')}"`),
      );
    });

    it('through the API: canonical names kept, unknown ones refused, empty back to the default, audited', async () => {
      const token = await adminApiToken(w.app, ADMIN);
      const put = (body: object) =>
        w.app.inject({
          method: 'PUT',
          url: '/api/v1/policy',
          headers: { authorization: `Bearer ${token}` },
          payload: body,
        });
      const ok = await put({ timeZone: 'america/new_york', defaultCountry: 'be' });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json().timeZone, 'America/New_York');
      assert.equal(ok.json().defaultCountry, 'BE');
      const bad = await put({ timeZone: 'Mars/Olympus_Mons' });
      assert.equal(bad.statusCode, 400);
      assert.equal((await put({ defaultCountry: 'XX' })).statusCode, 400);
      const get = await w.app.inject({
        method: 'GET',
        url: '/api/v1/policy',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(get.json().timeZone, 'America/New_York', 'a refused change changed nothing');
      const cleared = await put({ timeZone: '', defaultCountry: null });
      assert.equal(cleared.json().timeZone, null);
      assert.equal(cleared.json().defaultCountry, null);
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('detail')
        .where('action', '=', 'org.policy')
        .execute();
      assert.ok(audit.some((a) => a.detail.includes('"timeZone":"America/New_York","defaultCountry":"BE"')));
    });
  });
}
