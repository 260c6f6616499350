/**
 * Key rotation through the services, on SQLite and PostgreSQL: what was made under the first keys
 * (an app password, an integration key, a TOTP method, a session, a set-password link, recovery
 * codes, a remembered device, a remembered wrong password, a TOTP enrolment left half-way) keeps
 * working after both the hash key and the encryption key are rotated. App passwords and
 * integration keys move to the new hash key at their first use (a later rotation that drops the
 * oldest key still accepts them); `reencrypt` seals TOTP seeds, and the pending seed of a flow,
 * under the new encryption key, after which the previous one can go. Each phase is a fresh
 * context on the same store, as a restart with new keys would be.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createContext, type AppContext } from '../../src/app/context.js';
import type { ServerSecrets } from '../../src/config/secrets.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { APP_PASSWORD_HASH_PURPOSE } from '../../src/domain/app-passwords/service.js';
import { normalizeAppPassword } from '../../src/domain/app-passwords/format.js';
import { ReencryptionError } from '../../src/domain/keys/reencryption.js';
import { buildApp } from '../../src/app/server.js';
import { aeadKeyId } from '../../src/lib/crypto/aead.js';
import { createKeyedHasher } from '../../src/lib/crypto/tokens.js';
import { KyselyMfaRepository } from '../../src/storage/mfa-repository.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';
import { FakeClock, oathtoolTotp } from '../support/world.js';
import { testContextOptions } from '../support/hasher.js';

const USER = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77', name: 'Bob Builder' };
const LATE = { address: 'lea@contoso.test', password: 'amber-orchard-river-31', name: 'Lea Late' };
const NEW = { address: 'nina@contoso.test', name: 'Nina New' };

const [H1, H2, H3, E1, E2, E3, C1] = Array.from({ length: 7 }, () => randomBytes(32));
const keys = (hashKey: Buffer, encryptionKey: Buffer, previous: ServerSecrets['previous'] = {}): ServerSecrets => ({
  hashKey,
  encryptionKey,
  cookieKey: C1!,
  previous,
});

for (const kind of STORE_KINDS) {
  describe(`key rotation on ${kind}`, () => {
    let store: TestStore;
    const clock = new FakeClock(Date.UTC(2026, 10, 27, 9, 0, 0));
    let ctx: AppContext;
    let app: FastifyInstance;

    /** A restart with these keys. */
    async function start(secrets: ServerSecrets) {
      if (app) await app.close();
      if (ctx) await ctx.close();
      ctx = await createContext(store.config(), testContextOptions({ clock, secrets }));
      app = await buildApp(ctx, { logger: false });
      await app.ready();
    }
    const post = (url: string, body: object, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url, payload: body, headers });
    const basic = (user: string, password: string) =>
      app.inject({
        method: 'GET',
        url: '/auth/basic',
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
      });
    const mail = (password: string) =>
      post(
        '/auth/mail',
        { user: USER.address, password, service: 'imap', remoteIp: '192.0.2.7' },
        { authorization: `Bearer ${integrationKey}` },
      );
    const me = (token: string) =>
      app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    /** Signs in with the password and the authenticator app; the status of the last step. */
    async function signInWithTotp(user: { address: string; password: string }, seed: string) {
      const t = (await post('/api/v1/sessions', { email: user.address, password: user.password })).json()
        .token as string;
      clock.advance(60_000); // a later TOTP step than any used before
      return (await post('/api/v1/flow/verify', { code: oathtoolTotp(seed, clock.now()) }, { 'x-sesame-flow': t }))
        .statusCode;
    }
    const storedAppPasswordHash = async () =>
      (await ctx.store.db.selectFrom('app_passwords').select('hash').executeTakeFirstOrThrow()).hash;
    const storedIntegrationHash = async () =>
      (await ctx.store.db.selectFrom('integrations').select('key_hash').executeTakeFirstOrThrow()).key_hash;
    const seedKeyId = async () =>
      (await ctx.store.db.selectFrom('mfa_methods').select('secret_enc').where('kind', '=', 'totp').execute()).map(
        (r) => r.secret_enc!.split('.')[1],
      );
    /** The upgrade is written after the answer (in a later turn of the event loop): give it a moment. */
    async function eventually(check: () => Promise<boolean>) {
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 10));
        if (await check()) return;
      }
      assert.fail('not upgraded within a second');
    }

    let seed = '';
    let appPassword = '';
    let integrationKey = '';
    let sessionToken = '';
    let setPasswordToken = '';
    let recoveryCodes: string[] = [];
    let lateFlow = '';
    let lateSeed = '';
    const trustToken = 'remembered-device-token-made-before-rotation';

    before(async () => {
      store = await makeTestStore(kind);
      await start(keys(H1!, E1!));
      const org = await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      for (const u of [USER, LATE]) {
        await ctx.accounts.addUser(OPERATOR, { ...u, role: 'user' });
        await ctx.mfaAdmin.setUserState(OPERATOR, u.address, 'enabled');
      }
      await ctx.accounts.addUser(OPERATOR, { ...NEW, role: 'user' });
      setPasswordToken = (await ctx.accounts.issueSetPasswordToken(OPERATOR, NEW.address)).token;
      integrationKey = (await ctx.integrations.add('dovecot')).key;

      // Bob registers an authenticator app; the flow makes an app password and recovery codes.
      const t = (await post('/api/v1/sessions', { email: USER.address, password: USER.password })).json()
        .token as string;
      const flow = { 'x-sesame-flow': t };
      await post('/api/v1/flow/setup', {}, flow);
      seed = (await post('/api/v1/flow/method', { kind: 'totp' }, flow)).json().prompt.secret;
      assert.equal(
        (await post('/api/v1/flow/verify', { code: oathtoolTotp(seed, clock.now()) }, flow)).json().state,
        'enrolled',
      );
      appPassword = (await post('/api/v1/flow/next', {}, flow)).json().appPassword.password;
      recoveryCodes = (await post('/api/v1/flow/next', {}, flow)).json().recoveryCodes;
      const done = await post('/api/v1/flow/done', {}, flow);
      assert.equal(done.statusCode, 201);
      sessionToken = done.json().token;

      // Lea starts registering hers and stops at the code: the flow holds her seed, sealed under E1.
      lateFlow = (await post('/api/v1/sessions', { email: LATE.address, password: LATE.password })).json().token;
      await post('/api/v1/flow/setup', {}, { 'x-sesame-flow': lateFlow });
      lateSeed = (await post('/api/v1/flow/method', { kind: 'totp' }, { 'x-sesame-flow': lateFlow })).json().prompt
        .secret;

      // A device Bob chose to have remembered, and a wrong password a mail client keeps sending.
      await new KyselyMfaRepository(ctx.store.db).addTrustedDevice(
        createKeyedHasher(H1!).digest('trusted-device', trustToken),
        (await ctx.accounts.findUserByAddressOrNull(USER.address))!.id,
        clock.now(),
        clock.now() + 7 * 86_400_000,
      );
      await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { rememberDays: 7 });
      assert.equal(
        (
          await ctx.legacy.verify({
            user: LATE.address,
            password: 'not-her-password',
            protocol: 'imap',
            ip: '192.0.2.8',
          })
        ).reason,
        'wrong_password',
      );

      assert.equal((await basic(USER.address, appPassword)).statusCode, 200);
      assert.equal((await mail(appPassword)).statusCode, 200);
      assert.deepEqual(await seedKeyId(), [aeadKeyId(E1!)]);
    });
    after(async () => {
      await app?.close();
      await ctx?.close();
      await store?.dispose();
    });

    it('after rotating both keys, everything made before still works, and long-lived hashes move to the new key on use', async () => {
      await start(keys(H2!, E2!, { hashKey: [H1!], encryptionKey: [E1!] }));
      const canonical = normalizeAppPassword(appPassword)!;
      assert.equal(await storedAppPasswordHash(), createKeyedHasher(H1!).digest(APP_PASSWORD_HASH_PURPOSE, canonical));

      const viaBasic = await basic(USER.address, appPassword);
      assert.equal(viaBasic.statusCode, 200);
      assert.equal(viaBasic.headers['remote-user'], USER.address);
      await eventually(
        async () =>
          (await storedAppPasswordHash()) === createKeyedHasher(H2!).digest(APP_PASSWORD_HASH_PURPOSE, canonical),
      );
      assert.equal((await mail(appPassword)).statusCode, 200, 'the integration key and the app password');
      await eventually(
        async () =>
          (await storedIntegrationHash()) === createKeyedHasher(H2!).digest('integration-key', integrationKey),
      );

      assert.equal((await me(sessionToken)).statusCode, 200, 'a session from before the rotation');
      assert.equal(
        (await ctx.accounts.peekSetPasswordToken(setPasswordToken)).address,
        NEW.address,
        'a set-password link from before',
      );
      const repeat = await ctx.legacy.verify({
        user: LATE.address,
        password: 'not-her-password',
        protocol: 'imap',
        ip: '192.0.2.8',
      });
      assert.equal(repeat.reason, 'repeated_wrong_password', 'the wrong password is still remembered');
      const user = (await ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const remembered = await ctx.flows.afterPassword(
        user,
        { ip: '192.0.2.9', userAgent: 't', protocol: 'web', locale: 'en' },
        '/',
        trustToken,
      );
      assert.equal(remembered.done, true, 'a device remembered before');
      assert.equal(await signInWithTotp(USER, seed), 201, 'the TOTP seed sealed under the previous key');

      const t = (await post('/api/v1/sessions', { email: USER.address, password: USER.password })).json()
        .token as string;
      await post('/api/v1/flow/switch', { method: 'recovery' }, { 'x-sesame-flow': t });
      assert.equal(
        (await post('/api/v1/flow/verify', { code: recoveryCodes[0] }, { 'x-sesame-flow': t })).statusCode,
        201,
        'a recovery code from before',
      );
      assert.deepEqual(await seedKeyId(), [aeadKeyId(E1!)], 'reading does not re-encrypt');
    });

    it('reencrypt seals stored seeds and live flows under the new key, idempotently; then the previous encryption key can go', async () => {
      const check = await ctx.reencrypt({ write: false });
      assert.deepEqual(check, { seeds: { total: 1, stale: 1 }, flowValues: { total: 1, stale: 1, unreadable: 0 } });
      assert.deepEqual(await seedKeyId(), [aeadKeyId(E1!)], 'a check writes nothing');
      assert.deepEqual(await ctx.reencrypt({ write: true }), check);
      assert.deepEqual(await seedKeyId(), [aeadKeyId(E2!)]);
      assert.deepEqual(
        await ctx.reencrypt({ write: true }),
        { seeds: { total: 1, stale: 0 }, flowValues: { total: 1, stale: 0, unreadable: 0 } },
        'nothing left to do',
      );

      await start(keys(H2!, E2!, { hashKey: [H1!] }));
      assert.equal(await signInWithTotp(USER, seed), 201, 'TOTP without the previous encryption key');
      const late = await post(
        '/api/v1/flow/verify',
        { code: oathtoolTotp(lateSeed, clock.now()) },
        { 'x-sesame-flow': lateFlow },
      );
      assert.equal(late.json().state, 'enrolled', 'the enrolment begun before the rotation completes');
      assert.deepEqual(
        (await seedKeyId()).sort(),
        [aeadKeyId(E2!), aeadKeyId(E2!)],
        "Lea's new method is stored under the current key",
      );
    });

    it('refuses, changing nothing, when a seed opens under no configured key', async () => {
      await start(keys(H2!, E3!));
      await assert.rejects(
        ctx.reencrypt({ write: true }),
        (e: unknown) => e instanceof ReencryptionError && e.seeds.length === 2 && e.message.includes(USER.address),
      );
      assert.deepEqual(await seedKeyId(), [aeadKeyId(E2!), aeadKeyId(E2!)]);
    });

    it('a second rotation that drops the oldest hash key still accepts what moved to the middle one', async () => {
      await start(keys(H3!, E2!, { hashKey: [H2!] }));
      assert.equal((await basic(USER.address, appPassword)).statusCode, 200);
      assert.equal((await mail(appPassword)).statusCode, 200);
      assert.equal(
        (await me(sessionToken)).statusCode,
        401,
        'a session made under the dropped key is gone (sessions do not move)',
      );
      const canonical = normalizeAppPassword(appPassword)!;
      await eventually(
        async () =>
          (await storedAppPasswordHash()) === createKeyedHasher(H3!).digest(APP_PASSWORD_HASH_PURPOSE, canonical),
      );
      await eventually(
        async () =>
          (await storedIntegrationHash()) === createKeyedHasher(H3!).digest('integration-key', integrationKey),
      );
      await start(keys(H3!, E2!));
      assert.equal(
        (await basic(USER.address, appPassword)).statusCode,
        200,
        'moved again at its last use: no previous key needed now',
      );
      assert.equal((await mail(appPassword)).statusCode, 200);
      assert.equal((await basic(USER.address, 'abcd efgh jkmn pqrs tuvw')).statusCode, 401);
    });
  });
}
