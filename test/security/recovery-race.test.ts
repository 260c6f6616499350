/**
 * Checklist 11 and 19: one second-factor challenge ends in at most one session. Two *different*
 * good recovery codes sent at the same moment on one sign-in used to make two sessions (each code
 * was consumed atomically, but the flow was not claimed); now exactly one wins.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { FakeClock, makeWorld, oathtoolTotp, USER, type World } from '../support/world.js';

describe('two recovery codes at once on one sign-in', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 27, 9, 0, 0));
  const post = (url: string, body: object, flow?: string) =>
    w.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      payload: body,
      headers: flow ? { 'x-sesame-flow': flow } : {},
    });
  let codes: string[] = [];

  before(async () => {
    w = await makeWorld('sqlite', {}, { clock });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
    const t = (await post('/sessions', { email: USER.address, password: USER.password })).json().token as string;
    await post('/flow/setup', {}, t);
    const secret = (await post('/flow/method', { kind: 'totp' }, t)).json().prompt.secret as string;
    await post('/flow/verify', { code: oathtoolTotp(secret, clock.now()) }, t);
    await post('/flow/next', {}, t);
    codes = (await post('/flow/next', {}, t)).json().recoveryCodes as string[];
    assert.equal((await post('/flow/done', {}, t)).statusCode, 201);
  });
  after(async () => w.close());

  it('lets exactly one of them finish the sign-in', async () => {
    const t = (await post('/sessions', { email: USER.address, password: USER.password })).json().token as string;
    assert.equal((await post('/flow/switch', { method: 'recovery' }, t)).statusCode, 200);
    const answers = await Promise.all(
      [codes[0]!, codes[1]!, codes[2]!].map((code) => post('/flow/verify', { code }, t)),
    );
    const sessions = answers.filter((a) => a.statusCode === 201);
    assert.equal(sessions.length, 1, answers.map((a) => `${a.statusCode} ${a.body}`).join('\n'));
    // The others are refused: their challenge was already used, or the finished flow is gone.
    for (const a of answers.filter((x) => x.statusCode !== 201))
      assert.ok(['code_invalid', 'flow_expired'].includes(a.json().error.code), a.body);
  });
});
