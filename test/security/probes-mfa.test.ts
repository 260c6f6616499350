/**
 * Black-box probes of the second factor (issue #7), against the real server over HTTP: a TOTP
 * code that just worked is refused from a second browser (the checklist's probe; 14), one
 * recovery code sent 20 times at once succeeds once (11, 19), and 50 parallel wrong second
 * factors are counted as 50 (11, 15). Every user registers an authenticator app through the JSON
 * API flow first, codes from oathtool. The failure limit (accounts and second factors alike) is
 * 25, so all 20 parallel recovery attempts reach the check and a burst of 50 overshoots it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { FetchBrowser } from '../support/fetch-browser.js';
import {
  call,
  csrfOf,
  form,
  oathtoolTotp,
  registerTotp,
  secondFactorFlow,
  signInLog,
  startProbeServer,
  tally,
  tallyAttempts,
  type ProbeServer,
  type Registered,
} from '../support/probes.js';

const LIMIT = 25;
const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
const PASSWORD = 'quiet-meadow-copper-77';
const USERS = {
  totp: 'tina@contoso.test',
  flows: 'rita@contoso.test',
  oneFlow: 'rhea@contoso.test',
  apiBurst: 'mara@contoso.test',
  webBurst: 'mona@contoso.test',
};

/** The current 30-second TOTP step. */
const stepNow = () => Math.floor(Date.now() / 30_000);
/** Six digits that are no valid code of `secret` around now (so a "wrong code" is surely wrong). */
function wrongCode(secret: string, i: number): string {
  const valid = new Set([-1, 0, 1, 2].map((d) => oathtoolTotp(secret, (stepNow() + d) * 30_000)));
  for (let n = i; ; n += 97) {
    const c = String(n % 1_000_000).padStart(6, '0');
    if (!valid.has(c)) return c;
  }
}

