/**
 * What the black-box probes (test/security/probes-*.test.ts) share: a real server started on its
 * own data folder after the store was filled in-process (createContext, then closed: the server
 * never shares a process with the test), and clients that speak to it only over HTTP: the JSON
 * API, a browser with a cookie jar (fetch-browser.ts), the legacy endpoints, and raw bytes on a
 * socket for requests fetch refuses to send (CR/LF in a header).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createContext, type AppContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import type { FetchBrowser, FetchAnswer } from './fetch-browser.js';
import { freePort, outboxEnv, startServer, type StartedServer } from './processes.js';
import { oathtoolTotp } from './world.js';

export { oathtoolTotp };

export interface ProbeServer {
  server: StartedServer;
  base: string;
  port: number;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/**
 * Makes a data folder, runs `setup` on a context over it (organizations, users, integration keys:
 * what an operator would do with the CLI), closes that context, and only then starts the real
 * server on it. `extraEnv` tunes the server (limits, log level, a shared PostgreSQL store).
 */
export async function startProbeServer<T>(
  name: string,
  extraEnv: NodeJS.ProcessEnv,
  setup: (ctx: AppContext) => Promise<T>,
): Promise<{ probe: ProbeServer; setupResult: T }> {
  return startInstance(name, extraEnv, setup);
}

/**
 * Starts one more real server (another instance), on a data folder of its own; `extraEnv` points it
 * at a shared store. With `setup`, that runs first, as in startProbeServer.
 */
