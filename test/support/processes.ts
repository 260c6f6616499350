/**
 * The processes the end-to-end tests start: the real CLI (`node bin/sesame.js`), the real server
 * (`node dist/src/main.js`, ready once /healthz answers 200) and Debian's Chromium through
 * playwright-core. Each test file keeps its own data folder, environment and users; this module only
 * starts and stops things.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

/** The compiled file is dist/test/support/processes.js: the repository is three levels up. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MAIN_JS = path.join(ROOT, 'dist/src/main.js');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * `n` distinct free loopback ports, all held open at once, then released. Chosen below the
 * kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default): a port the
 * kernel handed out would be free again between this check and the daemon's bind, for any
 * outgoing connection of the machine (a test's PostgreSQL or HTTP client) to take meanwhile.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports = new Set<number>();
  try {
    for (let tries = 0; servers.length < n; tries++) {
      if (tries > 50 * n) throw new Error(`no ${n} free loopback ports between 20000 and 32767`);
      const port = 20_000 + Math.floor(Math.random() * 12_768);
      if (ports.has(port)) continue;
      const s = net.createServer();
      const bound = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (!bound) continue;
      servers.push(s);
      ports.add(port);
    }
    return [...ports];
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** One free loopback port (see freePorts), let go for the server to take. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export interface CliOptions {
  /** Resolve with stdout alone (stderr then only appears in the error). By default both, as they came. */
  stdoutOnly?: boolean;
}

/** Runs `node bin/sesame.js ...args` (optionally feeding stdin); fails with its output unless it exits 0. */
export function runSesameCli(
  env: NodeJS.ProcessEnv,
  args: string[],
  stdin?: string,
  options: CliOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sesame.js', ...args], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let all = '';
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      all += d.toString();
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      all += d.toString();
      err += d.toString();
    });
    // Bounds a hung command; generous, since three test files share two cores (a start alone is ~1 s).
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(options.stdoutOnly ? out : all);
      else
        reject(
          new Error(`sesame ${args.join(' ')} exited with ${code ?? signal}:\n${options.stdoutOnly ? out + err : all}`),
        );
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Sends SIGTERM and waits for the process to exit; SIGKILL if it has not within `ms`. */
export async function stopProcess(child: ChildProcess | undefined, ms = 5_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms))),
  ]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Fails with the build hint unless the server has been compiled. */
export function requireBuild(): void {
  if (!fs.existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} not found: build first with \`npx tsc -p .\``);
}

export interface StartedServer {
  child: ChildProcess;
  /** http://HOST:PORT, as the server listens (what /healthz was polled on). */
  base: string;
  /** Everything the server wrote so far, stdout and stderr as they came. */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and drops the exit safeguard. */
  stop(): Promise<void>;
}

/**
 * Starts `node dist/src/main.js` with `env` (which must set HOST and PORT) and waits up to 15 s for
 * /healthz to answer 200. Should the test process die first, the server is killed with it. If the
 * server does not come up, it is stopped and the error carries its output.
 */
export async function startServer({
  env,
  pollMs = 100,
}: {
  env: NodeJS.ProcessEnv;
  pollMs?: number;
}): Promise<StartedServer> {
  requireBuild();
  if (!env.HOST || !env.PORT) throw new Error('startServer: env must set HOST and PORT');
  const base = `http://${env.HOST}:${env.PORT}`;
  let serverOutput = '';
  const child = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Last line of defence should the runner die before `stop`: never leave the server behind.
  const killServer = () => child.kill('SIGKILL');
  process.once('exit', killServer);
  child.stdout!.on('data', (d: Buffer) => (serverOutput += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (serverOutput += d.toString()));
  const server: StartedServer = {
    child,
    base,
    output: () => serverOutput,
    stop: async () => {
      await stopProcess(child);
      process.removeListener('exit', killServer);
    },
  };
  try {
    // A start takes 1-3 s; under three test files at once on two cores it has taken over 15 s.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the server exited early (${child.exitCode ?? child.signalCode}):\n${serverOutput}`);
      try {
        const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1_000) });
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`the server did not answer ${base}/healthz within 60 s:\n${serverOutput}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/** Fails with the install hint unless Debian's Chromium is there. */
export function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: these tests need Debian's Chromium. Install it with: sudo apt-get install chromium`,
    );
  }
}

/** Launches Debian's Chromium headless (fails with the install hint if it is missing). */
export async function launchChromium(): Promise<Browser> {
  requireChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * The environment of a real server and CLI for an e2e test: SQLite in `dataDir` whatever the
 * caller's environment says, listening on 127.0.0.1:`port`, quiet logs; `extra` adds or overrides.
 */
export function serverEnv(dataDir: string, port: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SESAME_DATA_DIR: dataDir,
    DATABASE_URL: '',
    SESAME_PUBLIC_URL: `http://127.0.0.1:${port}`,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    // One serving process, a documented setting: with the default (one worker per core) every
    // server a test starts is three processes, and the suite ran ~60 % longer for it. The workers
    // themselves are tested in test/production/workers.test.ts, and the README's paths run with the
    // default (SHIPPED_WORKERS).
    SESAME_WORKERS: '1',
    ...extra,
  };
}

/** SESAME_WORKERS as `npm start` runs it (one worker per core), for the tests of the README's own paths. */
export const SHIPPED_WORKERS = String(availableParallelism());

/** The same, with email and text going to a development outbox file instead of SMTP or a gateway. */
export function outboxEnv(
  dataDir: string,
  port: number,
  outbox: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return serverEnv(dataDir, port, {
    SESAME_MODE: 'development',
    SESAME_SMTP_URL: '',
    SESAME_SMS_WEBHOOK_URL: '',
    SESAME_DEV_OUTBOX: outbox,
    ...extra,
  });
}

/** Closes browser contexts and the browser, then stops the server and removes the data folder, whatever fails. */
export async function teardown(p: {
  contexts?: Iterable<{ close(): Promise<void> }>;
  browser?: { close(): Promise<void> };
  server?: { stop(): Promise<void> };
  dataDir?: string;
}): Promise<void> {
  try {
    for (const c of p.contexts ?? []) await c.close().catch(() => {});
    await p.browser?.close();
  } finally {
    await p.server?.stop();
    if (p.dataDir) fs.rmSync(p.dataDir, { recursive: true, force: true });
  }
}
