/**
 * Storage contract for key rotation, on both stores: the one-statement lookup among several keyed
 * hashes and the conditional rehash of app passwords and integration keys, and the transaction of
 * `reencrypt` (only what changed is written; a refusal changes nothing).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { KyselyAppPasswordRepository } from '../../src/storage/app-password-repository.js';
import { KyselyIntegrationRepository } from '../../src/storage/integration-repository.js';
import { KyselyMfaRepository } from '../../src/storage/mfa-repository.js';
import { KyselySealedValues } from '../../src/storage/sealed-values.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';
import { testContextOptions } from '../support/hasher.js';

const hex = (c: string) => c.repeat(64);

for (const kind of STORE_KINDS) {
  describe(`key rotation storage contract on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    let userId = '';
    before(async () => {
      store = await makeTestStore(kind);
      ctx = await createContext(store.config(), testContextOptions());
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test');
      userId = (await ctx.accounts.addUser(OPERATOR, { address: 'a@contoso.test' })).id;
    });
    after(async () => {
      await ctx.close();
      await store.dispose();
    });

    it('app passwords: found among several hashes in one read (with the hash held); moved only from the hash named', async () => {
      const repo = new KyselyAppPasswordRepository(ctx.store.db, ctx.store.kind, ctx.store.readHot);
      const id = randomUUID();
      assert.ok(
        await repo.createWithinCap(
          {
            id,
            userId,
            name: 'Phone',
            hash: hex('a'),
            protocols: ['imap'],
            createdAt: 1,
            createdIp: '192.0.2.1',
            expiresAt: null,
          },
          40,
        ),
      );
      assert.equal(await repo.findForVerificationAmong([]), undefined);
      assert.equal(await repo.findForVerificationAmong([hex('b'), hex('c')]), undefined);
      const hit = await repo.findForVerificationAmong([hex('b'), hex('a')]);
      assert.equal(hit?.hash, hex('a'));
      assert.equal(hit?.row.id, id);
      assert.equal(hit?.row.address, 'a@contoso.test');
      assert.equal(await repo.rehash(id, hex('c'), hex('b')), false, 'not holding that hash: unchanged');
      assert.equal(await repo.rehash(id, hex('a'), hex('b')), true);
      assert.equal(
        await repo.rehash(id, hex('a'), hex('b')),
        false,
        'a second instance doing the same changes nothing',
      );
      assert.equal((await repo.findForVerification(hex('b')))?.id, id);
      assert.equal(await repo.findForVerification(hex('a')), undefined);
    });

    it('integrations: the same', async () => {
      const repo = new KyselyIntegrationRepository(ctx.store.db);
      const integration = { id: randomUUID(), name: 'dovecot', createdAt: 5 };
      await repo.add(integration, hex('d'));
      assert.deepEqual(await repo.findAmongKeyHashes([hex('e'), hex('d')]), { integration, keyHash: hex('d') });
      assert.equal(await repo.findAmongKeyHashes([hex('e')]), undefined);
      assert.equal(await repo.rehash(integration.id, hex('d'), hex('e')), true);
      assert.equal(await repo.rehash(integration.id, hex('d'), hex('e')), false);
      assert.deepEqual(await repo.findByKeyHash(hex('e')), integration);
    });

    it('sealed values: every seed visited, only what changed written; a throw in finish rolls everything back', async () => {
      const mfa = new KyselyMfaRepository(ctx.store.db);
      const [m1, m2] = [randomUUID(), randomUUID()].sort();
      await mfa.addMethod(m1!, { userId, kind: 'totp', label: 'A', target: null, secretEnc: 'old-1', lastStep: 1 }, 1);
      await mfa.addMethod(m2!, { userId, kind: 'totp', label: 'B', target: null, secretEnc: 'old-2', lastStep: 1 }, 1);
      const sealed = new KyselySealedValues(ctx.store.db);
      const seen: string[] = [];
      await assert.rejects(
        sealed.visitSealed(0, {
          seed: (s) => {
            seen.push(s.methodId);
            return `new-${s.sealed}`;
          },
          flow: (f) => f.data,
          finish: () => {
            throw new Error('refused');
          },
        }),
        /refused/,
      );
      assert.deepEqual(seen, [m1, m2]);
      assert.equal((await mfa.getTotpSecret(userId, m1!))?.secretEnc, 'old-1', 'rolled back');
      await sealed.visitSealed(0, {
        seed: (s) => (s.methodId === m2 ? s.sealed : `new-${s.sealed}`),
        flow: (f) => f.data,
      });
      assert.equal((await mfa.getTotpSecret(userId, m1!))?.secretEnc, 'new-old-1');
      assert.equal((await mfa.getTotpSecret(userId, m2!))?.secretEnc, 'old-2', 'returned unchanged: not written');
    });
  });
}
