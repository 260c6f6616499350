/**
 * Budgets on codes sent and the phone numbers codes may go to (issue #15, item 3), on both stores:
 * every code, in every flow, is counted before it is sent against the user's, the destination's,
 * the organization's and the deployment's budget; a burst of parallel requests cannot overshoot;
 * a refusal sends nothing, answers `code_budget_exceeded` in the caller's language and writes an
 * audit row naming the budget, with the number masked. Phone numbers must be of an allowed
 * country and type, at registration and again at every send.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Config } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { CodeBudget, type CodeBudgetLimits } from '../../src/domain/mfa/code-budget.js';
import { checkPhone, classifyPhone } from '../../src/domain/mfa/phone-policy.js';
import { isSesameError } from '../../src/domain/errors.js';
import { createKeyedHasher } from '../../src/lib/crypto/tokens.js';
import { STORE_KINDS } from '../support/stores.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { ADMIN, Browser, FakeClock, makeWorld, type World } from '../support/world.js';

const HIGH = 1000;
const VICTIM = '+31612345678';

/** A world whose code budgets are all HIGH except `limits`. */
function budgetWorld(kind: (typeof STORE_KINDS)[number], limits: Partial<Config>, clock: FakeClock) {
  return makeWorld(
    kind,
    {
      ipFailureLimit: 10_000,
      codesPerUserHour: HIGH,
      codesPerUserDay: HIGH,
      codesPerDestinationHour: HIGH,
      codesPerDestinationDay: HIGH,
      codesPerOrganizationHour: HIGH,
      codesPerOrganizationDay: HIGH,
      codesTotalHour: HIGH,
      codesTotalDay: HIGH,
      ...limits,
    },
    { clock },
  );
}

/** The API calls of a flow, the outbox and the audit log of a world. */
function helpers(w: () => World) {
  const api = (url: string, body: object, flow?: string, lang = 'en') =>
    w().app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      payload: body,
      headers: { 'accept-language': lang, ...(flow ? { 'x-sesame-flow': flow } : {}) },
    });
  const outbox = (): { channel: string; to: string; text: string }[] =>
    fs.existsSync(w().ctx.config.devOutbox)
      ? fs
          .readFileSync(w().ctx.config.devOutbox, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  /** A new user at "How should we contact you?"; returns the flow token. */
  const registering = async (address: string) => {
    const password = 'budget-lantern-copper-9';
    await w().ctx.accounts.addUser(OPERATOR, { address, password });
    await w().ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
    const t = (await api('/sessions', { email: address, password })).json().token as string;
    assert.equal((await api('/flow/setup', {}, t)).json().state, 'choose_method');
    return t;
  };
  const budgetRows = async () =>
    (await w().ctx.store.db.selectFrom('audit_events').select(['action', 'detail']).execute()).filter(
      (r) => r.action === 'code_budget.exceeded',
    );
  return { api, outbox, registering, budgetRows };
}

