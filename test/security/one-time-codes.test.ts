/**
 * Codes sent by email or text, and recovery codes (checklist 11, 16, 17, 19): a phone number or
 * address becomes a method only once its code comes back; a code lives 10 minutes, works once,
 * only in its sign-in, and one of 20 parallel answers wins; a resend voids the old code without
 * resetting the failure count; choosing the method again does not get around the send limits;
 * recovery codes are 79-bit, stored as keyed hashes, used once, and renewing them voids the old set.
 * Codes are read from the development outbox, where this world's messages go.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { CODE_TTL_MS } from '../../src/domain/mfa/factors.js';
import { Browser, FakeClock, makeWorld, oathtoolTotp, recoveryCodesFrom, type World } from '../support/world.js';

const LIMIT = 4;

describe('one-time codes and recovery codes', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 16, 0, 0));
  const api = (url: string, body: object, flow?: string) =>
    w.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      payload: body,
      headers: flow ? { 'x-sesame-flow': flow } : {},
    });

  before(async () => {
    w = await makeWorld('sqlite', { accountFailureLimit: LIMIT, ipFailureLimit: 10_000 }, { clock });
  });
  after(async () => w.close());

  /** What the development outbox holds, oldest first. */
  const outbox = (): { channel: string; to: string; text: string }[] =>
    fs.existsSync(w.ctx.config.devOutbox)
      ? fs
          .readFileSync(w.ctx.config.devOutbox, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const sentTo = (to: string) => outbox().filter((m) => m.to === to);
  const lastCode = (to: string) => {
    const m = sentTo(to).at(-1);
    assert.ok(m, `a message to ${to}`);
    return /\b(\d{6})\b/.exec(m.text)![1]!;
  };
  const userId = async (address: string) =>
    (await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', address).executeTakeFirstOrThrow()).id;
  const methods = async (address: string) =>
    w.ctx.store.db
      .selectFrom('mfa_methods')
      .select(['kind', 'target'])
      .where('user_id', '=', await userId(address))
      .execute();

  /** A new user who must register; returns the flow token at "How should we contact you?". */
  async function registering(address: string, password: string) {
    await w.ctx.accounts.addUser(OPERATOR, { address, password });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
    const t = (await api('/sessions', { email: address, password })).json().token as string;
    assert.equal((await api('/flow/setup', {}, t)).json().state, 'choose_method');
    return t;
  }

  /** A new user with an email method registered; the flow is finished. */
  async function withEmailMethod(address: string, password: string, target: string) {
    const t = await registering(address, password);
    await api('/flow/method', { kind: 'email', target }, t);
    assert.equal((await api('/flow/verify', { code: lastCode(target) }, t)).json().state, 'enrolled');
    await api('/flow/next', {}, t);
    await api('/flow/next', {}, t);
    assert.equal((await api('/flow/done', {}, t)).statusCode, 201);
    clock.advance(31_000);
  }

  /** A sign-in of a user with an email method: the code is sent at once; returns the flow token. */
  async function challenged(address: string, password: string) {
    const r = await api('/sessions', { email: address, password });
    assert.equal(r.json().state, 'second_factor');
    return r.json().token as string;
  }

  it('a phone number or an address becomes a method only once the code sent to it comes back', async () => {
    for (const [kind, target, address] of [
      ['email', 'ann.private@example.org', 'ann@contoso.test'],
      ['sms', '+31612345001', 'sam@contoso.test'],
    ] as const) {
      const t = await registering(address, 'verify-first-lantern-1');
      const sent = await api('/flow/method', { kind, target }, t);
      assert.equal(sent.json().state, 'verify_enrolment');
      assert.equal(sentTo(target).length, 1, `a code went to ${target}`);
      assert.deepEqual(await methods(address), [], `${kind}: nothing is a method before its code comes back`);
      assert.equal(
        (await api('/flow/verify', { code: lastCode(target) === '000000' ? '111111' : '000000' }, t)).statusCode,
        400,
      );
      assert.deepEqual(await methods(address), [], `${kind}: a wrong code adds nothing`);
      // Leaving the registration half-way: the unverified target cannot be used to sign in.
      const other = await api('/sessions', { email: address, password: 'verify-first-lantern-1' });
      assert.equal(other.json().state, 'more_info_required', 'the next sign-in still has no method to ask for');
      assert.equal((await api('/flow/verify', { code: lastCode(target) }, t)).json().state, 'enrolled');
      assert.deepEqual(await methods(address), [{ kind, target }]);
      clock.advance(31_000);
    }
  });

  it('a code lives 10 minutes: refused a second later, accepted a second before', async () => {
    assert.equal(CODE_TTL_MS, 10 * 60_000);
    await withEmailMethod('ttl@contoso.test', 'ten-minutes-lantern-2', 'ttl.private@example.org');
    let t = await challenged('ttl@contoso.test', 'ten-minutes-lantern-2');
    clock.advance(10 * 60_000 + 1_000);
    const late = await api('/flow/verify', { code: lastCode('ttl.private@example.org') }, t);
    assert.equal(late.statusCode, 400);
    assert.equal(late.json().error.code, 'code_invalid');
    t = await challenged('ttl@contoso.test', 'ten-minutes-lantern-2');
    clock.advance(10 * 60_000 - 1_000);
    assert.equal((await api('/flow/verify', { code: lastCode('ttl.private@example.org') }, t)).statusCode, 201);
  });

  it('a resend voids the old code but keeps the failure count', async () => {
    await withEmailMethod('resend@contoso.test', 'copper-count-lantern-3', 'resend.private@example.org');
    const t = await challenged('resend@contoso.test', 'copper-count-lantern-3');
    const first = lastCode('resend.private@example.org');
    for (let i = 0; i < LIMIT - 2; i++)
      assert.equal((await api('/flow/verify', { code: first === '000000' ? '111111' : '000000' }, t)).statusCode, 400);
    clock.advance(31_000);
    assert.equal((await api('/flow/resend', {}, t)).statusCode, 200);
    const second = lastCode('resend.private@example.org');
    assert.notEqual(second, first);
    assert.equal((await api('/flow/verify', { code: first }, t)).statusCode, 400, 'the old code is void');
    // That was failure LIMIT - 1; one more reaches the limit, resend or not.
    assert.equal((await api('/flow/verify', { code: second === '000000' ? '111111' : '000000' }, t)).statusCode, 400);
    const locked = await api('/flow/verify', { code: second }, t);
    assert.equal(locked.statusCode, 429, 'the resend did not start the count over');
  });

  it('choosing the method again, or "sign in another way" back to it, does not get around the send limits', async () => {
    // At registration: choose email, go back, choose it again at once.
    const t = await registering('pump@contoso.test', 'send-limit-lantern-4');
    await api('/flow/method', { kind: 'email', target: 'pump.private@example.org' }, t);
    assert.equal((await api('/flow/choose', {}, t)).json().state, 'choose_method');
    const again = await api('/flow/method', { kind: 'email', target: 'pump.private@example.org' }, t);
    assert.equal(again.statusCode, 429);
    assert.equal(again.json().error.code, 'resend_too_soon');
    const elsewhere = await api('/flow/method', { kind: 'email', target: 'pump.other@example.org' }, t);
    assert.equal(elsewhere.statusCode, 429, 'nor by sending to another address');
    assert.equal(sentTo('pump.private@example.org').length + sentTo('pump.other@example.org').length, 1);
    await api('/flow/choose', {}, t);
    clock.advance(31_000);
    await api('/flow/method', { kind: 'email', target: 'pump.private@example.org' }, t);
    await api('/flow/verify', { code: lastCode('pump.private@example.org') }, t);
    await api('/flow/next', {}, t);
    await api('/flow/next', {}, t);
    await api('/flow/done', {}, t);
    clock.advance(31_000);

    // At sign-in: the code goes out at once; switching to the same method does not send another.
    const s = await challenged('pump@contoso.test', 'send-limit-lantern-4');
    const methodId = (
      await w.app.inject({ method: 'GET', url: '/api/v1/flow', headers: { 'x-sesame-flow': s } })
    ).json().current.id as string;
    const before = sentTo('pump.private@example.org').length;
    assert.equal((await api('/flow/switch', { method: methodId }, s)).statusCode, 429);
    assert.equal((await api('/flow/switch', { method: 'recovery' }, s)).statusCode, 200);
    assert.equal((await api('/flow/switch', { method: methodId }, s)).statusCode, 429);
    assert.equal(sentTo('pump.private@example.org').length, before, 'no code was sent by switching');
    // Resends: 30 s apart, at most 5 codes in one sign-in.
    for (let i = 0; i < 4; i++) {
      clock.advance(31_000);
      assert.equal((await api('/flow/resend', {}, s)).statusCode, 200, `resend ${i + 1}`);
    }
    clock.advance(31_000);
    assert.equal((await api('/flow/resend', {}, s)).statusCode, 429, 'the sixth code in one sign-in');
    assert.equal(sentTo('pump.private@example.org').length, before + 4);
  });

  it('of 20 parallel answers with the right code, exactly one signs in', async () => {
    await withEmailMethod('race@contoso.test', 'parallel-copper-lantern-5', 'race.private@example.org');
    const t = await challenged('race@contoso.test', 'parallel-copper-lantern-5');
    const code = lastCode('race.private@example.org');
    const answers = await Promise.all(Array.from({ length: 20 }, () => api('/flow/verify', { code }, t)));
    assert.equal(answers.filter((a) => a.statusCode === 201).length, 1, answers.map((a) => a.statusCode).join(','));
    assert.equal(
      (
        await w.ctx.store.db
          .selectFrom('sessions')
          .select('id')
          .where('user_id', '=', await userId('race@contoso.test'))
          .execute()
      ).length,
      2,
      'the registration and one sign-in',
    );
  });

  it('recovery codes: 79 bits each, stored only as keyed hashes, used once; renewing voids the old set and tells the user', async () => {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'rc@contoso.test', password: 'recovery-set-lantern-6' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'rc@contoso.test', 'enabled');
    const t = (await api('/sessions', { email: 'rc@contoso.test', password: 'recovery-set-lantern-6' })).json()
      .token as string;
    await api('/flow/setup', {}, t);
    const secret = (await api('/flow/method', { kind: 'totp' }, t)).json().prompt.secret as string;
    await api('/flow/verify', { code: oathtoolTotp(secret, clock.now()) }, t);
    await api('/flow/next', {}, t);
    const codes = (await api('/flow/next', {}, t)).json().recoveryCodes as string[];
    await api('/flow/done', {}, t);
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){3}$/);
    assert.ok(16 * Math.log2(31) >= 64, '16 characters of a 31-letter alphabet');

    const rows = await w.ctx.store.db
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('user_id', '=', await userId('rc@contoso.test'))
      .execute();
    assert.equal(rows.length, 10);
    const stored = JSON.stringify(rows);
    for (const c of codes) {
      assert.ok(!stored.includes(c) && !stored.includes(c.replace(/-/g, '')), 'no code in clear');
      assert.ok(!stored.includes(createHash('sha256').update(c).digest('hex')), 'not an unkeyed hash');
    }
    assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.code_hash)));

    // Used once.
    const signInWith = async (code: string) => {
      const s = (await api('/sessions', { email: 'rc@contoso.test', password: 'recovery-set-lantern-6' })).json()
        .token as string;
      await api('/flow/switch', { method: 'recovery' }, s);
      return (await api('/flow/verify', { code }, s)).statusCode;
    };
    assert.equal(await signInWith(codes[0]!), 201);
    assert.equal(await signInWith(codes[0]!), 400, 'a recovery code works once');

    // Renewing (Security info, after a fresh second factor) voids the old set and tells the user.
    const b = new Browser(w.app);
    await b.signIn('rc@contoso.test', 'recovery-set-lantern-6');
    clock.advance(30_000);
    assert.equal(
      (await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) })).headers
        .location,
      '/account',
    );
    const mails = sentTo('rc@contoso.test').length;
    const renewal = await b.submitForm('/security-info', '/security-info/recovery-codes', {});
    assert.equal(renewal.statusCode, 303, 'post/redirect/get: a reload makes no other set');
    assert.deepEqual(recoveryCodesFrom(renewal.body), []);
    const renewed = await b.get(String(renewal.headers.location));
    const fresh = recoveryCodesFrom(renewed.body);
    assert.equal(fresh.length, 10);
    const reload = await b.get(String(renewal.headers.location));
    assert.deepEqual(recoveryCodesFrom(reload.body), [], 'shown once');
    assert.match(reload.body, /were shown once and cannot be shown again/);
    assert.equal(await signInWith(codes[1]!), 400, 'an old code no longer works');
    assert.equal(await signInWith(fresh[0]!), 201, 'a new one does');
    assert.ok(
      sentTo('rc@contoso.test')
        .slice(mails)
        .some((m) => /New recovery codes were made/.test(m.text)),
      'the user is told',
    );
  });
});
