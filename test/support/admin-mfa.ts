/**
 * Admins need MFA (checklist 36): an admin's sign-in always asks for a second factor, and admin
 * pages and API routes refuse a session without one. These helpers sign an admin in the way a
 * person would, over the real pages or the JSON API, in-process (inject) or against a running
 * server:
 *
 *   - the first sign-in of an admin on a server registers an authenticator app (password ->
 *     "Set it up now" -> authenticator app -> code from oathtool -> Next -> recovery codes -> Done);
 *   - later ones answer the second step with the next TOTP code not used yet, or, when the codes
 *     of the current 30-second steps are used up (a replayed step is refused), with one of the
 *     recovery codes shown at registration.
 *
 * What an admin registered is remembered per server (the Fastify app, or the base URL) and address;
 * a server that has not seen the admin yet but asks for a second factor is taken to share its store
 * with the server where the admin registered last (several instances on one PostgreSQL). A server
 * that asks the admin to register instead (a fresh store: another world, or a new server on a base
 * URL used before) gets a registration of its own, whatever was remembered.
 * Every helper fails the test when the server does not ask for the second factor.
 *
 *     const b = new Browser(w.app);
 *     await signInAdminWithMfa(b, ADMIN);                          // web pages, lands on /account
 *     const token = await adminApiToken(w.app, ADMIN);             // JSON API (inject)
 *     const token2 = await adminApiToken(probe.base, ADMIN);       // JSON API of a running server
 *     const { code } = adminSecondFactor(probe.base, ADMIN.address); // for a real browser's form
 */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { FetchBrowser, FetchAnswer } from './fetch-browser.js';
import { call, registerTotpWith, type JsonCall } from './probes.js';
import { Browser, oathtoolTotp, recoveryCodesFrom, secretFrom } from './world.js';

export interface AdminCredentials {
  address: string;
  password: string;
}

/** The server's clock, when a test moves it (FakeClock); else the real time. */
export interface AdminSignInOptions {
  clock?: { now(): number };
}

/** What an admin registered on one server. */
interface Enrolled {
  secret: string;
  /** The last TOTP step used: the server refuses it and any earlier one. */
  lastStep: number;
  recoveryCodes: string[];
}

const STEP_MS = 30_000;
const byApp = new WeakMap<FastifyInstance, Map<string, Enrolled>>();
const byBase = new Map<string, Map<string, Enrolled>>();
/** The last registration of each address, on any server. */
const lastByAddress = new Map<string, Enrolled>();

type Server = FastifyInstance | string;

function enrolments(server: Server): Map<string, Enrolled> {
  if (typeof server === 'string') {
    if (!byBase.has(server)) byBase.set(server, new Map());
    return byBase.get(server)!;
  }
  if (!byApp.has(server)) byApp.set(server, new Map());
  return byApp.get(server)!;
}

/** What `address` registered on `server`, or on another server on the same store. */
function enrolmentOf(server: Server, address: string): Enrolled | undefined {
  const known = enrolments(server);
  if (!known.has(address) && lastByAddress.has(address)) known.set(address, lastByAddress.get(address)!);
  return known.get(address);
}

function remember(server: Server, address: string, e: Enrolled) {
  enrolments(server).set(address, e);
  lastByAddress.set(address, e);
}

/** The JSON API of `server`, over inject() or fetch. */
function jsonCall(server: Server): JsonCall {
  if (typeof server === 'string') return (method, url, body, headers) => call(server, method, url, body, headers);
  return async (method, url, body, headers = {}) => {
    const res = await server.inject({ method: method as 'GET', url, payload: body as object | undefined, headers });
    const json =
      (res.headers['content-type'] ?? '').toString().includes('json') && res.body
        ? (JSON.parse(res.body) as Record<string, unknown>)
        : {};
    return { status: res.statusCode, body: json, text: res.body };
  };
}

/**
 * The answer to the second step: the TOTP code of the first step after the last one used, as long
 * as that step is the current or the next one (the server accepts ±1 step; a step in the past could
 * fall out of that window before the request arrives), else a recovery code.
 */
function nextAnswer(e: Enrolled, now: number): { code: string; recovery: boolean } {
  const current = Math.floor(now / STEP_MS);
  const step = Math.max(e.lastStep + 1, current);
  if (step <= current + 1) {
    e.lastStep = step;
    return { code: oathtoolTotp(e.secret, step * STEP_MS), recovery: false };
  }
  const code = e.recoveryCodes.shift();
  assert.ok(
    code,
    'signInAdminWithMfa: every TOTP step and recovery code of this admin is used up; sign in less often or wait 30 s',
  );
  return { code, recovery: true };
}

/**
 * The answer to an admin's second step on `server`, for clients these helpers do not drive (a real
 * browser): the next TOTP code, or a recovery code (`recovery`: choose "Sign in another way" first).
 * The admin must have registered through adminApiToken() or signInAdminWithMfa() on this store.
 */
export function adminSecondFactor(
  server: Server,
  address: string,
  opts: AdminSignInOptions = {},
): { code: string; recovery: boolean } {
  const enrolled = enrolmentOf(server, address);
  assert.ok(enrolled, `admin ${address} has registered no second factor through these helpers`);
  return nextAnswer(enrolled, (opts.clock ?? Date).now());
}