for (const kind of STORE_KINDS) {
  describe(`code budgets on ${kind}`, () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 7, 9, 0, 0));
    let w: World;
    const h = helpers(() => w);
    after(async () => w?.close());

    it('bombing one phone: ten parallel registrations to one number send exactly the destination budget', async () => {
      w = await budgetWorld(kind, { codesPerDestinationHour: 3 }, clock);
      const flows = await Promise.all(Array.from({ length: 10 }, (_, i) => h.registering(`bomb${i}@contoso.test`)));
      const answers = await Promise.all(flows.map((t) => h.api('/flow/method', { kind: 'sms', target: VICTIM }, t)));
      const sent = answers.filter((r) => r.statusCode === 200);
      const refused = answers.filter((r) => r.statusCode === 429);
      assert.equal(sent.length, 3, answers.map((r) => r.statusCode).join(','));
      assert.equal(refused.length, 7);
      for (const r of refused) {
        assert.equal(r.json().error.code, 'code_budget_exceeded');
        assert.match(r.json().error.message, /Too many codes have been sent recently/);
        assert.ok(Number(r.headers['retry-after']) > 0);
      }
      assert.equal(h.outbox().filter((m) => m.to === VICTIM).length, 3, 'nothing sent beyond the budget');
      const rows = await h.budgetRows();
      assert.equal(rows.length, 7);
      for (const r of rows) {
        assert.match(r.detail, /destination budget of 3 per hour/);
        assert.match(r.detail, /\+31 •••• 5678/);
        assert.ok(!r.detail.includes('612345678'), 'the number is masked in the audit log');
      }
      // The counter row names the destination by keyed hash only.
      const keys = (await w.ctx.store.db.selectFrom('rate_limits').select('key').execute()).map((r) => r.key);
      assert.ok(keys.some((k) => k.includes('budget:dest:')));
      assert.ok(!keys.some((k) => k.includes('612345678')));
      // In Dutch too; and an email address is a destination like a number.
      const nl = await h.api(
        '/flow/method',
        { kind: 'sms', target: VICTIM },
        await h.registering('nl@contoso.test'),
        'nl',
      );
      assert.equal(nl.statusCode, 429);
      assert.match(nl.json().error.message, /te veel codes verstuurd/);
      await w.close();
    });

    it('per user: resends within one account stop at the user budget, whatever the destination', async () => {
      w = await budgetWorld(kind, { codesPerUserHour: 2 }, clock);
      const t = await h.registering('resender@contoso.test');
      assert.equal((await h.api('/flow/method', { kind: 'sms', target: '+31612340001' }, t)).statusCode, 200);
      clock.advance(31_000);
      assert.equal(
        (await h.api('/flow/method', { kind: 'email', target: 'r.private@example.org' }, t)).statusCode,
        200,
      );
      clock.advance(31_000);
      const third = await h.api('/flow/method', { kind: 'voice', target: '+31612340002' }, t);
      assert.equal(third.statusCode, 429);
      assert.equal(third.json().error.code, 'code_budget_exceeded');
      assert.match((await h.budgetRows())[0]!.detail, /user budget of 2 per hour/);
      assert.equal(h.outbox().length, 2);
      await w.close();
    });

    it('per organization: one organization spent does not stop another', async () => {
      w = await budgetWorld(kind, { codesPerOrganizationHour: 2 }, clock);
      for (const i of [1, 2])
        assert.equal(
          (
            await h.api(
              '/flow/method',
              { kind: 'sms', target: `+3161234100${i}` },
              await h.registering(`o${i}@contoso.test`),
            )
          ).statusCode,
          200,
        );
      const over = await h.api(
        '/flow/method',
        { kind: 'sms', target: '+31612341003' },
        await h.registering('o3@contoso.test'),
      );
      assert.equal(over.statusCode, 429);
      assert.match((await h.budgetRows())[0]!.detail, /organization budget of 2 per hour/);
      const other = await h.api(
        '/flow/method',
        { kind: 'sms', target: '+31612341004' },
        await h.registering('o4@fabrikam.test'),
      );
      assert.equal(other.statusCode, 200);
      await w.close();
    });

    it('in total, and a sign-in challenge is counted like a registration', async () => {
      w = await budgetWorld(kind, { codesTotalHour: 2 }, clock);
      const t = await h.registering('total@contoso.test');
      assert.equal(
        (await h.api('/flow/method', { kind: 'email', target: 't.private@example.org' }, t)).statusCode,
        200,
      );
      const code = /\b(\d{6})\b/.exec(h.outbox().at(-1)!.text)![1]!;
      assert.equal((await h.api('/flow/verify', { code }, t)).json().state, 'enrolled');
      await h.api('/flow/next', {}, t);
      await h.api('/flow/next', {}, t);
      assert.equal((await h.api('/flow/done', {}, t)).statusCode, 201);
      // The sign-in sends its code at once: the second code of the deployment.
      const signIn = await h.api('/sessions', { email: 'total@contoso.test', password: 'budget-lantern-copper-9' });
      assert.equal(signIn.json().state, 'second_factor');
      const codes = () => h.outbox().filter((m) => m.to === 't.private@example.org').length;
      assert.equal(codes(), 2);
      const over = await h.api('/sessions', { email: 'total@contoso.test', password: 'budget-lantern-copper-9' });
      assert.equal(over.statusCode, 429);
      assert.equal(over.json().error.code, 'code_budget_exceeded');
      assert.match((await h.budgetRows())[0]!.detail, /total budget of 2 per hour/);
      assert.equal(codes(), 2);
    });
  });

  describe(`phone numbers codes may go to, on ${kind}`, () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 7, 9, 0, 0));
    let w: World;
    const h = helpers(() => w);
    before(async () => {
      w = await budgetWorld(kind, {}, clock);
    });
    after(async () => w.close());

    it('refuses premium-rate, shared-cost, toll-free and VoIP numbers, and a landline for texts, sending nothing', async () => {
      for (const [i, [channel, target, code]] of (
        [
          ['sms', '+319001234567', 'phone_type_not_allowed'], // NL premium rate (0900)
          ['voice', '+319001234567', 'phone_type_not_allowed'],
          ['voice', '+31800123456', 'phone_type_not_allowed'], // NL toll free (0800)
          ['sms', '+31851234567', 'phone_type_not_allowed'], // NL VoIP (085)
          ['sms', '+31201234567', 'phone_type_not_allowed'], // NL landline: no texts
          ['sms', '+12015550123', 'phone_country_not_allowed'], // US: not in the default countries
          ['sms', '+3161234', 'invalid_phone'],
        ] as const
      ).entries()) {
        const t = await h.registering(`p${i}@contoso.test`);
        const r = await h.api('/flow/method', { kind: channel, target }, t);
        assert.equal(r.statusCode, 400, `${channel} ${target}`);
        assert.equal(r.json().error.code, code, `${channel} ${target}`);
      }
      assert.equal(h.outbox().length, 0);
      const nl = await h.api(
        '/flow/method',
        { kind: 'sms', target: '+319001234567' },
        await h.registering('pnl@contoso.test'),
        'nl',
      );
      assert.match(nl.json().error.message, /betaalnummer/);
      // A landline may take a call.
      const voice = await h.api(
        '/flow/method',
        { kind: 'voice', target: '+31201234567' },
        await h.registering('desk@contoso.test'),
      );
      assert.equal(voice.statusCode, 200);
    });

    it("follows the organization's own list, and checks again at send time", async () => {
      const orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { phoneCountries: 'us, nl' });
      const t = await h.registering('us@contoso.test');
      const us = await h.api('/flow/method', { kind: 'sms', target: '+12015550123' }, t);
      assert.equal(us.statusCode, 200, 'a US number once the organization allows the US');
      const code = /\b(\d{6})\b/.exec(h.outbox().at(-1)!.text)![1]!;
      assert.equal((await h.api('/flow/verify', { code }, t)).json().state, 'enrolled');
      await h.api('/flow/next', {}, t);
      await h.api('/flow/next', {}, t);
      assert.equal((await h.api('/flow/done', {}, t)).statusCode, 201);
      // The admin removes the US: the registered number gets no more codes.
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { phoneCountries: ['NL'] });
      const before = h.outbox().length;
      clock.advance(31_000);
      const signIn = await h.api('/sessions', { email: 'us@contoso.test', password: 'budget-lantern-copper-9' });
      assert.equal(signIn.statusCode, 400);
      assert.equal(signIn.json().error.code, 'phone_country_not_allowed');
      assert.match(signIn.json().error.message, /\(US\)/);
      assert.equal(h.outbox().length, before, 'nothing sent to a country no longer allowed');
      await assert.rejects(
        w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { phoneCountries: 'NL, XX' }),
        (e: unknown) => isSesameError(e) && e.code === 'invalid_policy',
      );
      // Empty: back to the deployment's default list.
      assert.equal((await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { phoneCountries: '' })).phoneCountries, null);
    });

    it('the admin sets the list through the API and on the policy page; a bad code is refused', async () => {
      const token = await adminApiToken(w.app, ADMIN, { clock });
      const put = (body: object) =>
        w.app.inject({
          method: 'PUT',
          url: '/api/v1/policy',
          headers: { authorization: `Bearer ${token}` },
          payload: body,
        });
      assert.deepEqual((await put({ phoneCountries: ['us', 'NL'] })).json().phoneCountries, ['NL', 'US']);
      assert.equal((await put({ phoneCountries: ['XX'] })).statusCode, 400);
      assert.equal((await put({ phoneCountries: null })).json().phoneCountries, null);
      clock.advance(31_000);
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN, { clock });
      const page = await b.get('/admin/policy');
      assert.match(page.body, /name="phoneCountries"/);
      assert.match(page.body, /Empty: the default of this Sesame \(AT, BE,/);
      const saved = await b.submit('/admin/policy', '/admin/policy', {
        mfaDefault: 'disabled',
        methods: 'totp',
        rememberDays: '0',
        apCap: '10',
        apProtocols: 'imap',
        phoneCountries: 'be nl',
      });
      assert.equal(saved.statusCode, 303, saved.body);
      assert.match((await b.get('/admin/policy')).body, /name="phoneCountries"[^>]*value="BE, NL"/);
      const bad = await b.submit('/admin/policy', '/admin/policy', {
        mfaDefault: 'disabled',
        methods: 'totp',
        rememberDays: '0',
        apCap: '10',
        apProtocols: 'imap',
        phoneCountries: 'NL, Holland',
      });
      assert.equal(bad.statusCode, 400);
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('detail')
        .where('action', '=', 'org.policy')
        .execute();
      assert.ok(audit.some((a) => a.detail.includes('"phoneCountries":["NL","US"]')));
    });
  });
}

