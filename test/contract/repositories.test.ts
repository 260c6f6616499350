/**
 * Storage contract: the same behaviour from every repository on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { Throttle } from '../../src/domain/throttling/throttle.js';
import type { DomainEvent } from '../../src/domain/events.js';
import { KyselyAccountRepository } from '../../src/storage/account-repository.js';
import { KyselyOneTimeTokenRepository } from '../../src/storage/token-repository.js';
import { createCounterStore } from '../../src/storage/throttle-store.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';
import { systemClock } from '../../src/domain/clock.js';

for (const kind of STORE_KINDS) {
  describe(`storage contract on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    before(async () => {
      store = await makeTestStore(kind);
      ctx = await createContext(store.config());
      assert.equal(ctx.store.kind, kind);
    });
    after(async () => {
      await ctx.close();
      await store.dispose();
    });

    it('stores organizations and users and finds them by key', async () => {
      const org = await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      const u = await ctx.accounts.addUser(OPERATOR, {
        address: 'Alice@Contoso.test',
        name: 'Alice',
        role: 'admin',
        password: 'violet-harbour-lantern-42',
      });
      assert.equal(u.address, 'alice@contoso.test');
      assert.equal(u.orgId, org.id);
      const repo = new KyselyAccountRepository(ctx.store.db, systemClock);
      const found = await repo.findUserByAddress('alice@contoso.test');
      assert.deepEqual(found, u);
      assert.equal(typeof found!.createdAt, 'number');
      assert.ok(!('passwordHash' in found!), 'ordinary reads never return the password hash');
      const creds = await repo.findCredentialsByAddress('alice@contoso.test');
      assert.match(creds!.passwordHash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.deepEqual(await repo.findOrganizationByDomain('contoso.test'), org);
      // The sign-in log's owner, in one statement: the user, else the domain's organization, else nobody.
      assert.deepEqual(await repo.findSignInOwner('alice@contoso.test'), { userId: u.id, orgId: org.id });
      assert.deepEqual(await repo.findSignInOwner('nobody@contoso.test'), { userId: null, orgId: org.id });
      assert.deepEqual(await repo.findSignInOwner('nobody@elsewhere.test'), { userId: null, orgId: null });
      // The same for a batch (the mail endpoints' log writer), every address answered, repeats once.
      const owners = await repo.findSignInOwners([
        'alice@contoso.test',
        'nobody@contoso.test',
        'nobody@elsewhere.test',
        'alice@contoso.test',
      ]);
      assert.deepEqual(
        [...owners.entries()],
        [
          ['alice@contoso.test', { userId: u.id, orgId: org.id }],
          ['nobody@contoso.test', { userId: null, orgId: org.id }],
          ['nobody@elsewhere.test', { userId: null, orgId: null }],
        ],
      );
      assert.equal((await repo.findSignInOwners([])).size, 0);
    });

    it('refuses duplicates and changes nothing', async () => {
      await assert.rejects(ctx.accounts.addOrganization(OPERATOR, 'CONTOSO.test'), { code: 'organization_exists' });
      await assert.rejects(ctx.accounts.addUser(OPERATOR, { address: 'alice@contoso.test' }), { code: 'user_exists' });
      await assert.rejects(ctx.accounts.addUser(OPERATOR, { address: 'x@nowhere.test' }), {
        code: 'organization_not_found',
      });
      await assert.rejects(ctx.accounts.addUser(OPERATOR, { address: 'weak@contoso.test', password: 'password' }), {
        code: 'password_common',
      });
      assert.equal(await ctx.accounts.countUsers(), 1);
    });

    it('lists and searches users page by page, within one organization', async () => {
      await ctx.accounts.addOrganization(OPERATOR, 'fabrikam.test');
      for (let i = 0; i < 12; i++)
        await ctx.accounts.addUser(OPERATOR, {
          address: `user${String(i).padStart(2, '0')}@contoso.test`,
          name: `Person ${i}`,
        });
      await ctx.accounts.addUser(OPERATOR, { address: 'user99@fabrikam.test' });
      const org = await ctx.accounts.getOrganization(
        (
          await ctx.store.db
            .selectFrom('organizations')
            .select('id')
            .where('domain', '=', 'contoso.test')
            .executeTakeFirstOrThrow()
        ).id,
      );
      const page = await ctx.directory.list(OPERATOR, org.id, { limit: 5, offset: 10 });
      assert.equal(page.total, 13);
      assert.deepEqual(
        page.users.map((u) => u.address),
        ['user09@contoso.test', 'user10@contoso.test', 'user11@contoso.test'],
      );
      const hit = await ctx.directory.list(OPERATOR, org.id, { q: 'PERSON 1' });
      assert.deepEqual(hit.users.map((u) => u.address).sort(), [
        'user01@contoso.test',
        'user10@contoso.test',
        'user11@contoso.test',
      ]);
      // LIKE wildcards in a search are literal.
      assert.equal((await ctx.directory.list(OPERATOR, org.id, { q: '%' })).total, 0);
      assert.equal((await ctx.directory.list(OPERATOR, org.id, { q: 'user_1' })).total, 0);
    });

    it('consumes a one-time token exactly once, even when 20 try at the same moment', async () => {
      const tokens = new KyselyOneTimeTokenRepository(ctx.store.db);
      const u = (
        await ctx.directory.list(
          OPERATOR,
          (
            await ctx.store.db
              .selectFrom('organizations')
              .select('id')
              .where('domain', '=', 'contoso.test')
              .executeTakeFirstOrThrow()
          ).id,
          { limit: 1 },
        )
      ).users[0]!;
      const now = Date.now();
      await tokens.create({ tokenHash: `h-${kind}`, purpose: 'test', userId: u.id, expiresAt: now + 60_000 });
      assert.equal(await tokens.peek(`h-${kind}`, 'other', now), undefined, 'purpose is part of the key');
      const results = await Promise.all(Array.from({ length: 20 }, () => tokens.consume(`h-${kind}`, 'test', now)));
      assert.equal(results.filter((r) => r === u.id).length, 1);
      assert.equal(await tokens.peek(`h-${kind}`, 'test', now), undefined);
      await tokens.create({ tokenHash: `old-${kind}`, purpose: 'test', userId: u.id, expiresAt: now - 1 });
      assert.equal(await tokens.consume(`old-${kind}`, 'test', now), undefined, 'expired tokens are refused');
    });

    it('keeps sessions by token hash only, and ends them', async () => {
      const u = await ctx.accounts.addUser(OPERATOR, {
        address: 'sess@contoso.test',
        password: 'violet-harbour-lantern-42',
      });
      const { token, session } = await ctx.sessions.start(u.id, ['pwd'], { ip: '127.0.0.1', userAgent: 'test' });
      const rows = await ctx.store.db.selectFrom('sessions').selectAll().where('user_id', '=', u.id).execute();
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows).includes(token), 'the token itself is not stored');
      assert.equal((await ctx.sessions.resume(token))?.id, session.id);
      assert.deepEqual((await ctx.sessions.resume(token))?.amr, ['pwd']);
      await ctx.sessions.start(u.id, ['pwd'], { ip: '127.0.0.1', userAgent: 'test' });
      assert.equal(await ctx.sessions.endAllForUser(u.id), 2);
      assert.equal(await ctx.sessions.resume(token), undefined);
    });

    it('records the sign-in log and the audit log per organization', async () => {
      const orgId = (
        await ctx.store.db
          .selectFrom('organizations')
          .select('id')
          .where('domain', '=', 'contoso.test')
          .executeTakeFirstOrThrow()
      ).id;
      const before = (await ctx.audit.listSignIns({ orgId, limit: 10, offset: 0 })).total;
      await assert.rejects(
        ctx.signIn.authenticate('nobody@contoso.test', 'whatever-it-is', {
          ip: '10.9.8.7',
          userAgent: 'UA',
          protocol: 'web',
        }),
        { code: 'sign_in_failed' },
      );
      const log = await ctx.audit.listSignIns({ orgId, limit: 10, offset: 0 });
      assert.equal(log.total, before + 1);
      assert.equal(log.events[0]!.addressTyped, 'nobody@contoso.test');
      assert.equal(log.events[0]!.reason, 'unknown_user');
      assert.equal(log.events[0]!.ip, '10.9.8.7');
      const audit = await ctx.audit.listAudit(orgId, 100);
      assert.ok(audit.some((a) => a.action === 'user.create' && a.actorLabel === 'operator (CLI)'));
    });

    it('counts 50 parallel failures as 50 in the shared throttle table', async () => {
      const counters = createCounterStore(ctx.store);
      const counts = await Promise.all(Array.from({ length: 50 }, () => counters.take(`t:${kind}`, 60)));
      assert.deepEqual(
        [...counts].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      await counters.giveBack(`t:${kind}`, 60);
      assert.equal(await counters.take(`t:${kind}`, 60), 50);
      await counters.clear(`t:${kind}`, 60);
      assert.equal(await counters.take(`t:${kind}`, 60), 1);
    });

    it('locks a key once its limit is reached, for longer each time', async () => {
      const counters = createCounterStore(ctx.store);
      const published: DomainEvent[] = [];
      const throttle = new Throttle(
        counters,
        { lockBaseSeconds: 60, lockMaxSeconds: 3600 },
        { publish: async (e) => void published.push(e) },
      );
      const key = { key: `lock:${kind}`, rule: { limit: 3, windowSeconds: 600 }, clearOnSuccess: true };
      for (let i = 0; i < 3; i++) {
        const g = await throttle.begin([key]);
        assert.ok(g.allowed, `attempt ${i + 1} allowed`);
        const locked = await throttle.failed(g.ticket);
        assert.equal(locked, i === 2 ? 60 : undefined);
      }
      assert.deepEqual(published, [{ type: 'lock_imposed', scope: 'browser', target: 'account' }]);
      const refused = await throttle.begin([key]);
      assert.equal(refused.allowed, false);
      assert.ok(!refused.allowed && refused.retryAfterSeconds > 55 && refused.retryAfterSeconds <= 60);
      // A second lock doubles.
      assert.equal(await counters.lock(key.key, (n) => 60 * 2 ** (n - 1)), 2);
      const remaining = await counters.lockRemainingMs(key.key);
      assert.ok(remaining > 110_000 && remaining <= 120_000, String(remaining));
    });
  });
}
