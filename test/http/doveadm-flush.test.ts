/** Revocation tells Dovecot's doveadm HTTP API (a real HTTP listener stands in for it here) to flush the user's cache entries and kick their sessions. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { startWebhook } from '../support/sinks.js';
import { makeWorld, USER, type World } from '../support/world.js';

describe('doveadm cache flush on revocation', () => {
  let w: World;
  let doveadm: Awaited<ReturnType<typeof startWebhook>>;
  before(async () => {
    doveadm = await startWebhook();
    w = await makeWorld('sqlite', { doveadmUrl: doveadm.url, doveadmApiKey: 'doveadm-test-key' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
  });
  after(async () => {
    await w.close();
    await doveadm.stop();
  });

  it('flushes and kicks the user when an app password is deleted, when all are revoked, and when MFA is turned off', async () => {
    const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now())).session;
    const a = await w.ctx.appPasswords.create(user, s, 'A', { ip: '127.0.0.1', locale: 'en' });
    const base = doveadm.calls.length;
    await w.ctx.appPasswords.remove(user, a.appPassword.id);
    assert.equal(doveadm.calls.length, base + 1);
    const call = doveadm.calls.at(-1)!;
    assert.equal(call.headers.authorization, `X-Dovecot-API ${Buffer.from('doveadm-test-key').toString('base64')}`);
    assert.deepEqual(call.body, [
      ['authCacheFlush', { user: [USER.address] }, 'flush'],
      ['kick', { mask: [USER.address] }, 'kick'],
    ]);
    await w.ctx.appPasswords.create(user, s, 'B', { ip: '127.0.0.1', locale: 'en' });
    await w.ctx.appPasswords.revokeAllFor(OPERATOR, USER.address);
    assert.equal(doveadm.calls.length, base + 2);
    await w.ctx.appPasswords.create(user, s, 'C', { ip: '127.0.0.1', locale: 'en' });
    const before = doveadm.calls.length;
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'disabled');
    assert.ok(doveadm.calls.length > before, 'turning MFA off revokes app passwords and flushes');
  });

  it('flushes when the user is disabled, gets a new main password, or MFA becomes enforced', async () => {
    const n = () => doveadm.calls.filter((c) => JSON.stringify(c.body).includes(USER.address)).length;
    let before = n();
    await w.ctx.accounts.disableUser(OPERATOR, USER.address);
    assert.equal(n(), before + 1);
    await w.ctx.accounts.enableUser(OPERATOR, USER.address);
    before = n();
    await w.ctx.accounts.setPassword(OPERATOR, USER.address, 'fresh-copper-meadow-9');
    assert.ok(n() > before);
    before = n();
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    assert.equal(n(), before + 1);
  });

  it('still revokes when Dovecot cannot be reached', async () => {
    const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now())).session;
    const a = await w.ctx.appPasswords.create(user, s, 'D', { ip: '127.0.0.1', locale: 'en' });
    doveadm.state.status = 500;
    await w.ctx.appPasswords.remove(user, a.appPassword.id);
    assert.equal((await w.ctx.appPasswords.list(user)).length, 0);
  });
});