describe('probes: the second factor', () => {
  let probe: ProbeServer;
  let base = '';
  let adminToken = '';
  const reg: Partial<Record<keyof typeof USERS, Registered>> = {};

  before(async () => {
    ({ probe } = await startProbeServer(
      'mfa',
      {
        SESAME_ACCOUNT_FAILURE_LIMIT: String(LIMIT),
        SESAME_IP_FAILURE_LIMIT: '100000',
        SESAME_LOCK_BASE_SECONDS: '600',
        // The parallel probes below ask whether a code is accepted exactly once, not whether a
        // loaded machine refuses a burst of password checks as busy (test/security/argon2-queue).
        SESAME_ARGON2_MAX_WAIT_MS: '60000',
      },
      async (ctx) => {
        await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
        await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
        for (const address of Object.values(USERS)) {
          await ctx.accounts.addUser(OPERATOR, { address, password: PASSWORD });
          await ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
        }
      },
    ));
    base = probe.base;
    adminToken = await adminApiToken(base, ADMIN);
    for (const [k, address] of Object.entries(USERS))
      reg[k as keyof typeof USERS] = await registerTotp(base, address, PASSWORD);
  });
  after(async () => probe?.stop());

  const rowsFor = async (address: string, protocol: string) =>
    (await signInLog(base, adminToken)).filter((e) => e.addressTyped === address && e.protocol === protocol);

  it('probe: a TOTP code that just worked is refused from a second browser (and on the JSON API)', async () => {
    const { secret, step } = reg.totp!;
    // The enrolment used a step at or before now; the next step is within the accepted ±1 and after it.
    const at = Math.max(stepNow(), step) + 1;
    const code = oathtoolTotp(secret, at * 30_000);
    const first = new FetchBrowser(base);
    assert.equal((await first.signIn(USERS.totp, PASSWORD)).headers.get('location'), '/signin/mfa');
    const ok = await first.submit('/signin/mfa', '/signin/mfa/verify', { code });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/account');
    assert.equal((await first.get('/account')).status, 200, 'the first browser is signed in');

    const second = new FetchBrowser(base);
    assert.equal((await second.signIn(USERS.totp, PASSWORD)).headers.get('location'), '/signin/mfa');
    const replay = await second.submit('/signin/mfa', '/signin/mfa/verify', { code });
    assert.equal(replay.status, 400);
    assert.match(replay.body, /code/i);
    assert.equal(second.jar.has('sesame_session'), false, 'no session for the replay');
    assert.equal((await second.get('/account')).status, 303);

    const flow = await secondFactorFlow(base, USERS.totp, PASSWORD);
    const api = await call(base, 'POST', '/api/v1/flow/verify', { code }, { 'x-sesame-flow': flow });
    assert.equal(api.status, 400);
    assert.equal((api.body.error as { code: string }).code, 'code_invalid');
    // Two steps ahead is outside the ±1 window: refused too, even though it was never used.
    const far = await call(
      base,
      'POST',
      '/api/v1/flow/verify',
      { code: oathtoolTotp(secret, (stepNow() + 3) * 30_000) },
      { 'x-sesame-flow': flow },
    );
    assert.equal(far.status, 400);
    assert.deepEqual(
      tallyAttempts(await rowsFor(USERS.totp, 'web:mfa'), (e) => `${e.outcome}/${e.reason}`),
      { 'success/ok': 1, 'failure/wrong_second_factor': 1 },
    );
  });

  it('extra probe: one recovery code sent 20 times in parallel, each on its own sign-in, succeeds exactly once', async () => {
    const code = reg.flows!.recoveryCodes[0]!;
    const flows = await Promise.all(Array.from({ length: 20 }, () => secondFactorFlow(base, USERS.flows, PASSWORD)));
    for (const f of flows)
      assert.equal(
        (await call(base, 'POST', '/api/v1/flow/switch', { method: 'recovery' }, { 'x-sesame-flow': f })).status,
        200,
      );
    const answers = await Promise.all(
      flows.map((f) => call(base, 'POST', '/api/v1/flow/verify', { code }, { 'x-sesame-flow': f })),
    );
    assert.deepEqual(
      tally(answers, (a) => a.status),
      { 201: 1, 400: 19 },
      'one session; every other attempt refused as a wrong code (none throttled: all reached the check)',
    );
    const token = answers.find((a) => a.status === 201)!.body.token as string;
    assert.deepEqual(
      (await call(base, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token}` })).status,
      200,
    );
    assert.deepEqual(
      tallyAttempts(await rowsFor(USERS.flows, 'api:mfa'), (e) => `${e.outcome}/${e.reason}`),
      { 'success/ok': 1, 'failure/wrong_second_factor': 19 },
    );
    // Used is used: a later sign-in cannot spend it either.
    const later = await secondFactorFlow(base, USERS.flows, PASSWORD);
    await call(base, 'POST', '/api/v1/flow/switch', { method: 'recovery' }, { 'x-sesame-flow': later });
    assert.equal((await call(base, 'POST', '/api/v1/flow/verify', { code }, { 'x-sesame-flow': later })).status, 400);
  });

  it('extra probe: one recovery code sent 20 times in parallel on one sign-in succeeds exactly once', async () => {
    const code = reg.oneFlow!.recoveryCodes[0]!;
    const flow = { 'x-sesame-flow': await secondFactorFlow(base, USERS.oneFlow, PASSWORD) };
    assert.equal((await call(base, 'POST', '/api/v1/flow/switch', { method: 'recovery' }, flow)).status, 200);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => call(base, 'POST', '/api/v1/flow/verify', { code }, flow)),
    );
    assert.equal(
      answers.filter((a) => a.status === 201).length,
      1,
      `statuses ${JSON.stringify(tally(answers, (a) => a.status))}`,
    );
    assert.ok(
      answers.every((a) => a.status === 201 || a.status === 400),
      'the others are refused (a wrong code, or a finished sign-in)',
    );
    const rows = await rowsFor(USERS.oneFlow, 'api:mfa');
    assert.equal(rows.filter((e) => e.outcome === 'success').length, 1);
  });

  /** 50 wrong codes at once: exactly the limit are checked, the rest refused as locked, all logged; then the right code is refused. */
  async function burst(address: string, secret: string, protocol: string, send: (code: string) => Promise<number>) {
    const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => send(wrongCode(secret, 1000 + i * 7919))));
    assert.deepEqual(
      tally(statuses, (s) => s),
      { 400: LIMIT, 429: 50 - LIMIT },
    );
    assert.deepEqual(
      tallyAttempts(await rowsFor(address, protocol), (e) => `${e.outcome}/${e.reason}`),
      { 'failure/wrong_second_factor': LIMIT, 'throttled/mfa_locked': 50 - LIMIT },
    );
    assert.equal(await send(oathtoolTotp(secret, Date.now())), 429, 'locked: the right code is refused too');
  }

  it('extra probe: 50 parallel wrong second factors on the JSON API: 25 checked, 25 refused as locked, 50 in the sign-in log', async () => {
    const flow = { 'x-sesame-flow': await secondFactorFlow(base, USERS.apiBurst, PASSWORD) };
    await burst(
      USERS.apiBurst,
      reg.apiBurst!.secret,
      'api:mfa',
      async (code) => (await call(base, 'POST', '/api/v1/flow/verify', { code }, flow)).status,
    );
  });

  it('extra probe: 50 parallel wrong second factors on the sign-in pages: 25 checked, 25 refused as locked, 50 in the sign-in log', async () => {
    const b = new FetchBrowser(base);
    assert.equal((await b.signIn(USERS.webBurst, PASSWORD)).headers.get('location'), '/signin/mfa');
    const csrf = csrfOf((await b.get('/signin/mfa')).body);
    await burst(
      USERS.webBurst,
      reg.webBurst!.secret,
      'web:mfa',
      async (code) => (await b.request('/signin/mfa/verify', form({ _csrf: csrf, code }))).status,
    );
  });
});
