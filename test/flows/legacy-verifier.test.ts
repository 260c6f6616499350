/**
 * The legacy-protocol check at the domain edge, on both stores: app passwords accepted under every
 * rule, main passwords only until MFA is enforced, refusals logged with their reason and the app
 * password used, last use recorded, and the user told (by a real SMTP server) about a new client IP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { generateAppPassword } from '../../src/domain/app-passwords/format.js';
import { parseMessage, startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { FakeClock, makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`legacy-protocol verification on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    const clock = new FakeClock(Date.UTC(2026, 10, 27, 8, 0, 0));
    let user: User;
    let password = '';
    const check = (pw: string, protocol = 'imap', ip = '192.0.2.10', who = USER.address) =>
      w.ctx.legacy.verify({ user: who, password: pw, protocol, ip });
    const settle = async () => {
      await new Promise((r) => setTimeout(r, 150));
      await w.ctx.flush();
    };

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(kind, { smtpUrl: `smtp://127.0.0.1:${smtp.port}` }, { clock });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
      user = (await w.ctx.accounts.findUserById(
        (
          await w.ctx.store.db
            .selectFrom('users')
            .select('id')
            .where('address', '=', USER.address)
            .executeTakeFirstOrThrow()
        ).id,
      ))!;
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
        .session;
      password = (await w.ctx.appPasswords.create(user, s, 'iPhone Mail', { ip: '127.0.0.1', locale: 'en' })).password;
    });
    after(async () => {
      await w.close();
      await smtp.stop();
    });

    it('accepts the app password with or without spaces, in any case, and records its use', async () => {
      assert.equal((await check(password)).outcome, 'ok');
      assert.equal((await check(password.replace(/ /g, '').toUpperCase(), 'smtp')).outcome, 'ok');
      await settle();
      const [ap] = await w.ctx.appPasswords.list(user);
      assert.equal(ap!.lastUsedProtocol, 'smtp');
      assert.equal(ap!.lastUsedIp, '192.0.2.10');
      assert.equal(ap!.lastUsedAt, clock.now());
    });

    it('keeps accepting a renamed app password (the same secret), and the log names it by its new name (#17, task B)', async () => {
      const [ap] = await w.ctx.appPasswords.list(user);
      assert.equal((await check(password, 'imap', '192.0.2.10')).outcome, 'ok');
      await settle();
      const renamed = await w.ctx.appPasswords.rename(user, ap!.id, '  iPhone Mail (work)  ');
      assert.equal(renamed.name, 'iPhone Mail (work)', 'trimmed, as at creation');
      assert.equal((await w.ctx.appPasswords.list(user))[0]!.name, 'iPhone Mail (work)');
      assert.equal((await check(password, 'smtp', '192.0.2.10')).outcome, 'ok', 'the same secret still works');
      await settle();
      const { events } = await w.ctx.audit.listSignIns({ orgId: user.orgId, userId: user.id, limit: 20, offset: 0 });
      const named = events.filter((e) => e.appPasswordId === ap!.id);
      assert.ok(named.length >= 2, 'the uses before and after the rename');
      assert.ok(
        named.every((e) => e.appPasswordName === 'iPhone Mail (work)'),
        'every row shows the name it has now',
      );
      const audited = await w.ctx.store.db
        .selectFrom('audit_events')
        .select(['action', 'detail'])
        .where('action', '=', 'app_password.rename')
        .execute();
      assert.equal(audited.length, 1);
      assert.match(audited[0]!.detail, /"iPhone Mail" -> "iPhone Mail \(work\)"/);
      await assert.rejects(w.ctx.appPasswords.rename(user, ap!.id, ' '), { code: 'invalid_name' });
      await assert.rejects(w.ctx.appPasswords.rename(user, ap!.id, 'x'.repeat(101)), { code: 'invalid_name' });
      await assert.rejects(w.ctx.appPasswords.rename(user, 'no-such-id', 'Other'), { code: 'app_password_not_found' });
      await w.ctx.appPasswords.rename(user, ap!.id, 'iPhone Mail');
    });

    it('tells the user once per new client IP', async () => {
      await check(password, 'imap', '198.51.100.7');
      await check(password, 'imap', '198.51.100.7');
      // The notice is sent after the answer; wait for it (a loaded machine may take a while).
      const newIp = () => smtp.received.filter((r) => r.to.includes(USER.address) && /new address/.test(r.raw));
      const arrived = () => ['198.51.100.7', '192.0.2.10'].every((ip) => newIp().some((n) => n.raw.includes(ip)));
      for (let i = 0; i < 100 && !arrived(); i++) await new Promise((r) => setTimeout(r, 50));
      await settle();
      const notices = newIp();
      assert.equal(notices.filter((n) => n.raw.includes('198.51.100.7')).length, 1);
      assert.equal(notices.filter((n) => n.raw.includes('192.0.2.10')).length, 1);
      assert.match(
        parseMessage(notices.at(-1)!.raw).body,
        /Your app password "iPhone Mail" was used from a new address, 198\.51\.100\.7, at .* \(IMAP\)/,
      );
    });

    it('refuses another user, a typo, a protocol outside the policy, after expiry, and when MFA is off', async () => {
      assert.equal(
        (await check(password, 'imap', '192.0.2.10', 'ada@contoso.test')).outcome,
        'wrong',
        "someone else's app password",
      );
      assert.equal(
        (await check(password.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')))).outcome,
        'wrong',
        'a typo is caught by the check letter',
      );
      assert.equal((await check(password, 'ftp')).outcome, 'wrong');
      const admin = { kind: 'operator' as const };
      await w.ctx.mfaAdmin.setPolicy(admin, user.orgId, {
        appPasswords: { protocols: ['imap', 'smtp', 'dav', 'http'], maxLifetimeDays: 30 },
      });
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
        .session;
      const limited = (await w.ctx.appPasswords.create(user, s, 'Printer', { ip: '127.0.0.1', locale: 'en' })).password;
      assert.deepEqual(await check(limited, 'pop3'), {
        outcome: 'refused',
        reason: 'protocol_not_allowed',
        address: USER.address,
        appPasswordId: (await w.ctx.appPasswords.list(user)).find((p) => p.name === 'Printer')!.id,
      });
      // The policy as it is now binds app passwords made before it: the older one was made for every protocol.
      assert.equal(
        (await check(password, 'pop3')).reason,
        'protocol_not_allowed',
        'a protocol the policy no longer allows',
      );
      assert.equal((await check(password, 'imap')).outcome, 'ok');
      clock.advance(31 * 86_400_000);
      assert.equal((await check(limited)).reason, 'expired');
      assert.equal(
        (await check(password)).reason,
        'expired',
        'the lifetime the policy sets now counts for the older one too',
      );
      await w.ctx.mfaAdmin.setPolicy(admin, user.orgId, { appPasswords: { maxLifetimeDays: null } });
      assert.equal((await check(password)).outcome, 'ok', 'the older one has no expiry of its own');
      assert.equal((await check(limited)).reason, 'expired', 'the newer one keeps the expiry it was made with');
      await w.ctx.mfaAdmin.setPolicy(admin, user.orgId, {
        appPasswords: { allowed: false, keepExistingWhenOff: false },
      });
      assert.equal((await check(password)).reason, 'app_passwords_suspended');
      await w.ctx.mfaAdmin.setPolicy(admin, user.orgId, {
        appPasswords: { allowed: false, keepExistingWhenOff: true },
      });
      assert.equal((await check(password)).outcome, 'ok', 'kept while creation is off, as the policy says');
      await w.ctx.mfaAdmin.setPolicy(admin, user.orgId, {
        appPasswords: { allowed: true, maxLifetimeDays: null, protocols: ['imap', 'pop3', 'smtp', 'dav', 'http'] },
      });
    });

    it('accepts the main password until MFA is enforced, then only app passwords', async () => {
      assert.equal((await check(USER.password)).outcome, 'ok', 'enabled: not yet registered');
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { legacyMainPassword: 'never' });
      assert.equal(
        (await check(USER.password, 'pop3')).reason,
        'main_password_refused',
        'an organization may refuse it always',
      );
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { legacyMainPassword: 'until_enforced' });
      assert.equal((await check(USER.password, 'smtp')).outcome, 'ok');
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      assert.deepEqual(await check(USER.password), {
        outcome: 'refused',
        reason: 'main_password_refused',
        address: USER.address,
      });
      assert.equal((await check(password)).outcome, 'ok');
      assert.equal((await check('not-the-password')).reason, 'wrong_password');
      assert.equal((await check(USER.password, 'imap', '1.2.3.4', 'ghost@contoso.test')).reason, 'unknown_user');
    });

    it('revokes a password unused for longer than the policy allows, at the next use and by the sweep', async () => {
      await w.ctx.mfaAdmin.setPolicy({ kind: 'operator' }, user.orgId, { appPasswords: { revokeUnusedDays: 90 } });
      clock.advance(91 * 86_400_000);
      assert.equal((await check(password)).reason, 'expired');
      // Revoked after the answer, as the sweep would: in the audit log, on the user's account.
      const revokedAt = async () =>
        w.ctx.store.db
          .selectFrom('audit_events')
          .select(['detail', 'actor_label'])
          .where('action', '=', 'app_password.revoke_unused')
          .where('target_user_id', '=', user.id)
          .execute();
      for (let i = 0; i < 50 && !(await revokedAt()).length; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await revokedAt()).length, 1, 'the revocation at sign-in is in the audit log');
      assert.equal(
        (await w.ctx.appPasswords.list(user)).some((p) => p.name === 'iPhone Mail'),
        false,
      );
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
        .session;
      await w.ctx.appPasswords.create(user, s, 'Old tablet', { ip: '127.0.0.1', locale: 'en' });
      clock.advance(91 * 86_400_000);
      assert.ok((await w.ctx.appPasswords.sweepUnused([user.orgId])) >= 1);
      assert.equal((await w.ctx.appPasswords.list(user)).length, 0);
    });

    it('logs every attempt with its reason and the app password used, never the password', async () => {
      await w.ctx.flush();
      const rows = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .selectAll()
        .where('protocol', 'in', ['imap', 'smtp', 'pop3', 'ftp'])
        .execute();
      assert.ok(rows.some((r) => r.reason === 'protocol_not_allowed' && r.app_password_id));
      assert.ok(rows.some((r) => r.reason === 'main_password_refused'));
      assert.ok(rows.some((r) => r.outcome === 'success' && r.app_password_id));
      const text = JSON.stringify(rows);
      assert.ok(
        !text.includes(password) && !text.includes(password.replace(/ /g, '')) && !text.includes(USER.password),
      );
    });

    it("logs a refused attempt under its owner, found when the batch is written: the user, else the domain's organization", async () => {
      // A well-formed app password nobody has: the answer never reads the account (issue #15, item 5).
      const stray = generateAppPassword();
      const ip = '203.0.113.77';
      for (const who of [USER.address, 'ghost@contoso.test', 'ghost@elsewhere.test', 'not an address'])
        assert.equal((await check(stray, 'imap', ip, who)).outcome, 'wrong');
      await w.ctx.flush();
      const rows = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['address_typed', 'user_id', 'org_id', 'reason'])
        .where('ip', '=', ip)
        .execute();
      const byAddress = new Map(rows.map((r) => [r.address_typed, r]));
      assert.equal(rows.length, 4);
      assert.equal(byAddress.get(USER.address)!.user_id, user.id);
      assert.equal(byAddress.get(USER.address)!.org_id, user.orgId);
      assert.equal(byAddress.get('ghost@contoso.test')!.user_id, null);
      assert.equal(byAddress.get('ghost@contoso.test')!.org_id, user.orgId);
      assert.equal(byAddress.get('ghost@elsewhere.test')!.org_id, null);
      assert.equal(byAddress.get('not an address')!.reason, 'invalid_input');
    });
  });
}
