/** Revocation tells Dovecot's doveadm HTTP API (a real HTTP listener stands in for it here) to flush the user's cache entries and kick their sessions. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { startWebhook } from '../support/sinks.js';
import { FakeClock, makeWorld, USER, type World } from '../support/world.js';

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
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
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
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    const a = await w.ctx.appPasswords.create(user, s, 'D', { ip: '127.0.0.1', locale: 'en' });
    doveadm.state.status = 500;
    await w.ctx.appPasswords.remove(user, a.appPassword.id);
    assert.equal((await w.ctx.appPasswords.list(user)).length, 0);
  });
});

describe('doveadm cache flush on a narrowing policy and on expiry', () => {
  const clock = new FakeClock();
  let w: World;
  let doveadm: Awaited<ReturnType<typeof startWebhook>>;
  const orgFlush = (domain: string) => [
    ['authCacheFlush', { user: [] }, 'flush'],
    ['kick', { mask: [`*@${domain}`] }, 'kick'],
  ];
  const userFlush = (address: string) => [
    ['authCacheFlush', { user: [address] }, 'flush'],
    ['kick', { mask: [address] }, 'kick'],
  ];
  const count = (body: unknown) => doveadm.calls.filter((c) => JSON.stringify(c.body) === JSON.stringify(body)).length;
  before(async () => {
    doveadm = await startWebhook();
    w = await makeWorld('sqlite', { doveadmUrl: doveadm.url, doveadmApiKey: 'doveadm-test-key' }, { clock });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
  });
  after(async () => {
    await w.close();
    await doveadm.stop();
  });

  it('flushes the whole auth cache and kicks the organization when its policy narrows legacy sign-ins, and not when it widens', async () => {
    const org = await w.ctx.accounts.organizationByDomain('contoso.test');
    const steps: [string, Parameters<typeof w.ctx.mfaAdmin.setPolicy>[2], number][] = [
      ['main password refused always', { legacyMainPassword: 'never' }, 1],
      ['main password accepted again', { legacyMainPassword: 'until_enforced' }, 0],
      ['no new app passwords, existing ones kept', { appPasswords: { allowed: false } }, 0],
      ['existing app passwords suspended', { appPasswords: { keepExistingWhenOff: false } }, 1],
      ['app passwords back on', { appPasswords: { allowed: true, keepExistingWhenOff: true } }, 0],
      ['POP3, DAV and HTTP taken off', { appPasswords: { protocols: ['imap', 'smtp'] } }, 1],
      ['POP3 back', { appPasswords: { protocols: ['imap', 'smtp', 'pop3'] } }, 0],
      ['a maximum lifetime introduced', { appPasswords: { maxLifetimeDays: 365 } }, 1],
      ['the maximum lifetime shortened', { appPasswords: { maxLifetimeDays: 30 } }, 1],
      ['the maximum lifetime lengthened', { appPasswords: { maxLifetimeDays: 90 } }, 0],
      ['no maximum lifetime', { appPasswords: { maxLifetimeDays: null } }, 0],
      ['revocation after 90 unused days', { appPasswords: { revokeUnusedDays: 90 } }, 1],
      ['no revocation of unused ones', { appPasswords: { revokeUnusedDays: null } }, 0],
      [
        'settings legacy sign-ins never consult',
        {
          mfaDefault: 'enforced',
          rememberDays: 7,
          allowedMethods: ['totp'],
          appPasswords: { cap: 5, revokeOnPasswordChange: false },
        },
        0,
      ],
      ['the same policy saved again', {}, 0],
    ];
    for (const [what, change, flushes] of steps) {
      const before = doveadm.calls.length;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, org.id, change);
      assert.equal(doveadm.calls.length, before + flushes, what);
      if (flushes) {
        const call = doveadm.calls.at(-1)!;
        assert.deepEqual(call.body, orgFlush('contoso.test'), what);
        assert.equal(call.headers.authorization, `X-Dovecot-API ${Buffer.from('doveadm-test-key').toString('base64')}`);
      }
    }
    // Another organization's narrowing kicks that organization's users, not these.
    const fabrikam = await w.ctx.accounts.organizationByDomain('fabrikam.test');
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, fabrikam.id, { legacyMainPassword: 'never' });
    assert.deepEqual(doveadm.calls.at(-1)!.body, orgFlush('fabrikam.test'));
    // Refused changes change nothing and flush nothing.
    const before = doveadm.calls.length;
    await assert.rejects(
      w.ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { legacyMainPassword: 'never', appPasswords: { protocols: [] } }),
      { code: 'invalid_policy' },
    );
    assert.equal(doveadm.calls.length, before);
  });

  it("tells Dovecot about an app password's owner at the first check after its expiry, once, and keeps the app password", async () => {
    const org = await w.ctx.accounts.organizationByDomain('contoso.test');
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { maxLifetimeDays: 1 } });
    const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
      .session;
    // Two app passwords expiring within the same minute: their owner is told once.
    const a = await w.ctx.appPasswords.create(user, s, 'Phone', { ip: '127.0.0.1', locale: 'en' });
    clock.advance(10_000);
    const b = await w.ctx.appPasswords.create(user, s, 'Tablet', { ip: '127.0.0.1', locale: 'en' });
    assert.equal(a.appPassword.expiresAt, a.appPassword.createdAt + 86_400_000);
    const expiry = b.appPassword.expiresAt!;
    const base = count(userFlush(USER.address));
    // A check every minute, as main.ts runs it, from 5 minutes before the later expiry to 5 after;
    // the earlier one, 10 s before it, falls in the same minute.
    clock.t = expiry - 5 * 60_000;
    let since = clock.now();
    const toldAt: number[] = [];
    for (let i = 0; i < 10; i++) {
      clock.advance(60_000);
      const now = clock.now();
      const n = await w.ctx.appPasswords.notifyExpired(since, now);
      since = now;
      if (n) toldAt.push(now);
      assert.equal(count(userFlush(USER.address)), base + toldAt.length);
    }
    assert.deepEqual(
      toldAt,
      [expiry],
      'told at the check whose time is the expiry itself (expired from then on), and at no other',
    );
    assert.equal(count(userFlush(USER.address)), base + 1, 'once');
    // Expired, not deleted: the user still sees both.
    assert.deepEqual(
      (await w.ctx.appPasswords.list(user)).map((p) => p.name),
      ['Phone', 'Tablet'],
    );
    // A check over a window with no expiry in it tells no one.
    const calls = doveadm.calls.length;
    assert.equal(await w.ctx.appPasswords.notifyExpired(since, since + 60_000), 0);
    assert.equal(await w.ctx.appPasswords.notifyExpired(since, since), 0);
    assert.equal(doveadm.calls.length, calls);
  });
});