/**
 * Signs an admin in on the JSON API with their password and a second factor (registering an
 * authenticator app at the first sign-in) and returns the session token.
 */
export async function adminApiToken(
  server: Server,
  admin: AdminCredentials,
  opts: AdminSignInOptions = {},
): Promise<string> {
  const clock = opts.clock ?? Date;
  const api = jsonCall(server);
  const register = async () => {
    const r = await registerTotpWith(api, admin.address, admin.password, clock);
    remember(server, admin.address, { secret: r.secret, lastStep: r.step, recoveryCodes: [...r.recoveryCodes] });
    return r.token;
  };
  const enrolled = enrolmentOf(server, admin.address);
  if (!enrolled) return register();
  const start = await api('POST', '/api/v1/sessions', { email: admin.address, password: admin.password });
  assert.equal(start.status, 200, `API sign-in of admin ${admin.address} must ask for a second factor: ${start.text}`);
  // Asked to register: what was remembered belongs to another store, this one has no method for the admin yet.
  if (start.body.state === 'more_info_required') return register();
  assert.equal(start.body.state, 'second_factor', start.text);
  const flow = { 'x-sesame-flow': start.body.token as string };
  const answer = nextAnswer(enrolled, clock.now());
  if (answer.recovery)
    assert.equal((await api('POST', '/api/v1/flow/switch', { method: 'recovery' }, flow)).status, 200);
  const done = await api('POST', '/api/v1/flow/verify', { code: answer.code }, flow);
  assert.equal(done.status, 201, `second step of admin ${admin.address}: ${done.text}`);
  return done.body.token as string;
}

type AnyBrowser = Browser | FetchBrowser;
interface PageAnswer {
  status: number;
  body: string;
  location: string | undefined;
}

async function page(p: Promise<FetchAnswer | Awaited<ReturnType<Browser['get']>>>): Promise<PageAnswer> {
  const r = await p;
  if ('statusCode' in r)
    return { status: r.statusCode, body: r.body, location: r.headers.location as string | undefined };
  return { status: r.status, body: r.body, location: r.headers.get('location') ?? undefined };
}

/**
 * Signs an admin in through the sign-in page and the second step (registering an authenticator app
 * at the first sign-in), in the browser `b`, and returns the last answer: the redirect to `next`
 * (default /account), with the session cookie set in `b`.
 */
export async function signInAdminWithMfa(
  b: AnyBrowser,
  admin: AdminCredentials,
  opts: AdminSignInOptions & { next?: string } = {},
): Promise<PageAnswer> {
  const clock = opts.clock ?? Date;
  const server: Server = b instanceof Browser ? b.app : b.base;
  const pageUrl = opts.next ? `/signin?next=${encodeURIComponent(opts.next)}` : '/signin';
  const first = await page(
    b.submit(pageUrl, '/signin', {
      email: admin.address,
      password: admin.password,
      ...(opts.next ? { next: opts.next } : {}),
    }),
  );
  assert.equal(
    first.location,
    '/signin/mfa',
    `web sign-in of admin ${admin.address} must ask for a second factor: ${first.status} ${first.body.slice(0, 300)}`,
  );
  const mfa = '/signin/mfa';
  const step = await page(b.get(mfa));
  if (step.body.includes(`action="${mfa}/setup"`)) {
    // No method yet: the registration of the sign-in flow, as in test/support/world.ts registerTotpThroughPages.
    await b.submit(mfa, `${mfa}/setup`, {});
    await b.submit(mfa, `${mfa}/method`, { kind: 'totp' });
    const secret = secretFrom((await page(b.get(mfa))).body);
    const now = clock.now();
    const verified = await page(b.submit(mfa, `${mfa}/verify`, { code: oathtoolTotp(secret, now) }));
    assert.equal(verified.status, 303, `enrolment code of admin ${admin.address}: ${verified.body.slice(0, 300)}`);
    let codes: string[] = [];
    for (let i = 0; i < 2 && codes.length === 0; i++) {
      await b.submit(mfa, `${mfa}/next`, {});
      codes = recoveryCodesFrom((await page(b.get(mfa))).body);
    }
    assert.ok(codes.length > 0, `admin ${admin.address} was shown no recovery codes`);
    remember(server, admin.address, { secret, lastStep: Math.floor(now / STEP_MS), recoveryCodes: codes });
    const done = await page(b.submit(mfa, `${mfa}/done`, {}));
    assert.equal(done.status, 303, `end of registration of admin ${admin.address}`);
    return done;
  }
  const enrolled = enrolmentOf(server, admin.address);
  assert.ok(
    enrolled,
    `admin ${admin.address} has a second factor this helper did not register (use signInAdminWithMfa from the start)`,
  );
  const answer = nextAnswer(enrolled, clock.now());
  if (answer.recovery) assert.equal((await page(b.submit(mfa, `${mfa}/switch`, { method: 'recovery' }))).status, 303);
  const done = await page(b.submit(mfa, `${mfa}/verify`, { code: answer.code }));
  assert.equal(done.status, 303, `second step of admin ${admin.address}: ${done.body.slice(0, 300)}`);
  assert.notEqual(done.location, mfa, `second step of admin ${admin.address} did not end the sign-in`);
  return done;
}
