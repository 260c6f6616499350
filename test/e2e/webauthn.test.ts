/**
 * Security keys and passkeys end to end: the real CLI sets up a SQLite store (organization, admin,
 * two users who must register a second factor, a policy that allows security keys), the real
 * server listens on 127.0.0.1 and is reached as http://localhost:<port> (browsers refuse an IP
 * address as WebAuthn RP ID; localhost is a secure context), and Debian's Chromium, driven by
 * playwright-core with a CDP virtual authenticator, registers a key and signs in with it.
 *
 * The refusals are proven against the server, not just the browser: assertions that a browser
 * would never send (a replayed one, one signed by the wrong key, one without user presence, one
 * from another user's key) are produced with the virtual authenticator or built here with its
 * private key, posted through the real page, and must leave the user without a session. Every
 * process started here is stopped in `after`, whether the tests pass or not.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { adminApiToken } from '../support/admin-mfa.js';
import {
  freePort,
  launchChromium,
  requireBuild,
  requireChromium,
  runSesameCli as sesame,
  startServer,
  type StartedServer,
  serverEnv,
  teardown,
} from '../support/processes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const ALICE = { address: 'alice@contoso.test', password: 'copper-willow-harvest-58', name: 'Alice Key' };
const BOB = { address: 'bob@contoso.test', password: 'granite-puffin-orchard-31', name: 'Bob Key' };
const SESSION_COOKIE = 'sesame_session';
const REFUSED = 'The security key could not be verified. Try again.';

interface AuthenticatorOptions {
  protocol: 'ctap2';
  transport: 'usb';
  hasResidentKey: boolean;
  hasUserVerification: boolean;
  isUserVerified: boolean;
  automaticPresenceSimulation: boolean;
}
const AUTHENTICATOR: AuthenticatorOptions = {
  protocol: 'ctap2',
  transport: 'usb',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true,
};

/** A credential as the CDP WebAuthn domain reports it (binary fields in standard base64). */
interface CdpCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
}

const b64urlFromB64 = (s: string) => Buffer.from(s, 'base64').toString('base64url');

