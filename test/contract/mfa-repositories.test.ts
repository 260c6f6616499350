/** Storage contract for MFA: methods, TOTP steps, recovery codes, policies, flows and trusted devices, on both stores. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { Flow } from '../../src/domain/flows/flow.js';
import { KyselyFlowRepository } from '../../src/storage/flow-repository.js';
import { KyselyMfaRepository } from '../../src/storage/mfa-repository.js';
import { createCounterStore } from '../../src/storage/throttle-store.js';
import { createVerificationReads } from '../../src/storage/verification-reads.js';
import { KyselyAppPasswordRepository } from '../../src/storage/app-password-repository.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';
import { testContextOptions } from '../support/hasher.js';

for (const kind of STORE_KINDS) {
  describe(`MFA storage contract on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    let repo: KyselyMfaRepository;
    let userId = '';
    let orgId = '';
    before(async () => {
      store = await makeTestStore(kind);
      ctx = await createContext(store.config(), testContextOptions());
      orgId = (await ctx.accounts.addOrganization(OPERATOR, 'contoso.test')).id;
      userId = (await ctx.accounts.addUser(OPERATOR, { address: 'a@contoso.test' })).id;
      repo = new KyselyMfaRepository(ctx.store.db);
    });
    after(async () => {
      await ctx.close();
      await store.dispose();
    });

    it('stores policies and answers the default when none is saved', async () => {
      assert.equal(await repo.getPolicy(orgId), undefined);
      const ap = {
        allowed: true,
        keepExistingWhenOff: true,
        cap: 40,
        protocols: ['imap', 'smtp'] as ('imap' | 'smtp')[],
        maxLifetimeDays: null,
        revokeUnusedDays: 90,
        revokeOnPasswordChange: true,
        notifyAdminsNewCountry: false,
      };
      await repo.savePolicy(
        {
          orgId,
          mfaDefault: 'enforced',
          allowedMethods: ['totp', 'email'],
          rememberDays: 14,
          appPasswords: ap,
          legacyMainPassword: 'until_enforced',
          phoneCountries: ['BE', 'NL'],
          timeZone: 'Europe/Amsterdam',
          defaultCountry: 'NL',
        },
        1,
      );
      const saved = await repo.getPolicy(orgId);
      assert.deepEqual(saved?.phoneCountries, ['BE', 'NL']);
      assert.equal(saved?.timeZone, 'Europe/Amsterdam');
      assert.equal(saved?.defaultCountry, 'NL');
      const changed = {
        ...ap,
        allowed: false,
        keepExistingWhenOff: false,
        cap: 5,
        maxLifetimeDays: 365,
        revokeUnusedDays: null,
        revokeOnPasswordChange: false,
        notifyAdminsNewCountry: true,
      };
      await repo.savePolicy(
        {
          orgId,
          mfaDefault: 'enabled',
          allowedMethods: ['totp'],
          rememberDays: 7,
          appPasswords: changed,
          legacyMainPassword: 'never',
          phoneCountries: null,
          timeZone: null,
          defaultCountry: null,
        },
        2,
      );
      assert.deepEqual(await repo.getPolicy(orgId), {
        orgId,
        mfaDefault: 'enabled',
        allowedMethods: ['totp'],
        rememberDays: 7,
        appPasswords: changed,
        legacyMainPassword: 'never',
        phoneCountries: null,
        timeZone: null,
        defaultCountry: null,
      });
    });

    it('keeps MFA state and moves enabled to enforced only from enabled', async () => {
      await repo.setState(userId, 'enabled');
      await repo.promoteEnabled(userId);
      assert.equal((await repo.getState(userId)).state, 'enforced');
      await repo.setState(userId, 'disabled');
      await repo.promoteEnabled(userId);
      assert.equal((await repo.getState(userId)).state, 'disabled');
    });

    it('accepts each TOTP step once, even when 20 try the same step at once', async () => {
      const id = randomUUID();
      await repo.addMethod(
        id,
        { userId, kind: 'totp', label: 'Authenticator app', target: null, secretEnc: 'sealed', lastStep: 100 },
        1,
      );
      assert.equal(await repo.acceptTotpStep(id, 100, 2), false, 'the enrolment step is used');
      const wins = await Promise.all(Array.from({ length: 20 }, () => repo.acceptTotpStep(id, 101, 3)));
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await repo.acceptTotpStep(id, 99, 4), false, 'an older step is refused');
      assert.deepEqual(await repo.getTotpSecret(userId, id), { secretEnc: 'sealed', lastStep: 101 });
      assert.equal(await repo.getTotpSecret(randomUUID(), id), undefined, "another user's id finds nothing");
    });

    it('consumes a recovery code once out of 20 parallel attempts; renewing voids the old set', async () => {
      await repo.replaceRecoveryCodes(userId, ['h1', 'h2', 'h3'], 1);
      const wins = await Promise.all(Array.from({ length: 20 }, () => repo.consumeRecoveryCode(userId, 'h1', 2)));
      assert.equal(wins.filter(Boolean).length, 1);
      assert.equal(await repo.countUnusedRecoveryCodes(userId), 2);
      await repo.replaceRecoveryCodes(userId, ['h4'], 3);
      assert.equal(await repo.consumeRecoveryCode(userId, 'h2', 4), false);
      assert.equal(await repo.consumeRecoveryCode(userId, 'h4', 4), true);
    });

    it('stores WebAuthn credentials per user and deletes methods', async () => {
      const id = randomUUID();
      await repo.addMethod(
        id,
        {
          userId,
          kind: 'webauthn',
          label: 'Security key',
          target: null,
          webauthn: { credentialId: `cred-${kind}`, publicKey: 'pk', signCount: 0, transports: 'usb,nfc' },
        },
        1,
      );
      assert.deepEqual(await repo.getWebAuthnCredentials(userId), [
        {
          methodId: id,
          userId,
          credentialId: `cred-${kind}`,
          publicKey: 'pk',
          signCount: 0,
          transports: ['usb', 'nfc'],
        },
      ]);
      await repo.updateWebAuthnCounter(id, 7, 2);
      assert.equal((await repo.getWebAuthnCredentials(userId))[0]!.signCount, 7);
      assert.equal((await repo.listMethods(userId)).length, 2);
      assert.equal(await repo.deleteMethod(randomUUID(), id), false, "only the owner's method");
      assert.equal(await repo.deleteAllMethods(userId), 2);
    });

    it('saves flows optimistically: of two saves from the same version, one wins', async () => {
      const flows = new KyselyFlowRepository(ctx.store.db);
      const f: Flow = {
        id: randomUUID(),
        kind: 'sign_in',
        state: 'second_factor',
        userId,
        version: 1,
        createdAt: 1,
        expiresAt: Date.now() + 60_000,
        data: { next: '/', amr: ['pwd'], ip: '127.0.0.1', userAgent: 't', protocol: 'web', locale: 'en' },
      };
      await flows.create(f, `flow-${kind}`);
      const a = (await flows.findByTokenHash(`flow-${kind}`))!;
      const b = (await flows.findByTokenHash(`flow-${kind}`))!;
      a.state = 'done';
      b.state = 'done';
      const results = await Promise.all([flows.save(a), flows.save(b)]);
      assert.deepEqual(results.filter(Boolean).length, 1);
      assert.equal((await flows.findByTokenHash(`flow-${kind}`))!.version, 2);
      await flows.deleteForUser(userId);
      assert.equal(await flows.findByTokenHash(`flow-${kind}`), undefined);
    });

    it('creates app passwords under the cap in one statement, even 10 at once, and finds the owner by hash', async () => {
      const aps = new KyselyAppPasswordRepository(ctx.store.db, ctx.store.kind, ctx.store.readHot);
      const row = (i: number) => ({
        id: randomUUID(),
        userId,
        name: `n${i}`,
        hash: `h-${kind}-${i}`,
        protocols: ['imap', 'smtp'] as ('imap' | 'smtp')[],
        createdAt: 1000 + i,
        createdIp: '127.0.0.1',
        expiresAt: i % 2 ? null : 5000,
      });
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => aps.createWithinCap(row(i), 3)));
      assert.equal(results.filter(Boolean).length, 3);
      const list = await aps.list(userId);
      assert.equal(list.length, 3);
      assert.deepEqual(list[0]!.protocols, ['imap', 'smtp']);
      assert.equal(typeof list[0]!.createdAt, 'number');
      assert.ok(!('hash' in list[0]!), 'reads never return the hash');
      const owned = list.map((p) => p.name);
      assert.equal(await aps.findOwner(`h-${kind}-${owned[0]!.slice(1)}`), userId);
      assert.equal(await aps.findOwner('nope'), undefined);
      await assert.rejects(
        aps.createWithinCap({ ...row(0), id: randomUUID(), hash: `h-${kind}-${owned[0]!.slice(1)}` }, 100),
        'the hash is unique',
      );
      assert.equal(await aps.delete(randomUUID(), list[0]!.id), false);
      assert.equal(await aps.delete(userId, list[0]!.id), true);
      assert.equal(await aps.deleteAll(userId), 2);
    });

    it('creates an app password with a given id once: the same id again, even 5 at once, inserts nothing and says it exists', async () => {
      const aps = new KyselyAppPasswordRepository(ctx.store.db, ctx.store.kind, ctx.store.readHot);
      const id = randomUUID();
      // The same form posted 5 times: one id (derived from the form's nonce), each post with its own secret.
      const row = (i: number) => ({
        id,
        userId,
        name: 'Tablet',
        hash: `once-${kind}-${i}`,
        protocols: ['imap'] as 'imap'[],
        createdAt: 1000,
        createdIp: '127.0.0.1',
        expiresAt: null,
      });
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => aps.createWithinCap(row(i), 100)));
      assert.deepEqual(results.filter((r) => r === true).length, 1, JSON.stringify(results));
      assert.deepEqual(results.filter((r) => r === 'exists').length, 4, JSON.stringify(results));
      assert.deepEqual(
        (await aps.list(userId)).filter((p) => p.id === id).map((p) => p.name),
        ['Tablet'],
      );
      assert.equal(await aps.createWithinCap(row(9), 100), 'exists');
      await aps.deleteAll(userId);
    });

    it('reads an app password with its owner and the lockout counters in one statement, and the counters alone for an unknown hash', async () => {
      const aps = new KyselyAppPasswordRepository(ctx.store.db, ctx.store.kind, ctx.store.readHot);
      const counters = createCounterStore(ctx.store);
      const reads = createVerificationReads(ctx.store, counters);
      const hash = `vr-${kind}`;
      assert.ok(
        await aps.createWithinCap(
          {
            id: randomUUID(),
            userId,
            name: 'Phone',
            hash,
            protocols: ['imap'],
            createdAt: 1000,
            createdIp: '127.0.0.1',
            expiresAt: null,
          },
          100,
        ),
      );
      const [acct, ip] = [`vr-acct-${kind}`, `vr-ip-${kind}`];
      const ask = (h: string | undefined) => reads.find(h, [acct, ip], [{ key: acct, windowSeconds: 86_400 }]);
      // Nothing counted yet: free, zero failures; the row is the one findForVerification gives.
      let r = await ask(hash);
      assert.deepEqual(r.row, await aps.findForVerification(hash));
      assert.equal(r.row!.name, 'Phone');
      assert.deepEqual(r.peek, { lockMs: [0, 0], counts: [0] });
      // Two failures on the account and a lock on the IP show up in the same read, as peek() sees them.
      await counters.take(acct, 86_400);
      await counters.take(acct, 86_400);
      await counters.lock(ip, () => 120);
      r = await ask(hash);
      assert.equal(r.row!.id, (await aps.findForVerification(hash))!.id);
      assert.deepEqual(r.peek.counts, [2]);
      assert.equal(r.peek.lockMs[0], 0);
      assert.ok(r.peek.lockMs[1]! > 110_000 && r.peek.lockMs[1]! <= 120_000, String(r.peek.lockMs[1]));
      const alone = await counters.peek([acct, ip], [{ key: acct, windowSeconds: 86_400 }]);
      assert.deepEqual(alone.counts, r.peek.counts);
      // An unknown hash, and no hash at all: no row, the same counters.
      for (const h of ['no-such-hash', undefined]) {
        const u = await ask(h);
        assert.equal(u.row, undefined);
        assert.deepEqual(u.peek.counts, [2]);
        assert.ok(u.peek.lockMs[1]! > 110_000);
      }
      await aps.deleteAll(userId);
    });

    it('finds the owners of app passwords whose expiry fell in a window (after since, up to and including until), each once', async () => {
      const aps = new KyselyAppPasswordRepository(ctx.store.db, ctx.store.kind, ctx.store.readHot);
      const other = (await ctx.accounts.addUser(OPERATOR, { address: 'b@contoso.test' })).id;
      // Times beyond 2^31 ms, as real ones are: bigint columns on PostgreSQL.
      const t = 1_800_000_000_000;
      const add = (owner: string, i: number, expiresAt: number | null) =>
        aps.createWithinCap(
          {
            id: randomUUID(),
            userId: owner,
            name: `e${i}`,
            hash: `exp-${kind}-${i}`,
            protocols: ['imap'],
            createdAt: 1000,
            createdIp: '127.0.0.1',
            expiresAt,
          },
          100,
        );
      assert.ok(await add(userId, 1, t));
      assert.ok(await add(userId, 2, t + 30_000));
      assert.ok(await add(other, 3, t + 60_000));
      assert.ok(await add(other, 4, t + 120_000));
      assert.ok(await add(other, 5, null));
      assert.deepEqual(await aps.ownersExpiredBetween(t - 60_000, t + 60_000), ['a@contoso.test', 'b@contoso.test']);
      assert.deepEqual(await aps.ownersExpiredBetween(t - 60_000, t), ['a@contoso.test'], 'an expiry at `until` is in');
      assert.deepEqual(
        await aps.ownersExpiredBetween(t, t + 60_000),
        ['a@contoso.test', 'b@contoso.test'],
        'an expiry at `since` is out',
      );
      assert.deepEqual(await aps.ownersExpiredBetween(t + 60_000, t + 120_000), ['b@contoso.test']);
      assert.deepEqual(
        await aps.ownersExpiredBetween(t + 120_000, t + 10 * 365 * 86_400_000),
        [],
        'never-expiring ones are never found',
      );
      assert.equal((await aps.list(userId)).length + (await aps.list(other)).length, 5, 'nothing is deleted');
      await aps.deleteAll(userId);
      await aps.deleteAll(other);
    });

    it('remembers trusted devices until they expire or are forgotten', async () => {
      await repo.addTrustedDevice(`td-${kind}`, userId, 1, 1000);
      assert.equal(await repo.isTrustedDevice(`td-${kind}`, userId, 999), true);
      assert.equal(await repo.isTrustedDevice(`td-${kind}`, userId, 1000), false);
      assert.equal(await repo.isTrustedDevice(`td-${kind}`, randomUUID(), 500), false);
      await repo.deleteTrustedDevices(userId);
      assert.equal(await repo.isTrustedDevice(`td-${kind}`, userId, 500), false);
    });
  });
}
