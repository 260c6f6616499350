/**
 * A ready world for HTTP and flow tests: a store of the given kind, the services, the Fastify app
 * (not listening; use inject), an organization contoso.test with an admin and a user, and
 * helpers to sign in through the real pages.
 */
import { execFileSync } from 'node:child_process';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createContext, type AppContext, type ContextOptions } from '../../src/app/context.js';
import type { Config } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { buildApp } from '../../src/app/server.js';
import type { PasswordHasher } from '../../src/lib/crypto/password-hasher.js';
import { makeTestStore, type StoreKind, type TestStore } from './stores.js';
import { testContextOptions } from './hasher.js';

export const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
export const USER = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77', name: 'Bob Builder' };
export const OTHER_ADMIN = { address: 'eve@fabrikam.test', password: 'amber-glacier-tunnel-19', name: 'Eve Other' };

export interface World {
  store: TestStore;
  ctx: AppContext;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** `opts` without a passwordHasher get the cheap test hasher (hasher.ts). */
export async function makeWorld(
  kind: StoreKind = 'sqlite',
  overrides: Partial<Config> = {},
  opts: ContextOptions = {},
): Promise<World> {
  const store = await makeTestStore(kind);
  const ctx = await createContext(store.config(overrides), testContextOptions(opts));
  await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
  await ctx.accounts.addOrganization(OPERATOR, 'fabrikam.test', 'Fabrikam');
  await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
  await ctx.accounts.addUser(OPERATOR, { ...USER, role: 'user' });
  await ctx.accounts.addUser(OPERATOR, { ...OTHER_ADMIN, role: 'admin' });
  const app = await buildApp(ctx, { logger: false });
  await app.ready();
  return {
    store,
    ctx,
    app,
    async close() {
      await app.close();
      await ctx.close();
      await store.dispose();
    },
  };
}

/** A tiny cookie jar over inject(), so tests talk to the app as a browser would. */
export class Browser {
  cookies = new Map<string, string>();
  constructor(
    readonly app: FastifyInstance,
    readonly headers: Record<string, string> = {},
  ) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: LightMyRequestResponse) {
    for (const c of res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now()))
        this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({
      method: 'GET',
      url,
      headers: { ...this.headers, cookie: this.cookieHeader() },
    });
    this.keep(res);
    return res;
  }

  /** Posts `form` urlencoded; a list is a repeated field (ticked boxes), an empty list sends nothing. */
  async post(url: string, form: Record<string, string | readonly string[]>): Promise<LightMyRequestResponse> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const one of typeof v === 'string' ? [v] : v) body.append(k, one);
    const res = await this.app.inject({
      method: 'POST',
      url,
      headers: { ...this.headers, cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      payload: body.toString(),
    });
    this.keep(res);
    return res;
  }

  /** Loads `pageUrl`, takes the CSRF token from its form, and posts `form` to `action` with it. */
  async submit(pageUrl: string, action: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
    const page = await this.get(pageUrl);
    return this.post(action, { _csrf: csrfFrom(page.body), ...form });
  }

  /**
   * Loads `pageUrl` and posts its form whose action is `action` as a browser would: every hidden
   * field of that form (the CSRF token, a one-time nonce...), its boxes ticked as the page ticks
   * them, and then `form` (a field there replaces the page's).
   */
  async submitForm(
    pageUrl: string,
    action: string,
    form: Record<string, string | readonly string[]>,
  ): Promise<LightMyRequestResponse> {
    const page = await this.get(pageUrl);
    return this.post(action, { ...formFields(page.body, action), ...form });
  }

  async signIn(address: string, password: string): Promise<LightMyRequestResponse> {
    return this.submit('/signin', '/signin', { email: address, password });
  }
}

export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token on the page');
  return m[1]!;
}

/** The page's first form that posts to `action` (with or without a `#fragment` to scroll to), as HTML. */
function formOf(html: string, action: string): string {
  const at = html.search(new RegExp(`action="${action.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:#[^"]*)?"`));
  if (at < 0) throw new Error(`no form posts to ${action} on the page`);
  return html.slice(at, html.indexOf('</form>', at));
}

/** The hidden fields of the page's first form that posts to `action` (with or without a `#fragment` to scroll to). */
export function hiddenFields(html: string, action: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of formOf(html, action).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1]!] = m[2]!;
  return fields;
}