describe('security keys and passkeys in Chromium (real CLI, real server, virtual authenticator)', () => {
  let dataDir: string | undefined;
  let server: StartedServer | undefined;
  let browser: Browser | undefined;
  /** What the browser uses: localhost, the RP ID. */
  let base = '';
  /** What this process uses for the JSON API (the server listens on 127.0.0.1 only). */
  let direct = '';
  const contexts = new Set<BrowserContext>();

  // Learned along the way (the tests run in order).
  let aliceKey: CdpCredential | undefined;
  /** The credential JSON the browser posted for Alice's successful sign-in. */
  let postedAssertion: string | undefined;

  before(async () => {
    requireChromium();
    requireBuild();

    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-e2e-webauthn-'));
    const port = await freePort();
    base = `http://localhost:${port}`;
    direct = `http://127.0.0.1:${port}`;
    const env = serverEnv(dataDir, port, { SESAME_PUBLIC_URL: base, SESAME_MODE: 'development' });

    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(
      env,
      ['user', 'add', ADMIN.address, '--name', ADMIN.name, '--admin', '--password-stdin'],
      `${ADMIN.password}\n`,
    );
    for (const u of [ALICE, BOB]) {
      await sesame(env, ['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
      await sesame(env, ['user', 'mfa', u.address, 'enabled']);
    }
    await sesame(env, ['org', 'policy', 'contoso.test', '--methods', 'webauthn,totp']);

    server = await startServer({ env });

    browser = await launchChromium();
  });

  after(() => teardown({ contexts, browser, server, dataDir }));

  /** A fresh browser profile with the CDP WebAuthn domain on, and (unless `null`) one virtual authenticator. */
  async function open(
    authenticator: Partial<AuthenticatorOptions> | null = {},
  ): Promise<{ context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string }> {
    assert.ok(browser, 'the browser did not start');
    const context = await browser.newContext({ locale: 'en-US', baseURL: base });
    contexts.add(context);
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    let authenticatorId = '';
    if (authenticator)
      authenticatorId = (
        await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { ...AUTHENTICATOR, ...authenticator } })
      ).authenticatorId;
    return { context, page, cdp, authenticatorId };
  }

  async function close(context: BrowserContext) {
    contexts.delete(context);
    await context.close();
  }

  const pathOf = (page: Page) => new URL(page.url()).pathname;
  const heading = async (page: Page) => (await page.getByRole('heading', { level: 1 }).textContent())?.trim();
  const hasSession = async (context: BrowserContext) =>
    (await context.cookies()).some((c) => c.name === SESSION_COOKIE);

  async function credentials(cdp: CDPSession, authenticatorId: string): Promise<CdpCredential[]> {
    return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as CdpCredential[];
  }

  /** The password step; lands on the MFA flow page. */
  async function password(page: Page, u: { address: string; password: string }) {
    await page.goto('/signin');
    await page.getByLabel('Email').fill(u.address);
    await page.getByLabel('Password').fill(u.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/signin/mfa`);
  }

  /** "More information required" -> security key -> registered -> app password -> recovery codes -> My account. */
  async function register(page: Page) {
    assert.equal(await heading(page), 'More information required');
    // Hold the page script back until the button has been seen disabled (no empty post before it runs).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/static/webauthn.js', async (route) => {
      await held;
      await route.continue();
    });
    await page.getByRole('button', { name: 'Set it up now' }).click();
    await page.getByRole('heading', { level: 1, name: 'How should we contact you?' }).waitFor();
    await page.getByLabel('Security key or passkey').check();
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Verify your method' }).waitFor();
    const go = page.getByRole('button', { name: 'Register security key' });
    assert.equal(await go.isDisabled(), true, 'the button waits for the page script');
    release();
    await go.click();
    await page.getByRole('heading', { level: 1, name: 'Verification succeeded' }).waitFor();
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    // The organization allows app passwords (the default): one is made and shown once.
    await page.getByRole('heading', { level: 1, name: 'Keep using your existing applications' }).waitFor();
    assert.match(
      ((await page.locator('#app-password').textContent()) ?? '').trim(),
      /^[a-hjkmnp-z]{4}( [a-hjkmnp-z]{4}){4}$/,
    );
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Save your recovery codes' }).waitFor();
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await page.getByRole('button', { name: 'Done', exact: true }).click();
    await page.waitForURL(`${base}/account`);
  }

  /** The second step asks for the security key. */
  async function atKeyStep(page: Page) {
    assert.equal(await heading(page), 'Verify your identity');
    await page.getByRole('button', { name: 'Use security key' }).waitFor();
  }

  /** The server refused the key: its error on the flow page, no session, My account closed. */
  async function assertRefused(context: BrowserContext, page: Page) {
    const alert = page.locator('p.error[role="alert"]:not([data-webauthn])');
    await alert.waitFor();
    assert.equal((await alert.textContent())?.trim(), REFUSED);
    assert.match(pathOf(page), /^\/signin\/mfa/);
    assert.equal(await hasSession(context), false, 'no session cookie after a refused key');
    await page.goto('/account');
    assert.equal(pathOf(page), '/signin', 'My account stays closed');
  }

  /** Puts `credentialJson` in the form's hidden field and posts it, as the page script would. */
  async function post(page: Page, credentialJson: string) {
    const response = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/signin/mfa/verify',
    );
    await page.evaluate((json) => {
      const form = document.querySelector<HTMLFormElement>('form.webauthn')!;
      (form.elements.namedItem('credential') as HTMLInputElement).value = json;
      form.submit();
    }, credentialJson);
    return response;
  }

  /** The authentication options the page was given. */
  async function pageOptions(
    page: Page,
  ): Promise<{ challenge: string; rpId: string; allowCredentials: { id: string }[] }> {
    return JSON.parse((await page.locator('form.webauthn').getAttribute('data-options'))!);
  }

  /**
   * An assertion built here, with a key whose private half the test holds, for the challenge on
   * the page. `flags` is the authenticator-data flags byte (0x01 user present, 0x04 user verified).
   */
  function assertion(
    key: CdpCredential,
    challenge: string,
    opts: { flags: number; counter: number; rpId?: string },
  ): string {
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.get', challenge, origin: base, crossOrigin: false }),
    );
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(opts.counter);
    const authenticatorData = Buffer.concat([
      crypto
        .createHash('sha256')
        .update(opts.rpId ?? 'localhost')
        .digest(),
      Buffer.from([opts.flags]),
      counter,
    ]);
    const privateKey = crypto.createPrivateKey({
      key: Buffer.from(key.privateKey, 'base64'),
      format: 'der',
      type: 'pkcs8',
    });
    // The authenticator chose the algorithm (Ed25519 comes first in the server's list; ES256 next).
    const digest = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
    const signature = crypto.sign(
      digest,
      Buffer.concat([authenticatorData, crypto.createHash('sha256').update(clientDataJSON).digest()]),
      privateKey,
    );
    const id = b64urlFromB64(key.credentialId);
    return JSON.stringify({
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authenticatorData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(key.userHandle ? { userHandle: b64urlFromB64(key.userHandle) } : {}),
      },
      clientExtensionResults: {},
    });
  }

  function storedCounter(credentialId: string): number {
    const db = new SQLite(path.join(dataDir!, 'sesame.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT sign_count FROM mfa_methods WHERE credential_id = ?').get(credentialId) as
        | { sign_count: number }
        | undefined;
      assert.ok(row, `credential ${credentialId} is stored`);
      return Number(row.sign_count);
    } finally {
      db.close();
    }
  }

  /** The sign-in log; identical failures are one row with a `count` (issue #15, item 4). */
  async function signInLog(): Promise<
    { addressTyped: string; outcome: string; reason: string; protocol: string; count: number }[]
  > {
    const token = await adminApiToken(direct, ADMIN);
    const res = await fetch(`${direct}/api/v1/sign-ins?limit=500`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    return (
      (await res.json()) as {
        events: { addressTyped: string; outcome: string; reason: string; protocol: string; count: number }[];
      }
    ).events;
  }

  it('serves the browser library and the page script from this origin', async () => {
    for (const p of ['/static/vendor/simplewebauthn-browser.umd.min.js', '/static/webauthn.js']) {
      const res = await fetch(`${direct}${p}`);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get('content-type') ?? '', /javascript/, p);
    }
    const lib = await (await fetch(`${direct}/static/vendor/simplewebauthn-browser.umd.min.js`)).text();
    assert.match(lib, /SimpleWebAuthnBrowser/);
  });

  it('registers a security key at the first sign-in, then signs in with it', async () => {
    const { context, page, cdp, authenticatorId } = await open();
    try {
      await password(page, ALICE);
      await register(page);
      assert.equal(await hasSession(context), true);
      const [key, ...more] = await credentials(cdp, authenticatorId);
      assert.ok(key && more.length === 0, 'the authenticator holds exactly one credential');
      assert.equal(key.rpId, 'localhost');
      assert.equal(key.isResidentCredential, true, 'residentKey "preferred" gave a passkey (discoverable credential)');
      const credentialId = b64urlFromB64(key.credentialId);
      assert.equal(storedCounter(credentialId), key.signCount, 'the counter at registration is stored');

      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/signin?m=signedout`);
      assert.equal(await hasSession(context), false);

      await password(page, ALICE);
      await atKeyStep(page);
      const allowed = (await pageOptions(page)).allowCredentials.map((c) => c.id);
      assert.deepEqual(allowed, [credentialId], "the options name Alice's key and nothing else");
      const posted = page.waitForRequest(
        (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/signin/mfa/verify',
      );
      await page.getByRole('button', { name: 'Use security key' }).click();
      postedAssertion = new URLSearchParams((await posted).postData() ?? '').get('credential') ?? undefined;
      await page.waitForURL(`${base}/account`);
      assert.equal(await hasSession(context), true);

      aliceKey = (await credentials(cdp, authenticatorId))[0];
      assert.ok(aliceKey && aliceKey.signCount > key.signCount, 'the authenticator counted the assertion');
      assert.equal(storedCounter(credentialId), aliceKey.signCount, 'the new counter is stored');
    } finally {
      await close(context);
    }
    const log = await signInLog();
    assert.ok(
      log.some((e) => e.addressTyped === ALICE.address && e.protocol === 'web:mfa' && e.outcome === 'success'),
      'the sign-in log has the key sign-in',
    );
  });

  it('refuses a replayed assertion (the challenge is per flow and single use)', async () => {
    assert.ok(postedAssertion, 'the previous test captured an assertion');
    const { context, page } = await open(null);
    try {
      await password(page, ALICE);
      await atKeyStep(page);
      const res = await post(page, postedAssertion);
      assert.equal(res.status(), 400);
      await assertRefused(context, page);
    } finally {
      await close(context);
    }
  });

  it("refuses a key that claims Alice's credential ID but holds another private key", async () => {
    assert.ok(aliceKey);
    const { context, page, cdp, authenticatorId } = await open();
    try {
      const other = crypto
        .generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        .privateKey.export({ format: 'der', type: 'pkcs8' });
      // A high counter, so that only the signature can be what is wrong.
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: {
          credentialId: aliceKey.credentialId,
          isResidentCredential: false,
          rpId: 'localhost',
          privateKey: other.toString('base64'),
          signCount: 100_000,
        },
      });
      await password(page, ALICE);
      await atKeyStep(page);
      await page.getByRole('button', { name: 'Use security key' }).click();
      await assertRefused(context, page);
      assert.equal(
        storedCounter(b64urlFromB64(aliceKey.credentialId)),
        aliceKey.signCount,
        'a refused assertion does not move the counter',
      );
    } finally {
      await close(context);
    }
  });

  it('shows the browser error and posts nothing when the authenticator has no key for the account', async () => {
    const { context, page } = await open();
    try {
      let posted = false;
      page.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname === '/signin/mfa/verify') posted = true;
      });
      await password(page, ALICE);
      await atKeyStep(page);
      await page.getByRole('button', { name: 'Use security key' }).click();
      const alert = page.locator('form.webauthn p.error[role="alert"][data-webauthn]');
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /not allowed|timed out/i);
      assert.equal(posted, false);
      assert.equal(
        await page.getByRole('button', { name: 'Use security key' }).isEnabled(),
        true,
        'the user can try again',
      );
      assert.equal(await hasSession(context), false);
    } finally {
      await close(context);
    }
  });

  it('needs user presence: no touch, no ceremony; an assertion without the presence flag is refused', async () => {
    assert.ok(aliceKey);
    // (1) The browser side: Alice's real key, but nobody touches it.
    {
      const { context, page, cdp, authenticatorId } = await open({ automaticPresenceSimulation: false });
      try {
        await cdp.send('WebAuthn.addCredential', {
          authenticatorId,
          credential: { ...aliceKey, signCount: aliceKey.signCount },
        });
        let posted = false;
        page.on('request', (r) => {
          if (r.method() === 'POST' && new URL(r.url()).pathname === '/signin/mfa/verify') posted = true;
        });
        await password(page, ALICE);
        await atKeyStep(page);
        await page.getByRole('button', { name: 'Use security key' }).click();
        await page.waitForTimeout(1_500);
        assert.equal(posted, false, 'without presence the ceremony does not complete');
        assert.equal(pathOf(page), '/signin/mfa');
        assert.equal(await hasSession(context), false);
      } finally {
        await close(context);
      }
    }
    // (2) The server side: an assertion signed by Alice's real key for this very challenge, with the
    // user-present flag clear, is refused; the same with only that flag set is accepted.
    const { context, page } = await open(null);
    try {
      await password(page, ALICE);
      await atKeyStep(page);
      const { challenge, rpId } = await pageOptions(page);
      assert.equal(rpId, 'localhost');
      const counter = storedCounter(b64urlFromB64(aliceKey.credentialId)) + 10;
      const absent = await post(page, assertion(aliceKey, challenge, { flags: 0x00, counter }));
      assert.equal(absent.status(), 400);
      await page.locator('p.error[role="alert"]').waitFor();
      assert.equal((await page.locator('p.error[role="alert"]').textContent())?.trim(), REFUSED);
      assert.equal(await hasSession(context), false, 'no session without user presence');

      // Control: only the UP bit differs (user verification still absent, which the policy allows).
      const present = await post(page, assertion(aliceKey, challenge, { flags: 0x01, counter }));
      assert.equal(present.status(), 303);
      await page.waitForURL(`${base}/account`);
      assert.equal(await hasSession(context), true);
      assert.equal(storedCounter(b64urlFromB64(aliceKey.credentialId)), counter);
    } finally {
      await close(context);
    }
  });

  it("refuses Alice's key for Bob's sign-in, even when the page is made to ask for it", async () => {
    assert.ok(aliceKey);
    // Bob registers a key of his own (his flow would otherwise be a registration, not a second step).
    {
      const { context, page } = await open();
      try {
        await password(page, BOB);
        await register(page);
      } finally {
        await close(context);
      }
    }
    const { context, page, cdp, authenticatorId } = await open();
    try {
      // This authenticator holds Alice's real key, nothing else.
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: { ...aliceKey, signCount: aliceKey.signCount + 1_000 },
      });
      await password(page, BOB);
      await atKeyStep(page);
      const options = await pageOptions(page);
      assert.equal(options.allowCredentials.length, 1);
      assert.notEqual(
        options.allowCredentials[0]!.id,
        b64urlFromB64(aliceKey.credentialId),
        "Bob's options do not name Alice's key",
      );
      // A tampered client: ask the authenticator for Alice's credential in Bob's flow.
      const aliceId = b64urlFromB64(aliceKey.credentialId);
      await page.evaluate((id) => {
        const form = document.querySelector<HTMLFormElement>('form.webauthn')!;
        const o = JSON.parse(form.dataset.options!) as { allowCredentials: unknown[] };
        o.allowCredentials = [{ id, type: 'public-key' }];
        form.dataset.options = JSON.stringify(o);
      }, aliceId);
      const posted = page.waitForRequest(
        (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/signin/mfa/verify',
      );
      await page.getByRole('button', { name: 'Use security key' }).click();
      const sent = JSON.parse(new URLSearchParams((await posted).postData() ?? '').get('credential') ?? '{}') as {
        id?: string;
      };
      assert.equal(sent.id, aliceId, "the browser really sent a valid assertion from Alice's key");
      await assertRefused(context, page);
    } finally {
      await close(context);
    }
    const log = await signInLog();
    assert.ok(
      log.some(
        (e) =>
          e.addressTyped === BOB.address &&
          e.protocol === 'web:mfa' &&
          e.outcome === 'failure' &&
          e.reason === 'wrong_second_factor',
      ),
      "Bob's refused key is in the sign-in log",
    );
    const alice = log.filter((e) => e.addressTyped === ALICE.address && e.protocol === 'web:mfa');
    // Refused: the replay, the wrong private key, the missing presence flag. Accepted: the real key, the crafted control.
    const attempts = (outcome: string) => alice.filter((e) => e.outcome === outcome).reduce((n, e) => n + e.count, 0);
    assert.deepEqual([attempts('failure'), attempts('success')], [3, 2]);
  });
});