describe('the budget arithmetic', () => {
  /** An in-memory CounterStore with atomic take. */
  const memory = () => {
    const m = new Map<string, number>();
    return {
      m,
      take: async (k: string, s: number) => {
        const key = `${s}:${k}`;
        m.set(key, (m.get(key) ?? 0) + 1);
        return m.get(key)!;
      },
      giveBack: async (k: string, s: number) => {
        const key = `${s}:${k}`;
        m.set(key, (m.get(key) ?? 0) - 1);
      },
    };
  };
  const limits = (day: number): CodeBudgetLimits => ({
    user: { hour: 100, day },
    destination: { hour: 100, day: 100 },
    organization: { hour: 100, day: 100 },
    total: { hour: 100, day: 100 },
  });

  it('the day budget holds on its own, and a refusal leaves every count where it was', async () => {
    const counters = memory();
    const rows: string[] = [];
    const b = new CodeBudget(
      counters,
      createKeyedHasher(Buffer.alloc(32, 1)),
      limits(2),
      { recordAudit: async (e) => void rows.push(e.detail) },
      { now: () => 0 },
    );
    const send = { channel: 'sms' as const, userId: 'u', orgId: 'o', destination: VICTIM, masked: '+31 •••• 5678' };
    await b.spend(send);
    await b.spend(send);
    await assert.rejects(b.spend(send), (e: unknown) => isSesameError(e) && e.code === 'code_budget_exceeded');
    assert.match(rows[0]!, /user budget of 2 per day/);
    assert.ok(
      [...counters.m.values()].every((v) => v === 2),
      JSON.stringify([...counters.m]),
    );
  });

  it('classifies numbers with the full metadata', () => {
    assert.deepEqual(classifyPhone('+31612345678'), { country: 'NL', type: 'MOBILE' });
    assert.equal(classifyPhone('+319001234567')?.type, 'PREMIUM_RATE');
    assert.doesNotThrow(() => checkPhone('voice', '+31201234567', ['NL']));
    assert.throws(() => checkPhone('sms', '+31201234567', ['NL']));
  });
});
