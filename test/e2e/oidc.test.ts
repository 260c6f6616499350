/**
 * Sesame as an OpenID Connect provider, end to end: a real relying party (panva's openid-client)
 * sends headless Chromium to Sesame, which signs the user in on its own pages (password, then the
 * authenticator-app code from oathtool), and the relying party verifies what comes back (ID token
 * signature, nonce, state, PKCE; userinfo; refresh; end session). In English and in Dutch. An app
 * that always requires a second factor asks for it (step-up) of a user whose MFA is off, and takes
 * a user with no method through setting one up first. Signing out of Sesame ends the single sign-on;
 * a disabled user's refresh token stops. Refused: a redirect
 * URI that is not registered, a code used twice, a code or refresh token of one organization's app
 * used by another's, an ID token for one app presented to another, a user of another organization,
 * an app password at the sign-in page. Then key rotation: the old key keeps verifying until dropped.
 *
 * The server runs in this process on a free loopback port (SQLite); the relying party's redirect
 * URI is answered by Chromium's request interception, so no second server is needed. Everything
 * started is stopped in `after`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Browser as Chromium, BrowserContext, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { buildApp } from '../../src/app/server.js';
import { freePort, launchChromium } from '../support/processes.js';
import { makeTestStore, type TestStore } from '../support/stores.js';
import { oathtoolTotp, registerTotpThroughPages, type World } from '../support/world.js';

const ALICE = { address: 'alice@contoso.test', password: 'harbour-violet-lantern-58', name: 'Alice Anders' };
const BRAM = { address: 'bram@contoso.test', password: 'tulpen-gracht-molen-64', name: 'Bram Bakker' };
const DIRK = { address: 'dirk@fabrikam.test', password: 'glacier-amber-tunnel-37', name: 'Dirk Dekker' };
const CARL = { address: 'carl@contoso.test', password: 'pebble-orchard-silver-25', name: 'Carl Carter' };
const ERIN = { address: 'erin@contoso.test', password: 'meadow-copper-quill-73', name: 'Erin Evers' };
const EN = { email: 'Email', password: 'Password', submit: 'Sign in' };
const NL = { email: 'E-mail', password: 'Wachtwoord', submit: 'Aanmelden' };

describe('OpenID Connect provider with Chromium and openid-client', () => {
  let store: TestStore;
  let ctx: AppContext;
  let app: FastifyInstance;
  let chromium: Chromium | undefined;
  let base = '';
  let issuer = '';
  const contexts = new Set<BrowserContext>();
  /** The relying parties' redirect URIs land on this small server, which records what arrives. */
  let rp: http.Server | undefined;
  let rpBase = '';
  let callbacks: string[] = [];
  const apps: Record<
    'contoso' | 'contosoMfa' | 'fabrikam',
    { id: string; secret?: string; redirect: string; config?: client.Configuration }
  > = {
    contoso: { id: '', redirect: '/contoso/callback' },
    contosoMfa: { id: '', redirect: '/contoso-mfa/callback' },
    fabrikam: { id: '', redirect: '/fabrikam/callback' },
  };
  let aliceSecret = '';
  let aliceAppPassword = '';

  before(async () => {
    rp = http.createServer((req, res) => {
      // Only redirect URIs count (the browser also asks for /favicon.ico, and signing out returns to /).
      if (req.url?.includes('/callback')) callbacks.push(`${rpBase}${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('relying party');
    });
    await new Promise<void>((resolve) => rp!.listen(0, '127.0.0.1', resolve));
    rpBase = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
    for (const a of Object.values(apps)) a.redirect = `${rpBase}${a.redirect}`;
    store = await makeTestStore('sqlite');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    issuer = `${base}/oidc`;
    ctx = await createContext(store.config({ publicUrl: base, port }));
    const contoso = await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
    const fabrikam = await ctx.accounts.addOrganization(OPERATOR, 'fabrikam.test', 'Fabrikam');
    for (const u of [ALICE, BRAM, DIRK, CARL, ERIN]) await ctx.accounts.addUser(OPERATOR, { ...u, role: 'user' });
    for (const u of [CARL, ERIN]) await ctx.mfaAdmin.setUserState(OPERATOR, u.address, 'disabled');
    app = await buildApp(ctx, { logger: false });
    await app.listen({ host: '127.0.0.1', port });

    // Alice registers an authenticator app through the pages (as users do); Bram has one too, but
    // his MFA is off, so his sessions prove only the password until an app asks for more.
    for (const u of [ALICE, BRAM]) await ctx.mfaAdmin.setUserState(OPERATOR, u.address, 'enabled');
    aliceSecret = await registerTotpThroughPages(
      { app } as World,
      { now: () => Date.now() },
      ALICE.address,
      ALICE.password,
    );
    await registerTotpThroughPages({ app } as World, { now: () => Date.now() }, BRAM.address, BRAM.password);
    await ctx.mfaAdmin.setUserState(OPERATOR, BRAM.address, 'disabled');
    const alice = (await ctx.accounts.findUserByAddressOrNull(ALICE.address))!;
    aliceAppPassword = (await ctx.appPasswords.create(alice, null, 'Mail', { ip: '127.0.0.1', locale: 'en' })).password;

    const add = async (key: keyof typeof apps, orgId: string, requireMfa: boolean) => {
      const made = await ctx.oidc.clients.add(OPERATOR, orgId, {
        name: key,
        redirectUris: [apps[key].redirect],
        kind: 'confidential',
        requireMfa,
      });
      apps[key].id = made.client.id;
      apps[key].secret = made.secret;
      apps[key].config = await client.discovery(
        new URL(issuer),
        made.client.id,
        undefined,
        client.ClientSecretBasic(made.secret),
        { execute: [client.allowInsecureRequests] },
      );
    };
    await add('contoso', contoso.id, false);
    await add('contosoMfa', contoso.id, true);
    await add('fabrikam', fabrikam.id, false);
    chromium = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await chromium?.close();
    await new Promise((resolve) => (rp ? rp.close(resolve) : resolve(undefined)));
    await app?.close();
    await ctx?.close();
    await store?.dispose();
  });

  /** A fresh browser profile in `locale`; what reaches the relying parties from now on is in `callbacks`. */
  async function open(locale: string): Promise<{ page: Page; callbacks: string[] }> {
    const context = await chromium!.newContext({ locale, baseURL: base });
    contexts.add(context);
    context.setDefaultTimeout(20_000);
    callbacks = [];
    return { page: await context.newPage(), callbacks };
  }

  /** The authorization request a relying party makes (PKCE S256, nonce, state), and the checks it will apply. */
  async function authorization(key: keyof typeof apps, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const checks = {
      pkceCodeVerifier: verifier,
      expectedNonce: client.randomNonce(),
      expectedState: client.randomState(),
    };
    const url = client.buildAuthorizationUrl(apps[key].config!, {
      redirect_uri: apps[key].redirect,
      scope: 'openid email profile offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce: checks.expectedNonce,
      state: checks.expectedState,
      ...extra,
    });
    return { url, checks };
  }

  async function signIn(page: Page, words: typeof EN, address: string, password: string) {
    await page.getByLabel(words.email).fill(address);
    await page.getByLabel(words.password).fill(password);
    await page.getByRole('button', { name: words.submit, exact: true }).click();
  }

  /** The authenticator-app step: a code of the next time step (the current one may have been used at registration). */
  async function enterCode(page: Page, secret: string) {
    const field = page.locator('input[name="code"]');
    await field.fill(oathtoolTotp(secret, Date.now() + 30_000));
    await field.locator('xpath=ancestor::form').locator('button[type="submit"]').first().click();
  }

  /** Waits for the browser to come back to the app; on a timeout, says where it is stuck instead. */
  const callbackOf = async (page: Page, callbacks: string[]) => {
    await page.waitForURL(`${rpBase}/**`).catch(async (e: Error) => {
      throw new Error(
        `${e.message.split('\n')[0]}: the browser is at ${page.url()}: ${(
          await page
            .locator('main')
            .innerText()
            .catch(() => '')
        ).slice(0, 1000)}`,
      );
    });
    assert.equal(callbacks.length, 1, 'the browser came back to the app once');
    return new URL(callbacks[0]!);
  };

  let aliceIdToken = '';

  it('signs Alice in (English, password and authenticator app); the relying party verifies tokens, userinfo and refresh; a code works once', async () => {
    const { page, callbacks } = await open('en-GB');
    const { url, checks } = await authorization('contoso');
    await page.goto(url.href);
    assert.equal(new URL(page.url()).pathname, '/signin', "the app sends the browser to Sesame's own sign-in page");
    assert.match(new URL(page.url()).searchParams.get('next') ?? '', /^\/oidc\/interaction\//);
    await signIn(page, EN, ALICE.address, ALICE.password);
    await page.waitForURL('**/signin/mfa');
    await enterCode(page, aliceSecret);
    const callback = await callbackOf(page, callbacks);
    assert.equal(callback.searchParams.get('iss'), issuer);

    const tokens = await client.authorizationCodeGrant(apps.contoso.config!, callback, checks);
    const claims = tokens.claims()!;
    const alice = (await ctx.accounts.findUserByAddressOrNull(ALICE.address))!;
    assert.equal(claims.sub, alice.id);
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, apps.contoso.id);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(claims.acr, 'urn:sesame:acr:mfa');
    aliceIdToken = tokens.id_token!;

    const info = await client.fetchUserInfo(apps.contoso.config!, tokens.access_token, alice.id);
    assert.equal(info.email, ALICE.address);
    assert.equal(info.email_verified, true);
    assert.equal(info.name, ALICE.name);

    assert.ok(tokens.refresh_token, 'a refresh token was issued');
    const refreshed = await client.refreshTokenGrant(apps.contoso.config!, tokens.refresh_token);
    assert.ok(refreshed.access_token && refreshed.access_token !== tokens.access_token);
    assert.equal(refreshed.claims()!.sub, alice.id);
    await assert.rejects(
      client.refreshTokenGrant(apps.fabrikam.config!, refreshed.refresh_token!),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
      'another app cannot use it',
    );

    // The same code again: refused (and the grant it came from is revoked).
    await assert.rejects(
      client.authorizationCodeGrant(apps.contoso.config!, callback, checks),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
    );
    await assert.rejects(
      client.refreshTokenGrant(apps.contoso.config!, refreshed.refresh_token!),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
      'a replayed code revokes its grant',
    );

    // Another app of another organization: Alice's code, refresh token and ID token are not for it.
    const again = await authorization('contoso');
    await page.goto(again.url.href);
    await page.waitForURL(`${rpBase}/**`);
    const second = new URL(callbacks[1]!);
    await assert.rejects(
      client.authorizationCodeGrant(apps.fabrikam.config!, second, again.checks),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
    );
    const jwks = createLocalJWKSet(
      (await (await fetch(`${issuer}/jwks`)).json()) as Parameters<typeof createLocalJWKSet>[0],
    );
    await jwtVerify(aliceIdToken, jwks, { issuer, audience: apps.contoso.id });
    await assert.rejects(jwtVerify(aliceIdToken, jwks, { issuer, audience: apps.fabrikam.id }), /aud/);

    // End session: Sesame asks, and "Sign out" ends the Sesame session too, then returns to the app.
    await page.goto(
      client.buildEndSessionUrl(apps.contoso.config!, {
        id_token_hint: aliceIdToken,
        post_logout_redirect_uri: `${rpBase}/`,
      }).href,
    );
    await page.getByRole('button', { name: 'Sign out', exact: true }).last().click();
    await page.waitForURL(`${rpBase}/`).catch(async (e: Error) => {
      throw new Error(
        `${e.message.split('\n')[0]}: the browser is at ${page.url()}: ${(await page.content()).slice(0, 3000)}`,
      );
    });
    await page.goto(`${base}/account`);
    assert.equal(new URL(page.url()).pathname, '/signin', 'signed out of Sesame as well');
  });

  it('signs Bram in in Dutch; an app that always wants a second factor asks for it first (step-up), then issues the code', async () => {
    const { page, callbacks } = await open('nl-NL');
    const plain = await authorization('contoso');
    await page.goto(plain.url.href);
    await page.getByRole('button', { name: NL.submit, exact: true }).waitFor();
    await signIn(page, NL, BRAM.address, BRAM.password);
    const first = await callbackOf(page, callbacks);
    const tokens = await client.authorizationCodeGrant(apps.contoso.config!, first, plain.checks);
    assert.deepEqual(tokens.claims()!.amr, ['pwd'], 'MFA off: only the password was proved');
    assert.equal(tokens.claims()!.acr, 'urn:sesame:acr:pwd');

    const strict = await authorization('contosoMfa');
    await page.goto(strict.url.href);
    await page.waitForURL('**/security-info/flow');
    assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
    const bramSecret = await bramTotpSecret();
    await enterCode(page, bramSecret);
    await page.waitForURL(`${rpBase}/contoso-mfa/**`);
    const stepped = await client.authorizationCodeGrant(apps.contosoMfa.config!, new URL(callbacks[1]!), strict.checks);
    assert.deepEqual([...(stepped.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(stepped.claims()!.acr, 'urn:sesame:acr:mfa');

    // Signed out of Sesame (its own button), the provider's session is over too: the app's next request meets the sign-in page.
    await page.goto('/account');
    await page.getByRole('button', { name: 'Afmelden', exact: true }).click();
    await page.waitForURL('**/signin?m=signedout');
    await page.goto((await authorization('contoso')).url.href);
    assert.equal(new URL(page.url()).pathname, '/signin');
    assert.equal(callbacks.length, 2, 'no code without signing in again');

    // A disabled user's refresh token stops working at once, and enabling the user does not bring it back.
    await ctx.accounts.disableUser(OPERATOR, BRAM.address);
    await assert.rejects(
      client.refreshTokenGrant(apps.contoso.config!, tokens.refresh_token!),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
    );
    await ctx.accounts.enableUser(OPERATOR, BRAM.address);
    await assert.rejects(
      client.refreshTokenGrant(apps.contoso.config!, tokens.refresh_token!),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
      'enabled again: the refresh token from before stays ended',
    );
  });

  it('takes a user with no second factor through confirming the password and setting one up, then asks for it, before an MFA-always app gets a code', async () => {
    const { page, callbacks } = await open('en-GB');
    const strict = await authorization('contosoMfa');
    await page.goto(strict.url.href);
    await signIn(page, EN, CARL.address, CARL.password);
    // Adding a first method needs recent authentication: Carl has none, so he re-enters his password.
    await page.waitForURL('**/security-info/reauth?**');
    await page.getByLabel('Password').fill(CARL.password);
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.waitForURL('**/security-info/flow');
    await page.locator('form[action$="/pick"] input[value="totp"]').check();
    await page.locator('form[action$="/pick"] button[type="submit"]').click();
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    await page.locator('input[name="code"]').fill(oathtoolTotp(secret, Date.now()));
    await page.locator('form[action$="/verify"] button[type="submit"]').click();
    await page.locator('#next').click();
    // Back at the app's sign-in: the new method is asked for (a later time step than the one just used).
    await page.waitForURL('**/security-info/flow');
    await enterCode(page, secret);
    const tokens = await client.authorizationCodeGrant(
      apps.contosoMfa.config!,
      await callbackOf(page, callbacks),
      strict.checks,
    );
    assert.equal(tokens.claims()!.acr, 'urn:sesame:acr:mfa');
  });

  /** Bram's TOTP seed, read back from the store (the test registered it through the pages above). */
  async function bramTotpSecret(): Promise<string> {
    const bram = (await ctx.accounts.findUserByAddressOrNull(BRAM.address))!;
    const row = await ctx.store.db
      .selectFrom('mfa_methods')
      .select(['id', 'secret_enc'])
      .where('user_id', '=', bram.id)
      .where('kind', '=', 'totp')
      .executeTakeFirstOrThrow();
    const { createAead } = await import('../../src/lib/crypto/aead.js');
    return createAead(ctx.secrets.encryptionKey).open(row.secret_enc!, `totp:${row.id}`);
  }

  it('refuses a redirect URI that is not registered, a user of another organization, and an app password at the sign-in page', async () => {
    const { page, callbacks } = await open('en-GB');
    const evil = await authorization('contoso', { redirect_uri: 'https://evil.example/callback' });
    const res = await page.goto(evil.url.href);
    assert.equal(res?.status(), 400);
    await page.getByRole('heading', { level: 1, name: 'Sign-in to the app failed' }).waitFor();
    assert.equal(new URL(page.url()).origin, base, 'the browser stays at Sesame');

    const asked = await authorization('contoso');
    await page.goto(asked.url.href);
    await signIn(page, EN, ALICE.address, aliceAppPassword);
    await page.getByText('Your account or password is incorrect.').waitFor();
    assert.equal(new URL(page.url()).pathname, '/signin');

    const { page: other, callbacks: otherCallbacks } = await open('en-GB');
    const foreign = await authorization('contoso');
    await other.goto(foreign.url.href);
    await signIn(other, EN, DIRK.address, DIRK.password);
    await other.getByText('This app belongs to another organization.', { exact: false }).waitFor();
    assert.deepEqual([...callbacks, ...otherCallbacks], [], 'no app received a code');
  });

  it('ends what an app holds when the password changes: its refresh and access tokens stop at once (account lifecycle)', async () => {
    const { page, callbacks } = await open('en-GB');
    const { url, checks } = await authorization('contoso');
    await page.goto(url.href);
    await signIn(page, EN, ERIN.address, ERIN.password);
    const tokens = await client.authorizationCodeGrant(apps.contoso.config!, await callbackOf(page, callbacks), checks);
    const erin = (await ctx.accounts.findUserByAddressOrNull(ERIN.address))!;
    const refreshed = await client.refreshTokenGrant(apps.contoso.config!, tokens.refresh_token!);
    assert.equal((await client.fetchUserInfo(apps.contoso.config!, refreshed.access_token, erin.id)).sub, erin.id);

    await ctx.accounts.setPassword(OPERATOR, ERIN.address, 'quill-meadow-harbour-91');
    await assert.rejects(
      client.refreshTokenGrant(apps.contoso.config!, refreshed.refresh_token!),
      (e: Error & { error?: string }) => e.error === 'invalid_grant',
      'the refresh token ended with the old password',
    );
    await assert.rejects(
      client.fetchUserInfo(apps.contoso.config!, refreshed.access_token, erin.id),
      'the access token ended too',
    );
  });

  it('rotates the signing keys: new tokens are signed by the new key, the old key verifies until dropped', async () => {
    const before = await ctx.oidc.keys.kids();
    const kid = await ctx.oidc.keys.rotate();
    // A fresh app notices at once (a running one within a minute).
    const fresh = await buildApp(ctx, { logger: false });
    try {
      const both = JSON.parse((await fresh.inject({ url: '/oidc/jwks' })).body) as { keys: { kid: string }[] };
      assert.deepEqual(
        both.keys.map((k) => k.kid),
        [kid, ...before],
      );
      await jwtVerify(aliceIdToken, createLocalJWKSet(both as Parameters<typeof createLocalJWKSet>[0]), {
        issuer,
        audience: apps.contoso.id,
      });
      assert.equal(await ctx.oidc.keys.dropPrevious(), before.length);
    } finally {
      await fresh.close();
    }
    const last = await buildApp(ctx, { logger: false });
    try {
      const only = JSON.parse((await last.inject({ url: '/oidc/jwks' })).body) as { keys: { kid: string }[] };
      assert.deepEqual(
        only.keys.map((k) => k.kid),
        [kid],
      );
      await assert.rejects(
        jwtVerify(aliceIdToken, createLocalJWKSet(only as Parameters<typeof createLocalJWKSet>[0]), {
          issuer,
          audience: apps.contoso.id,
        }),
      );
    } finally {
      await last.close();
    }
  });
});
