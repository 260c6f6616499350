/**
 * End to end in a real browser: the real CLI sets up a SQLite store in a temporary folder, the
 * real server (`node dist/src/main.js`) listens on a free loopback port, and Debian's Chromium,
 * driven by playwright-core, signs in and out in English and Dutch, uses the visible language
 * switch, and sees the generic message for a wrong password. Every process started here is
 * stopped in `after`, whether the tests pass or not.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** The compiled file is dist/test/e2e/browser.test.js: the repository is three levels up. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const SESSION_COOKIE = 'sesame_session';

/** Asks the kernel for a free port on loopback, then lets it go for the server to take. */
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

/** Runs `node bin/sesame.js ...args` (optionally feeding stdin); fails with its output unless it exits 0. */
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

/** Sends SIGTERM and waits for the process to exit; SIGKILL if it has not within `ms`. */
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

describe('the web pages in Chromium (real CLI, real server)', () => {
  let dataDir: string | undefined;
  let server: ChildProcess | undefined;
  let serverOutput = '';
  let browser: Browser | undefined;
  let base = '';
  const contexts = new Set<BrowserContext>();
  // Last line of defence should the runner die before `after`: never leave the server behind.
  const killServer = () => server?.kill('SIGKILL');
  process.once('exit', killServer);

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: these tests need Debian's Chromium. Install it with: sudo apt-get install chromium`);
    }
    const mainJs = path.join(ROOT, 'dist/src/main.js');
    if (!fs.existsSync(mainJs)) throw new Error(`${mainJs} not found: build first with \`npx tsc -p .\``);

    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-e2e-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: '', // SQLite in the data folder, whatever the caller's environment says
      SESAME_PUBLIC_URL: base,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };

    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(env, ['user', 'add', ADMIN.address, '--name', ADMIN.name, '--admin', '--password-stdin'], `${ADMIN.password}\n`);

    server = spawn(process.execPath, [mainJs], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (server.exitCode !== null || server.signalCode !== null) throw new Error(`the server exited early (${server.exitCode ?? server.signalCode}):\n${serverOutput}`);
      try {
        const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1_000) });
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the server did not answer ${base}/healthz within 15 s:\n${serverOutput}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
    } finally {
      await stopProcess(server);
      process.removeListener('exit', killServer);
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  /** A fresh browser profile (own cookies) in `locale`, which also sets Accept-Language. */
  async function open(locale: string): Promise<{ context: BrowserContext; page: Page }> {
    assert.ok(browser, 'the browser did not start');
    const context = await browser.newContext({ locale, baseURL: base });
    contexts.add(context);
    context.setDefaultTimeout(5_000);
    const page = await context.newPage();
    return { context, page };
  }

  async function close(context: BrowserContext) {
    contexts.delete(context);
    await context.close();
  }

  const pathOf = (page: Page) => new URL(page.url()).pathname;
  const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim();

  it('signs in and out in English, and the session is gone on the server afterwards', async () => {
    const { context, page } = await open('en-US');
    try {
      await page.goto('/signin');
      assert.equal(await page.locator('html').getAttribute('lang'), 'en');
      await page.getByLabel('Email').fill(ADMIN.address);
      await page.getByLabel('Password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(`${base}/account`);
      assert.equal(await text(page, '#account-name'), ADMIN.name);
      assert.equal(await text(page, '#account-org'), 'Contoso');

      const session = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
      assert.ok(session, 'signing in set the session cookie');
      assert.equal(session.httpOnly, true);

      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/signin?m=signedout`);
      assert.equal((await page.getByRole('status').textContent())?.trim(), 'You have signed out.');
      await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
      assert.equal((await context.cookies()).find((c) => c.name === SESSION_COOKIE), undefined, 'sign-out cleared the cookie');

      await page.goto('/account');
      assert.equal(pathOf(page), '/signin');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/account');

      // Replay the old cookie in a fresh profile: the server must have ended that session.
      const { context: replay, page: replayPage } = await open('en-US');
      try {
        await replay.addCookies([session]);
        await replayPage.goto('/account');
        assert.equal(pathOf(replayPage), '/signin', 'the old session cookie no longer opens My account');
        assert.equal(new URL(replayPage.url()).searchParams.get('m'), 'expired');
      } finally {
        await close(replay);
      }
    } finally {
      await close(context);
    }
  });

  it('signs in and out in Dutch when the browser asks for Dutch', async () => {
    const { context, page } = await open('nl-NL');
    try {
      await page.goto('/signin');
      assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
      await page.getByLabel('E-mail').fill(ADMIN.address);
      await page.getByLabel('Wachtwoord').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Aanmelden', exact: true }).click();
      await page.waitForURL(`${base}/account`);
      assert.equal((await page.getByRole('heading', { level: 1 }).textContent())?.trim(), 'Mijn account');
      assert.equal(await text(page, '#account-name'), ADMIN.name);

      await page.getByRole('button', { name: 'Afmelden', exact: true }).click();
      await page.waitForURL(`${base}/signin?m=signedout`);
      assert.equal((await page.getByRole('status').textContent())?.trim(), 'U bent afgemeld.');
      await page.goto('/account');
      assert.equal(pathOf(page), '/signin');
    } finally {
      await close(context);
    }
  });

  it('switches an English sign-in page to Dutch with the Nederlands button', async () => {
    const { context, page } = await open('en-US');
    try {
      await page.goto('/signin');
      await page.getByLabel('Email').waitFor();
      assert.equal(await page.getByRole('button', { name: 'English', exact: true }).getAttribute('aria-current'), 'true');

      await page.getByRole('button', { name: 'Nederlands', exact: true }).click();
      // Same URL before and after, so wait for the page itself to change language.
      await page.locator('html[lang="nl"]').waitFor({ state: 'attached' });
      assert.equal(pathOf(page), '/signin');
      await page.getByLabel('E-mail').waitFor();
      await page.getByLabel('Wachtwoord').waitFor();
      await page.getByRole('button', { name: 'Aanmelden', exact: true }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Nederlands', exact: true }).getAttribute('aria-current'), 'true');
      assert.equal(await page.getByRole('button', { name: 'English', exact: true }).getAttribute('aria-current'), null);

      // The choice is remembered over the browser's English Accept-Language.
      await page.reload();
      assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
    } finally {
      await close(context);
    }
  });

  it('shows the generic message for a wrong password and stays on the sign-in page', async () => {
    const { context, page } = await open('en-US');
    try {
      await page.goto('/signin');
      await page.getByLabel('Email').fill(ADMIN.address);
      await page.getByLabel('Password').fill('not-the-right-password-1');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal((await alert.textContent())?.trim(), 'Your account or password is incorrect.');
      assert.equal(pathOf(page), '/signin');
      assert.equal(await page.getByLabel('Email').inputValue(), ADMIN.address, 'the address typed is kept');
      assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not sent back');
      assert.equal((await context.cookies()).find((c) => c.name === SESSION_COOKIE), undefined);
    } finally {
      await close(context);
    }
  });
});