/** What that form sends untouched: its hidden fields and the values of its boxes ticked by default. */
export function formFields(html: string, action: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = { ...hiddenFields(html, action) };
  for (const m of formOf(html, action).matchAll(/<input type="checkbox" name="([^"]+)" value="([^"]*)" checked>/g)) {
    const had = fields[m[1]!];
    fields[m[1]!] = [...(had === undefined ? [] : typeof had === 'string' ? [had] : had), m[2]!];
  }
  return fields;
}

/** A clock tests can move. */
export class FakeClock {
  constructor(public t = Date.now()) {}
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

/** Wraps the real Argon2 hasher and counts what it is asked to do. */
export function countingHasher(inner: PasswordHasher) {
  const calls = { hash: 0, verify: 0, burn: 0 };
  const hasher: PasswordHasher = {
    hash: (p) => {
      calls.hash++;
      return inner.hash(p);
    },
    verify: (h, p) => {
      calls.verify++;
      return inner.verify(h, p);
    },
    burn: (p) => {
      calls.burn++;
      return inner.burn(p);
    },
  };
  return { hasher, calls };
}

/** The current TOTP code for a base32 secret at `atMs`, computed by oathtool (Debian package). */
export function oathtoolTotp(secretBase32: string, atMs: number): string {
  return execFileSync('oathtool', ['--totp', '-b', secretBase32, '--now', `@${Math.floor(atMs / 1000)}`], {
    encoding: 'utf8',
  }).trim();
}

/** The TOTP key shown on the enrolment page, without the spaces that group it. */
export function secretFrom(html: string): string {
  const m = /<code id="totp-secret">([^<]+)<\/code>/.exec(html);
  if (!m) throw new Error('no TOTP secret on the page');
  return m[1]!.replace(/\s/g, '');
}

/** The recovery codes listed on a page. */
export function recoveryCodesFrom(html: string): string[] {
  const list = /<ol class="codes" id="recovery-codes">([\s\S]*?)<\/ol>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => m[1]!);
}

/**
 * Registers a first method at sign-in through the pages in `b`, for a user whose MFA is `enabled` or
 * `enforced`, as the user would: password, Set it up now, the method step's form `method`, the code
 * `code()` gives once the method is chosen (read from the page, or from what was sent), Next, Next,
 * Done. Returns the recovery codes shown after the second Next and Done's answer.
 */
export async function registerThroughPages(
  b: Browser,
  address: string,
  password: string,
  method: Record<string, string>,
  code: () => string | Promise<string>,
): Promise<{ recoveryCodes: string[]; done: LightMyRequestResponse }> {
  await b.signIn(address, password);
  await b.submit('/signin/mfa', '/signin/mfa/setup', {});
  await b.submit('/signin/mfa', '/signin/mfa/method', method);
  await b.submit('/signin/mfa', '/signin/mfa/verify', { code: await code() });
  await b.submit('/signin/mfa', '/signin/mfa/next', {});
  const shown = await b.submit('/signin/mfa', '/signin/mfa/next', {});
  const recoveryCodes = recoveryCodesFrom((shown.statusCode === 303 ? await b.get('/signin/mfa') : shown).body);
  return { recoveryCodes, done: await b.submit('/signin/mfa', '/signin/mfa/done', {}) };
}

/** registerThroughPages() with an authenticator app (code from oathtool at `clock`'s time); also returns its secret. */
export async function registerTotpAtSignIn(
  b: Browser,
  clock: { now(): number },
  address: string,
  password: string,
): Promise<{ secret: string; recoveryCodes: string[]; done: LightMyRequestResponse }> {
  let secret = '';
  const r = await registerThroughPages(b, address, password, { kind: 'totp' }, async () => {
    secret = secretFrom((await b.get('/signin/mfa')).body);
    return oathtoolTotp(secret, clock.now());
  });
  return { secret, ...r };
}

/** Registers an authenticator app through the pages in a browser of its own (registerTotpAtSignIn); returns its secret. */
export async function registerTotpThroughPages(
  w: World,
  clock: { now(): number },
  address: string,
  password: string,
): Promise<string> {
  return (await registerTotpAtSignIn(new Browser(w.app), clock, address, password)).secret;
}
