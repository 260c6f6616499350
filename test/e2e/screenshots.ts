/**
 * Makes the screenshots in docs/images/ (not a test): the real CLI sets up a SQLite store in a
 * temporary folder with a few users, the real server listens on a free loopback port, Debian's
 * Chromium makes a couple of failed sign-ins (so the sign-in log has rows), signs in as the admin
 * and saves 1280x800 PNGs of the sign-in page, the Users page and the Sign-in log. Everything it
 * started is stopped and the temporary folder removed, whatever happens.
 *
 *   npx tsc -p . && node dist/test/e2e/screenshots.js
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** The compiled file is dist/test/e2e/screenshots.js: the repository is three levels up. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OUT = path.join(ROOT, 'docs/images');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VIEWPORT = { width: 1280, height: 800 };

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const USERS = [
  { address: 'bob@contoso.test', name: 'Bob Builder', password: 'quiet-meadow-copper-77' },
  { address: 'carol@contoso.test', name: 'Carol Chen', password: 'amber-glacier-tunnel-19' },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function sesame(env: NodeJS.ProcessEnv, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sesame.js', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`sesame ${args.join(' ')} exited with ${code ?? signal}:\n${out}`));
    });
    child.stdin.end(stdin ?? '');
  });
}

async function stopProcess(child: ChildProcess | undefined, ms = 5_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms)))]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function waitForHealth(base: string, server: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`the server exited early (${server.exitCode ?? server.signalCode}):\n${output()}`);
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server did not answer ${base}/healthz within 15 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function signIn(page: Page, address: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForLoadState('load');
}

async function shoot(page: Page, name: string): Promise<void> {
  const file = path.join(OUT, name);
  await page.screenshot({ path: file, fullPage: false });
  console.log(`wrote ${path.relative(ROOT, file)}`);
}

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found. Install it with: sudo apt-get install chromium`);
  const mainJs = path.join(ROOT, 'dist/src/main.js');
  if (!fs.existsSync(mainJs)) throw new Error(`${mainJs} not found: build first with \`npx tsc -p .\``);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-shots-'));
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  const killServer = () => server?.kill('SIGKILL');
  process.once('exit', killServer);
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: '',
      SESAME_PUBLIC_URL: base,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };

    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(env, ['user', 'add', ADMIN.address, '--name', ADMIN.name, '--admin', '--password-stdin'], `${ADMIN.password}\n`);
    for (const u of USERS) await sesame(env, ['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
    await sesame(env, ['user', 'add', 'dan@contoso.test', '--name', 'Dan Dekker']); // no password yet: gets a link
    await sesame(env, ['user', 'disable', 'carol@contoso.test']);

    let serverOutput = '';
    server = spawn(process.execPath, [mainJs], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    await waitForHealth(base, server, () => serverOutput);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
    fs.mkdirSync(OUT, { recursive: true });

    // The sign-in page as a first-time visitor sees it.
    const visitor = await browser.newContext({ locale: 'en-US', baseURL: base, viewport: VIEWPORT });
    visitor.setDefaultTimeout(10_000);
    const vp = await visitor.newPage();
    await vp.goto('/signin');
    await vp.getByLabel('Email').waitFor();
    await shoot(vp, 'signin.png');

    // Rows for the sign-in log: a wrong password, an unknown address, a disabled account, a success.
    await signIn(vp, USERS[0]!.address, 'not-my-password-1');
    await signIn(vp, 'mallory@contoso.test', 'guess-guess-guess');
    await signIn(vp, USERS[1]!.address, USERS[1]!.password);
    await signIn(vp, USERS[0]!.address, USERS[0]!.password);
    await visitor.close();

    const admin = await browser.newContext({ locale: 'en-US', baseURL: base, viewport: VIEWPORT });
    admin.setDefaultTimeout(10_000);
    const ap = await admin.newPage();
    await signIn(ap, ADMIN.address, ADMIN.password);
    if (new URL(ap.url()).pathname !== '/account') throw new Error(`signing in as the admin ended on ${ap.url()}`);
    await ap.getByRole('link', { name: 'Users', exact: true }).click();
    await ap.waitForURL(`${base}/admin/users`);
    await ap.locator('table').waitFor();
    await shoot(ap, 'users.png');
    await ap.getByRole('link', { name: 'Sign-in log', exact: true }).click();
    await ap.waitForURL(`${base}/admin/sign-ins`);
    await ap.locator('table').waitFor();
    await shoot(ap, 'signin-log.png');
    await admin.close();
  } finally {
    try {
      await browser?.close();
    } finally {
      await stopProcess(server);
      process.removeListener('exit', killServer);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