export async function startInstance<T = undefined>(
  name: string,
  extraEnv: NodeJS.ProcessEnv,
  setup?: (ctx: AppContext) => Promise<T>,
): Promise<{ probe: ProbeServer; setupResult: T }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `sesame-probe-${name}-`));
  const port = await freePort();
  const env = outboxEnv(dataDir, port, path.join(dataDir, 'outbox.jsonl'), extraEnv);
  let setupResult = undefined as T;
  let server: StartedServer;
  try {
    if (setup) {
      // Keys given in the environment (instances sharing a PostgreSQL store) must be the setup's
      // too: createContext reads keys from the process's own environment, not from `env`.
      const key = (k: string) => (env[k] ? Buffer.from(env[k]!, 'base64') : undefined);
      const [hashKey, cookieKey, encryptionKey] = [
        key('SESAME_HASH_KEY'),
        key('SESAME_COOKIE_KEY'),
        key('SESAME_ENCRYPTION_KEY'),
      ];
      const ctx = await createContext(
        loadConfig(env),
        hashKey && cookieKey && encryptionKey ? { secrets: { hashKey, cookieKey, encryptionKey } } : {},
      );
      try {
        setupResult = await setup(ctx);
      } finally {
        await ctx.close();
      }
    }
    server = await startServer({ env });
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    setupResult,
    probe: {
      server,
      base: server.base,
      port,
      dataDir,
      env,
      async stop() {
        try {
          await server.stop();
        } finally {
          fs.rmSync(dataDir, { recursive: true, force: true });
        }
      },
    },
  };
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/** One JSON API (or legacy endpoint) call; a JSON body is sent as JSON, and the answer parsed when it is JSON. */
export async function call(
  base: string,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}${url}`, {
    method,
    redirect: 'manual',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  if (text && (res.headers.get('content-type') ?? '').includes('json'))
    parsed = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** Signs in on the JSON API with the password alone (MFA off); fails the test unless a session token comes back. */
export async function apiToken(base: string, email: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/api/v1/sessions', { email, password });
  assert.equal(r.status, 201, `API sign-in of ${email}: ${r.text}`);
  return r.body.token as string;
}

export interface Registered {
  secret: string;
  /** The session token the registration ended in (its second factor is fresh). */
  token: string;
  recoveryCodes: string[];
  /** The app password the registration's last step made, when the policy allows them. */
  appPassword?: string;
  /** The TOTP step the enrolment code was taken from (accepted steps must come after it). */
  step: number;
}

/**
 * Registers an authenticator app for a user whose MFA is `enabled`, through the JSON API flow
 * exactly as a client would: password -> setup -> method totp -> verify (oathtool) -> next -> next -> done.
 */
export async function registerTotp(base: string, email: string, password: string): Promise<Registered> {
  return registerTotpWith((method, url, body, headers) => call(base, method, url, body, headers), email, password);
}

/** A JSON API call: `call` bound to a running server, or the same over inject() (test/support/admin-mfa.ts). */
export type JsonCall = (
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<Pick<Answer, 'status' | 'body' | 'text'>>;

/** registerTotp() over any JSON transport; `clock` is the server's (a test's fake clock). */
export async function registerTotpWith(
  call: JsonCall,
  email: string,
  password: string,
  clock: { now(): number } = Date,
): Promise<Registered> {
  const start = await call('POST', '/api/v1/sessions', { email, password });
  assert.equal(start.status, 200, start.text);
  assert.equal(start.body.state, 'more_info_required');
  const flow = { 'x-sesame-flow': start.body.token as string };
  assert.equal((await call('POST', '/api/v1/flow/setup', {}, flow)).body.state, 'choose_method');
  const enrol = await call('POST', '/api/v1/flow/method', { kind: 'totp' }, flow);
  assert.equal(enrol.body.state, 'verify_enrolment', enrol.text);
  const secret = (enrol.body.prompt as { secret: string }).secret;
  const now = clock.now();
  const verified = await call('POST', '/api/v1/flow/verify', { code: oathtoolTotp(secret, now) }, flow);
  assert.equal(verified.body.state, 'enrolled', verified.text);
  let step = await call('POST', '/api/v1/flow/next', {}, flow);
  let appPassword: string | undefined;
  if (step.body.state === 'app_password') {
    appPassword = (step.body.appPassword as { password: string }).password;
    step = await call('POST', '/api/v1/flow/next', {}, flow);
  }
  assert.equal(step.body.state, 'recovery_codes', step.text);
  const recoveryCodes = step.body.recoveryCodes as string[];
  const done = await call('POST', '/api/v1/flow/done', {}, flow);
  assert.equal(done.status, 201, done.text);
  return { secret, token: done.body.token as string, recoveryCodes, appPassword, step: Math.floor(now / 30_000) };
}

/** A second-factor flow token from the JSON API (the user has a method registered). */
export async function secondFactorFlow(base: string, email: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/api/v1/sessions', { email, password });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.state, 'second_factor');
  return r.body.token as string;
}

/** Signs a browser in with the password and a recovery code (the web pages' "Sign in another way"). */
export async function webSignInWithRecovery(
  b: FetchBrowser,
  email: string,
  password: string,
  code: string,
  next?: string,
): Promise<FetchAnswer> {
  const page = await b.get(next ? `/signin?next=${encodeURIComponent(next)}` : '/signin');
  const csrf = csrfOf(page.body);
  const first = await b.request('/signin', form({ _csrf: csrf, email, password, ...(next ? { next } : {}) }));
  assert.equal(first.headers.get('location'), '/signin/mfa', `password step of ${email}: ${first.status}`);
  const sw = await b.submit('/signin/mfa', '/signin/mfa/switch', { method: 'recovery' });
  assert.equal(sw.status, 303);
  return b.submit('/signin/mfa', '/signin/mfa/verify', { code });
}

/** Signs a browser in with the password alone (MFA off) and checks it landed. */
export async function webSignIn(b: FetchBrowser, email: string, password: string): Promise<void> {
  const r = await b.signIn(email, password);
  assert.equal(r.status, 303, `web sign-in of ${email}: ${r.status} ${r.body.slice(0, 200)}`);
  assert.notEqual(r.headers.get('location'), '/signin/mfa');
}

/** A form POST as RequestInit. */
export function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  };
}

export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, 'no CSRF token on the page');
  return m[1]!;
}

export interface SignInRow {
  at: string;
  addressTyped: string;
  outcome: string;
  reason: string;
  protocol: string;
  ip: string;
  userAgent: string;
  appPasswordName?: string | null;
  /** Identical failures this row stands for (aggregated within a window); 1 for a single attempt. */
  count: number;
}

/** Counts attempts (a row's `count`) by a key: what `tally` counts by row. */
export function tallyAttempts(rows: SignInRow[], key: (r: SignInRow) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[key(r)] = (out[key(r)] ?? 0) + r.count;
  return out;
}

/** The organization's sign-in log as an admin reads it through the JSON API, newest first. */
export async function signInLog(base: string, adminToken: string): Promise<SignInRow[]> {
  const r = await call(base, 'GET', '/api/v1/sign-ins?limit=500', undefined, bearer(adminToken));
  assert.equal(r.status, 200, r.text);
  return r.body.events as SignInRow[];
}

/** Counts by a key. */
export function tally<T>(items: T[], key: (t: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[String(key(i))] = (out[String(key(i))] ?? 0) + 1;
  return out;
}

export interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/**
 * Sends `request` as raw bytes on a fresh socket and reads until the server closes it (the request
 * should say `Connection: close`). For what fetch refuses to send: CR, LF or NUL in a header.
 */
export function rawHttp(port: number, request: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // write(), not end(): Node's server drops a connection whose client half-closed it, answer or not.
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(request));
    s.setTimeout(15_000, () => s.destroy(new Error('raw request timed out')));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split === -1 ? '' : text.slice(split + 4) });
    });
  });
}

/** A same-site relative path: what a redirect after sign-in may be (checklist 34). */
export function isSameSitePath(location: string | null, base: string): boolean {
  if (!location) return false;
  if (!location.startsWith('/') || location.startsWith('//') || location.startsWith('/\\')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(location)) return false;
  return new URL(location, base).origin === new URL(base).origin;
}
