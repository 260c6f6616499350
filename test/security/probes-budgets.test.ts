/**
 * Black-box probes of the budgets on codes sent (issue #15, item 3), against the real server over
 * HTTP, messages going to its development outbox:
 *
 * - "ten texts or calls to ten premium-rate numbers in half a second" (SMS pumping, toll fraud):
 *   ten accounts register text or voice methods at once for premium-rate, shared-cost and UAN
 *   numbers, and for mobiles in countries the organization does not allow: every one is refused
 *   at once and nothing goes out; ten at once to ten good mobiles from one account stop at that
 *   account's budget;
 * - "bombing one victim's phone": ten accounts register the same number at once, then keep
 *   asking: the number gets exactly the destination's budget of codes, and the audit log says
 *   which budget refused the rest, with the number masked.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { call, startProbeServer, tally, type ProbeServer } from '../support/probes.js';

const PASSWORD = 'quiet-meadow-copper-77';
const DESTINATION_BUDGET = 3;
const USER_BUDGET = 4;
const VICTIM = '+31612345678';
const PREMIUM = [
  ['sms', '+319001234567'], // NL 0900
  ['voice', '+319061234567'], // NL 0906
  ['sms', '+319091234567'], // NL 0909
  ['voice', '+448712345678'], // GB 0871
  ['sms', '+449012345678'], // GB 090
  ['voice', '+491371234567'], // DE 0137 shared cost
  ['sms', '+33891234567'], // FR 089
  ['voice', '+34803123456'], // ES 803
  ['sms', '+31840123456'], // NL 084 UAN
  ['voice', '+3190012345'], // NL 0900, short
] as const;
/** Mobiles in countries favoured by toll fraud, outside the default list (EEA, CH, GB). */
const ELSEWHERE = [
  ['sms', '+23276123456'], // Sierra Leone
  ['voice', '+5352345678'], // Cuba
] as const;

describe('probes: budgets on codes sent', () => {
  let probe: ProbeServer;
  let base = '';
  const outbox = (): { channel: string; to: string; text: string }[] => {
    const file = path.join(probe.dataDir, 'outbox.jsonl');
    return fs.existsSync(file)
      ? fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  };
  /** The audit rows of refused codes, read from the server's store (there is no audit page). */
  const budgetRows = (): { detail: string }[] => {
    const db = new Database(path.join(probe.dataDir, 'sesame.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare("SELECT detail FROM audit_events WHERE action = 'code_budget.exceeded'").all() as {
        detail: string;
      }[];
    } finally {
      db.close();
    }
  };
  /** Signs `address` in and opens "How should we contact you?"; returns the flow header. */
  const registering = async (address: string) => {
    const start = await call(base, 'POST', '/api/v1/sessions', { email: address, password: PASSWORD });
    assert.equal(start.body.state, 'more_info_required', start.text);
    const flow = { 'x-sesame-flow': start.body.token as string };
    assert.equal((await call(base, 'POST', '/api/v1/flow/setup', {}, flow)).body.state, 'choose_method');
    return flow;
  };

  before(async () => {
    ({ probe } = await startProbeServer(
      'budgets',
      {
        SESAME_IP_FAILURE_LIMIT: '100000',
        SESAME_CODES_PER_DESTINATION_HOUR: String(DESTINATION_BUDGET),
        SESAME_CODES_PER_USER_HOUR: String(USER_BUDGET),
      },
      async (ctx) => {
        await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
        for (let i = 0; i < 30; i++) {
          const address = `u${i}@contoso.test`;
          await ctx.accounts.addUser(OPERATOR, { address, password: PASSWORD });
          await ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
        }
      },
    ));
    base = probe.base;
  });
  after(async () => probe?.stop());

  it('ten texts or calls to ten premium-rate numbers in half a second: all refused, nothing sent', async () => {
    const flows = await Promise.all(PREMIUM.map((_, i) => registering(`u${i}@contoso.test`)));
    const t0 = performance.now();
    const answers = await Promise.all(
      PREMIUM.map(([kind, target], i) => call(base, 'POST', '/api/v1/flow/method', { kind, target }, flows[i])),
    );
    const ms = performance.now() - t0;
    assert.deepEqual(
      tally(answers, (a) => `${a.status} ${(a.body.error as { code?: string } | undefined)?.code}`),
      { '400 phone_type_not_allowed': 10 },
    );
    assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
    const fraud = await Promise.all(
      ELSEWHERE.map(async ([kind, target], i) =>
        call(base, 'POST', '/api/v1/flow/method', { kind, target }, await registering(`u${10 + i}@contoso.test`)),
      ),
    );
    for (const a of fraud) assert.equal((a.body.error as { code: string }).code, 'phone_country_not_allowed', a.text);
    assert.deepEqual(outbox(), [], 'no text or call went out');
  });

  it('ten good mobiles at once from one account stop at that account’s budget', async () => {
    const address = 'u12@contoso.test';
    const flows = await Promise.all(Array.from({ length: 10 }, () => registering(address)));
    const answers = await Promise.all(
      flows.map((flow, i) =>
        call(base, 'POST', '/api/v1/flow/method', { kind: 'sms', target: `+3161234${String(5100 + i)}` }, flow),
      ),
    );
    assert.deepEqual(
      tally(answers, (a) => a.status),
      { 200: USER_BUDGET, 429: 10 - USER_BUDGET },
    );
    assert.equal(outbox().filter((m) => m.to.startsWith('+31612345')).length, USER_BUDGET);
  });

  it("bombing one victim's phone: ten accounts at once, then again, and the number gets its budget only", async () => {
    const before = outbox().filter((m) => m.to === VICTIM).length;
    assert.equal(before, 0);
    const flows = await Promise.all(Array.from({ length: 10 }, (_, i) => registering(`u${13 + i}@contoso.test`)));
    const burst = () =>
      Promise.all(
        flows.map((flow) => call(base, 'POST', '/api/v1/flow/method', { kind: 'voice', target: VICTIM }, flow)),
      );
    const first = await burst();
    const second = await burst();
    const all = [...first, ...second];
    assert.equal(all.filter((a) => a.status === 200).length, DESTINATION_BUDGET, all.map((a) => a.status).join(','));
    for (const a of all.filter((x) => x.status !== 200))
      assert.ok(['code_budget_exceeded', 'resend_too_soon'].includes((a.body.error as { code: string }).code), a.text);
    assert.equal(outbox().filter((m) => m.to === VICTIM).length, DESTINATION_BUDGET);
    const nl = await call(
      base,
      'POST',
      '/api/v1/flow/method',
      { kind: 'sms', target: VICTIM },
      { ...(await registering('u23@contoso.test')), 'accept-language': 'nl' },
    );
    assert.equal(nl.status, 429);
    assert.match((nl.body.error as { message: string }).message, /te veel codes verstuurd/);
    const rows = budgetRows().filter((r) => r.detail.includes('destination budget'));
    assert.ok(rows.length >= 10, `${rows.length} audit rows`);
    for (const r of rows) {
      assert.match(r.detail, /\+31 •••• 5678/);
      assert.ok(!r.detail.includes('612345678'), 'the number is masked in the audit log');
    }
  });
});
