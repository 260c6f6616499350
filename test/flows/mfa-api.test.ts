/** The JSON API drives the same sign-in flows as the pages: registration and the second step. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { storeOr } from '../support/stores.js';
import { startWebhook } from '../support/sinks.js';
import { FakeClock, makeWorld, oathtoolTotp, USER, type World } from '../support/world.js';

describe('MFA through the JSON API', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 27, 9, 0, 0));
  const post = (url: string, body: object, flow?: string) =>
    w.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      payload: body,
      headers: flow ? { 'x-sesame-flow': flow } : {},
    });

  before(async () => {
    w = await makeWorld(storeOr('postgres'), {}, { clock });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
  });
  after(async () => w.close());

  let secret = '';

  it('registers an authenticator app step by step and only then returns a session token', async () => {
    const start = await post('/sessions', { email: USER.address, password: USER.password });
    assert.equal(start.statusCode, 200);
    const flow = start.json();
    assert.equal(flow.state, 'more_info_required');
    assert.equal(flow.token.length, 43);
    assert.equal(flow.token === undefined, false);
    assert.equal('user' in flow, false);
    const t = flow.token as string;
    assert.equal(
      (await w.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${t}` } })).statusCode,
      401,
      'a flow token is not a session',
    );

    assert.equal((await post('/flow/setup', {}, t)).json().state, 'choose_method');
    const enrol = (await post('/flow/method', { kind: 'totp' }, t)).json();
    assert.equal(enrol.state, 'verify_enrolment');
    // The issuer is the user's organization (makeWorld names contoso.test 'Contoso').
    assert.match(enrol.prompt.uri, /^otpauth:\/\/totp\/Contoso:bob%40contoso\.test\?issuer=Contoso&/);
    secret = enrol.prompt.secret;
    const wrong = await post('/flow/verify', { code: '123456' }, t);
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().error.code, 'code_invalid');
    assert.equal((await post('/flow/verify', { code: oathtoolTotp(secret, clock.now()) }, t)).json().state, 'enrolled');
    const keep = (await post('/flow/next', {}, t)).json();
    assert.equal(keep.state, 'app_password');
    assert.match(keep.appPassword.password, /^([a-hjkmnp-z]{4} ){4}[a-hjkmnp-z]{4}$/);
    const codes = (await post('/flow/next', {}, t)).json();
    assert.equal(codes.state, 'recovery_codes');
    assert.equal(codes.recoveryCodes.length, 10);
    const done = await post('/flow/done', {}, t);
    assert.equal(done.statusCode, 201);
    assert.deepEqual(done.json().amr, ['pwd', 'otp']);
    const me = await w.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${done.json().token}` },
    });
    assert.equal(me.json().user.mfaState, 'enforced');
    assert.equal((await post('/flow/done', {}, t)).statusCode, 400, 'the flow is over');
  });

  it('asks for the second factor at the next sign-in and refuses steps out of order', async () => {
    const t = (await post('/sessions', { email: USER.address, password: USER.password })).json().token as string;
    assert.equal(
      (await w.app.inject({ method: 'GET', url: '/api/v1/flow', headers: { 'x-sesame-flow': t } })).json().state,
      'second_factor',
    );
    const outOfOrder = await post('/flow/done', {}, t);
    assert.equal(outOfOrder.statusCode, 409);
    assert.equal(outOfOrder.json().error.code, 'flow_step');
    clock.advance(30_000);
    const ok = await post('/flow/verify', { code: oathtoolTotp(secret, clock.now()) }, t);
    assert.equal(ok.statusCode, 201);
    assert.ok(ok.json().token);
  });

  it('refuses unknown flow tokens and bad bodies', async () => {
    assert.equal((await post('/flow/setup', {}, 'not-a-flow')).statusCode, 400);
    assert.equal((await post('/flow/setup', {})).statusCode, 400, 'the header is required');
    const t = (await post('/sessions', { email: USER.address, password: USER.password })).json().token as string;
    assert.equal((await post('/flow/verify', { code: '1', admin: true }, t)).statusCode, 400);
    assert.equal((await post('/flow/frobnicate', {}, t)).statusCode, 400);
  });
});

describe('phone numbers through the JSON API (#17, task A4)', () => {
  let w: World;
  let hook: Awaited<ReturnType<typeof startWebhook>>;
  const clock = new FakeClock(Date.UTC(2026, 10, 27, 9, 0, 0));
  const post = (url: string, body: object, flow?: string) =>
    w.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      payload: body,
      headers: flow ? { 'x-sesame-flow': flow } : {},
    });
  let orgId = '';

  before(async () => {
    hook = await startWebhook();
    w = await makeWorld(
      storeOr('postgres'),
      { smsWebhookUrl: hook.url, smsWebhookSecret: 'a-webhook-secret-of-some-length' },
      { clock },
    );
    await w.ctx.accounts.addUser(OPERATOR, { address: 'ida@contoso.test', password: 'saffron-harbor-kite-19' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'ida@contoso.test', 'enabled');
    orgId = (
      await w.ctx.store.db
        .selectFrom('users')
        .select('org_id')
        .where('address', '=', 'ida@contoso.test')
        .executeTakeFirstOrThrow()
    ).org_id;
  });
  after(async () => {
    await w.close();
    await hook.stop();
  });

  const startFlow = async () => {
    const t = (await post('/sessions', { email: 'ida@contoso.test', password: 'saffron-harbor-kite-19' })).json()
      .token as string;
    await post('/flow/setup', {}, t);
    return t;
  };

  it('picks the method first, then takes a national number in the default country, by the same domain rule as the pages', async () => {
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { defaultCountry: 'NL' });
    const t = await startFlow();
    const picked = (await post('/flow/pick', { kind: 'sms' }, t)).json();
    assert.deepEqual(
      { state: picked.state, chosen: picked.chosen, example: picked.phoneExample },
      { state: 'contact_details', chosen: 'sms', example: '06 12345678' },
    );
    const bad = await post('/flow/method', { kind: 'sms', target: '06 1234' }, t);
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'invalid_phone');
    const sent = await post('/flow/method', { kind: 'sms', target: '06-12345678' }, t);
    assert.equal(sent.statusCode, 200);
    assert.equal(sent.json().state, 'verify_enrolment');
    assert.equal(hook.calls.at(-1)!.body.to, '+31612345678');
  });

  it('without a default country, asks for the country code, and the flow keeps the chosen method', async () => {
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { defaultCountry: null });
    const t = await startFlow();
    const national = await post('/flow/method', { kind: 'voice', target: '0612345678' }, t);
    assert.equal(national.statusCode, 400);
    assert.equal(national.json().error.code, 'phone_country_code_required');
    const now = (await w.app.inject({ method: 'GET', url: '/api/v1/flow', headers: { 'x-sesame-flow': t } })).json();
    assert.deepEqual({ state: now.state, chosen: now.chosen }, { state: 'contact_details', chosen: 'voice' });
    assert.match(now.phoneExample, /^\+\d/, 'the example in international form');
    const international = await post('/flow/method', { kind: 'voice', target: '+31 6 12345678' }, t);
    assert.equal(international.json().state, 'verify_enrolment');
  });
});
