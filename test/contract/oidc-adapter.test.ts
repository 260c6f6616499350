/**
 * Storage contract of the OpenID Connect provider, on both stores: oidc-provider's adapter interface
 * over Sesame's store (upsert, find with expiry, lookups by session uid and user code, consumption
 * that exactly one caller wins, destroy, revocation of everything under a grant), the `Client` model
 * answered from Sesame's client registry, and the signing keys (sealed, newest signs, the previous
 * ones dropped on demand). What one instance writes, a second context on the same store reads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { createAdapter, type OidcProviderModule } from '../../src/features/oidc/adapter.js';
import { importProvider } from '../../src/features/oidc/provider.js';
import { FakeClock } from '../support/world.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

let mod: OidcProviderModule;

for (const kind of STORE_KINDS) {
  describe(`OIDC adapter storage contract on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    let other: AppContext;
    const clock = new FakeClock(1_800_000_000_000);
    let orgId = '';
    before(async () => {
      mod = await importProvider();
      store = await makeTestStore(kind);
      ctx = await createContext(store.config(), { clock });
      // A second instance on the same store (several behind a load balancer).
      other = await createContext(store.config(), { clock, migrate: false, secrets: ctx.secrets });
      orgId = (await ctx.accounts.addOrganization(OPERATOR, 'contoso.test')).id;
    });
    after(async () => {
      await other.close();
      await ctx.close();
      await store.dispose();
    });

    const adapter = (c: AppContext, name: string) => new (createAdapter(mod, c))(name);

    it('stores payloads by model and id, replaces them, and forgets them when expired', async () => {
      const codes = adapter(ctx, 'AuthorizationCode');
      await codes.upsert('c1', { accountId: 'u1', grantId: 'g1', clientId: 'app', kind: 'AuthorizationCode' }, 60);
      assert.deepEqual(await adapter(other, 'AuthorizationCode').find('c1'), {
        accountId: 'u1',
        grantId: 'g1',
        clientId: 'app',
        kind: 'AuthorizationCode',
      });
      assert.equal(
        await adapter(ctx, 'AccessToken').find('c1'),
        undefined,
        'another model with the same id is another row',
      );
      await codes.upsert('c1', { accountId: 'u2', grantId: 'g1' }, 60);
      assert.equal((await codes.find('c1'))?.accountId, 'u2');
      clock.advance(60_000);
      assert.equal(await codes.find('c1'), undefined, 'expired');
      await adapter(ctx, 'Grant').upsert('forever', { accountId: 'u1' }, 0);
      clock.advance(400 * 86_400_000);
      assert.equal((await adapter(ctx, 'Grant').find('forever'))?.accountId, 'u1', 'no expiry given: kept');
    });

    it('finds sessions by uid and device codes by user code', async () => {
      await adapter(ctx, 'Session').upsert('s1', { uid: 'uid-1', accountId: 'u1' }, 3600);
      assert.equal((await adapter(other, 'Session').findByUid('uid-1'))?.accountId, 'u1');
      assert.equal(await adapter(other, 'Session').findByUid('uid-2'), undefined);
      await adapter(ctx, 'DeviceCode').upsert('d1', { userCode: 'ABCD-EFGH', grantId: 'g9' }, 600);
      assert.equal((await adapter(other, 'DeviceCode').findByUserCode('ABCD-EFGH'))?.grantId, 'g9');
    });

    it('consumes once: a second consumption, from any instance, is refused as invalid_grant', async () => {
      await adapter(ctx, 'AuthorizationCode').upsert('c2', { grantId: 'g2' }, 60);
      const results = await Promise.allSettled([
        adapter(ctx, 'AuthorizationCode').consume('c2'),
        adapter(other, 'AuthorizationCode').consume('c2'),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one consumption wins');
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(lost.reason instanceof mod.errors.InvalidGrant);
      assert.ok(
        (await adapter(ctx, 'AuthorizationCode').find('c2'))?.consumed,
        'found as consumed (a replay then revokes the grant)',
      );
    });

    it('destroys one payload, and revokes everything issued under a grant', async () => {
      await adapter(ctx, 'AccessToken').upsert('a1', { grantId: 'g3' }, 3600);
      await adapter(ctx, 'RefreshToken').upsert('r1', { grantId: 'g3' }, 3600);
      await adapter(ctx, 'RefreshToken').upsert('r2', { grantId: 'g4' }, 3600);
      await adapter(ctx, 'AccessToken').destroy('nothing-here');
      await adapter(other, 'RefreshToken').revokeByGrantId('g3');
      assert.equal(await adapter(ctx, 'AccessToken').find('a1'), undefined);
      assert.equal(await adapter(ctx, 'RefreshToken').find('r1'), undefined);
      assert.ok(await adapter(ctx, 'RefreshToken').find('r2'), 'another grant is untouched');
      await adapter(ctx, 'RefreshToken').destroy('r2');
      assert.equal(await adapter(ctx, 'RefreshToken').find('r2'), undefined);
    });

    it("revokes everything issued to an account, and nothing of another's", async () => {
      const alice = 'a1b2c3d4-0000-4000-8000-000000000001';
      const bob = 'a1b2c3d4-0000-4000-8000-000000000002';
      await adapter(ctx, 'Session').upsert('s-a', { accountId: alice, uid: 'u-a' }, 3600);
      await adapter(ctx, 'Grant').upsert('g-a', { accountId: alice, clientId: 'c1' }, 3600);
      await adapter(ctx, 'RefreshToken').upsert('r-a', { accountId: alice, grantId: 'g-a' }, 3600);
      await adapter(ctx, 'AccessToken').upsert('t-a', { accountId: alice, grantId: 'g-a' }, 3600);
      await adapter(ctx, 'RefreshToken').upsert('r-b', { accountId: bob, grantId: 'g-b' }, 3600);
      await other.oidc.payloads.revokeByAccount(alice);
      for (const [model, id] of [
        ['Session', 's-a'],
        ['Grant', 'g-a'],
        ['RefreshToken', 'r-a'],
        ['AccessToken', 't-a'],
      ] as const)
        assert.equal(await adapter(ctx, model).find(id), undefined, `${model} ${id}`);
      assert.ok(await adapter(ctx, 'RefreshToken').find('r-b'), "another account's token is untouched");
      await adapter(ctx, 'RefreshToken').destroy('r-b');
    });

    it('stores codes and tokens only under a keyed hash: no issued value in any column or in the payload JSON', async () => {
      const { randomToken } = await import('../../src/lib/crypto/tokens.js');
      const grantId = 'g-hashed';
      const issued: Record<string, string> = {};
      for (const model of ['AuthorizationCode', 'AccessToken', 'RefreshToken', 'ClientCredentials']) {
        const value = randomToken(32);
        issued[model] = value;
        // As oidc-provider hands them over: the opaque token's value is its `jti`.
        await adapter(ctx, model).upsert(
          value,
          { jti: value, kind: model, grantId, accountId: 'u-hashed', clientId: 'app', iat: 1, exp: 2e9 },
          3600,
        );
      }
      await adapter(ctx, 'Session').upsert('sess-hashed', { uid: 'uid-hashed', accountId: 'u-hashed' }, 3600);
      const rows = await ctx.store.db.selectFrom('oidc_payloads').selectAll().execute();
      const raw = JSON.stringify(rows);
      for (const [model, value] of Object.entries(issued)) {
        assert.ok(!raw.includes(value), `${model}: its value is nowhere in the table`);
        const found = await adapter(other, model).find(value);
        assert.equal(found?.jti, value, `${model}: found by its value, with its jti given back`);
        assert.equal(found?.grantId, grantId);
      }
      assert.equal(
        rows.filter((r) => r.grant_id === grantId).length,
        4,
        'one row each, still revocable by grant (grant ids are no secret)',
      );
      assert.ok(raw.includes('sess-hashed'), 'a session keeps its id: it is no credential on its own');
      // Consumption and destruction find the row by the value too.
      await adapter(other, 'AuthorizationCode').consume(issued.AuthorizationCode!);
      assert.ok((await adapter(ctx, 'AuthorizationCode').find(issued.AuthorizationCode!))?.consumed);
      await assert.rejects(adapter(ctx, 'AuthorizationCode').consume(issued.AuthorizationCode!));
      await adapter(other, 'AccessToken').destroy(issued.AccessToken!);
      assert.equal(await adapter(ctx, 'AccessToken').find(issued.AccessToken!), undefined);
      // After a rotation of the hash key: found under the previous key, then destroyed under it.
      const rotated = await createContext(store.config(), {
        clock,
        migrate: false,
        secrets: { ...ctx.secrets, hashKey: Buffer.alloc(32, 3), previous: { hashKey: [ctx.secrets.hashKey] } },
      });
      try {
        assert.equal((await adapter(rotated, 'RefreshToken').find(issued.RefreshToken!))?.jti, issued.RefreshToken);
        await adapter(rotated, 'RefreshToken').destroy(issued.RefreshToken!);
        assert.equal(await adapter(ctx, 'RefreshToken').find(issued.RefreshToken!), undefined);
      } finally {
        await rotated.close();
      }
      await adapter(ctx, 'ClientCredentials').revokeByGrantId(grantId);
      assert.equal(await adapter(ctx, 'ClientCredentials').find(issued.ClientCredentials!), undefined);
    });

    it('answers the Client model from the registry (no secret in clear), and never stores a client', async () => {
      const { client, secret } = await ctx.oidc.clients.add(OPERATOR, orgId, {
        name: 'Grafana',
        redirectUris: ['https://grafana.contoso.test/login/generic_oauth'],
        kind: 'confidential',
      });
      const meta = await adapter(other, 'Client').find(client.id);
      assert.equal(meta?.client_id, client.id);
      assert.deepEqual(meta?.redirect_uris, ['https://grafana.contoso.test/login/generic_oauth']);
      assert.equal(meta?.token_endpoint_auth_method, 'client_secret_basic');
      assert.notEqual(meta?.client_secret, secret);
      assert.ok(await other.oidc.clients.secretIsRight(client.id, secret!));
      assert.equal(await other.oidc.clients.secretIsRight(client.id, `${secret}x`), false);
      const row = await ctx.store.db
        .selectFrom('oidc_clients')
        .selectAll()
        .where('id', '=', client.id)
        .executeTakeFirstOrThrow();
      assert.ok(row.secret_hash && !row.secret_hash.includes(secret!), 'only a keyed hash is stored');
      // After a rotation of the hash key: found under the previous key, and moved to the new one.
      const rehashed = await createContext(store.config(), {
        clock,
        migrate: false,
        secrets: { ...ctx.secrets, hashKey: Buffer.alloc(32, 5), previous: { hashKey: [ctx.secrets.hashKey] } },
      });
      try {
        assert.ok(await rehashed.oidc.clients.secretIsRight(client.id, secret!));
        const moved = await ctx.store.db
          .selectFrom('oidc_clients')
          .select('secret_hash')
          .where('id', '=', client.id)
          .executeTakeFirstOrThrow();
        assert.notEqual(moved.secret_hash, row.secret_hash, 'moved to the current hash key');
        assert.ok(await rehashed.oidc.clients.secretIsRight(client.id, secret!));
        assert.equal(
          await ctx.oidc.clients.secretIsRight(client.id, secret!),
          false,
          'the old key alone no longer finds it',
        );
      } finally {
        await rehashed.close();
      }
      await assert.rejects(adapter(ctx, 'Client').upsert(client.id, { client_id: client.id }, 0));
      const pub = await ctx.oidc.clients.add(OPERATOR, orgId, {
        name: 'SPA',
        redirectUris: ['http://127.0.0.1:5173/cb'],
        kind: 'public',
      });
      assert.equal(pub.secret, undefined);
      assert.equal((await adapter(ctx, 'Client').find(pub.client.id))?.token_endpoint_auth_method, 'none');
      assert.equal(await adapter(ctx, 'Client').find('no-such-client'), undefined);
      // Removing a client removes what was issued to it, and nothing else.
      await adapter(ctx, 'AccessToken').upsert('at-pub', { clientId: pub.client.id, grantId: 'gp' }, 3600);
      await adapter(ctx, 'AccessToken').upsert('at-graf', { clientId: client.id, grantId: 'gg' }, 3600);
      await ctx.oidc.clients.remove(OPERATOR, orgId, pub.client.id);
      assert.equal(await adapter(other, 'Client').find(pub.client.id), undefined);
      assert.equal(await adapter(other, 'AccessToken').find('at-pub'), undefined);
      assert.ok(await adapter(other, 'AccessToken').find('at-graf'));
    });

    it('keeps signing keys sealed; the newest signs; dropping leaves only it', async () => {
      const first = await ctx.oidc.keys.rotate();
      clock.advance(1000);
      const second = await other.oidc.keys.rotate();
      assert.deepEqual((await ctx.oidc.keys.kids()).slice(0, 2), [second, first]);
      const jwks = await ctx.oidc.keys.privateJwks();
      assert.equal(jwks[0]!.kid, second);
      assert.equal(jwks[0]!.kty, 'RSA');
      assert.ok(jwks[0]!.d, 'the private key opens');
      const rows = await ctx.store.db.selectFrom('oidc_signing_keys').selectAll().execute();
      assert.ok(
        rows.every((r) => r.private_jwk_enc.startsWith('v2.') && !r.private_jwk_enc.includes(String(jwks[0]!.d))),
        'stored sealed',
      );
      assert.ok((await other.oidc.keys.dropPrevious()) >= 1);
      assert.deepEqual(await ctx.oidc.keys.kids(), [second]);
    });

    it('leaves out a signing key no configured encryption key opens, and makes a new one when none is left', async () => {
      // An instance whose encryption key is not the one the stored key was sealed under.
      const stranger = await createContext(store.config(), {
        clock,
        migrate: false,
        secrets: { ...ctx.secrets, encryptionKey: Buffer.alloc(32, 7), previous: undefined },
      });
      try {
        const [stale] = await ctx.oidc.keys.kids();
        clock.advance(1000);
        const jwks = await stranger.oidc.keys.privateJwks();
        assert.equal(jwks.length, 1);
        assert.notEqual(jwks[0]!.kid, stale, 'a new key, sealed under its own encryption key');
        assert.deepEqual(
          (await ctx.oidc.keys.privateJwks()).map((k) => k.kid),
          [stale],
          'each opens only what its key sealed',
        );
      } finally {
        await stranger.close();
      }
    });

    it('seals the signing keys again under a new encryption key (sesame keys reencrypt), conditionally and once', async () => {
      const rotated = await createContext(store.config(), {
        clock,
        migrate: false,
        secrets: {
          ...ctx.secrets,
          encryptionKey: Buffer.alloc(32, 9),
          previous: { encryptionKey: [ctx.secrets.encryptionKey] },
        },
      });
      try {
        const check = await rotated.oidc.keys.reseal({ write: false });
        assert.equal(check.stale, check.total, 'none under the new key yet');
        assert.equal(check.unreadable, 0, 'a check opens nothing');
        const done = await rotated.oidc.keys.reseal({ write: true });
        assert.equal(done.unreadable, 1, 'the key sealed under an unknown encryption key (previous test) is left');
        assert.deepEqual(await rotated.oidc.keys.reseal({ write: false }), {
          total: done.total,
          stale: 1,
          unreadable: 0,
        });
        assert.equal(
          (await rotated.oidc.keys.privateJwks()).length,
          done.total - 1,
          'the others open under the new key',
        );
      } finally {
        await rotated.close();
      }
    });
  });
}
