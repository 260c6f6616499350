/**
 * Several workers (issue #21 item 2): `npm start` with SESAME_WORKERS=2 on both stores. Requests are
 * answered by two worker processes on one port; a lockout counts the failures both saw; one scrape
 * of /metrics sums every worker's counts; the background jobs run in one worker; a killed worker is
 * replaced while the port keeps answering; SIGTERM stops every worker after it flushed its batched
 * sign-in log rows, and the primary exits 0. Which worker answered is read from the access log
 * lines (each carries its process id); nothing about the process is sent to clients.
 */
import { seenWithin } from '../support/propagation.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import {
  freePort,
  freePorts,
  MAIN_JS,
  ROOT,
  serverEnv,
  startServer,
  type StartedServer,
  runSesameCli,
} from '../support/processes.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const FAILURE_LIMIT = 4;
const METRICS_TOKEN = 'workers-test-metrics-token';
const OLD = 1000 * 86_400_000;

interface LogLine {
  pid: number;
  msg: string;
  req?: { url: string; userAgent?: string };
  [k: string]: unknown;
}

function logLines(output: string): LogLine[] {
  return output.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as LogLine];
    } catch {
      return [];
    }
  });
}

/** One request on a connection of its own (no keep-alive), so that the cluster hands each to a worker in turn. */
function hit(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  agent: http.Agent | false = false,
): Promise<{ status: number; body: string }> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** The process ids whose access log lines show a request with this user agent. */
function pidsOf(server: StartedServer, userAgent: (ua: string) => boolean): number[] {
  return logLines(server.output())
    .filter((l) => l.msg === 'incoming request' && l.req?.userAgent !== undefined && userAgent(l.req.userAgent))
    .map((l) => l.pid);
}

/**
 * Two kept-alive connections held by two different workers, with their process ids. The mail
 * endpoints log their requests only at warn, so which worker answers one of them is known from the
 * connection it goes over: a connection stays with the worker it was handed to.
 */
async function twoWorkerConnections(server: StartedServer, tag: string): Promise<{ agent: http.Agent; pid: number }[]> {
  const held = new Map<number, http.Agent>();
  for (let i = 0; held.size < 2; i++) {
    if (i >= 20) throw new Error('20 connections, all to one worker');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ua = `${tag}-probe-${i}`;
    assert.equal((await hit(server.base, '/healthz', { 'user-agent': ua }, agent)).status, 200);
    const pid = await waitFor(`the access line of ${ua}`, () => pidsOf(server, (u) => u === ua)[0]);
    if (held.has(pid)) agent.destroy();
    else held.set(pid, agent);
  }
  return [...held].map(([pid, agent]) => ({ agent, pid }));
}

async function waitFor<T>(what: string, f: () => T | undefined | false, ms = 30_000): Promise<T> {
  for (const deadline = Date.now() + ms; ; ) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The value of one series in a Prometheus text answer (0 when absent). */
function series(body: string, name: string, labels: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('SESAME_WORKERS: a setting that is not a whole number of at least 1', () => {
  for (const value of ['0', 'two', '-1', '1.5']) {
    it(`SESAME_WORKERS=${value} stops the start with a clear message and exit code 2`, async () => {
      const env = serverEnv('/nonexistent/sesame-workers-test', await freePort(), { SESAME_WORKERS: value });
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('exit', (c) => resolve({ code: c, output }));
      });
      assert.equal(code, 2, output);
      assert.match(
        output,
        new RegExp(`SESAME_WORKERS="${value.replace('.', '\\.')}" must be a whole number from 1 to`),
      );
    });
  }
});

describe('SESAME_WORKERS=2: a worker that cannot start', () => {
  it('stops the whole start with its exit code (a setting found bad in the workers: 2), leaving no process behind', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-workers-bad-'));
    try {
      const env = serverEnv(dataDir, await freePort(), {
        SESAME_WORKERS: '2',
        LOG_LEVEL: 'info',
        // Read by each worker as it builds its context, not by the primary.
        SESAME_PROFILE_SIGNING_CERT_FILE: '/nonexistent/sesame-cert.pem',
        SESAME_PROFILE_SIGNING_KEY_FILE: '/nonexistent/sesame-key.pem',
      });
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('exit', (c) => resolve({ code: c, output }));
      });
      assert.equal(code, 2, output);
      assert.match(output, /Profile signing: the certificate file \/nonexistent\/sesame-cert\.pem cannot be read/);
      const lines = logLines(output);
      const failed = lines.find((l) => l.msg === 'a worker could not start: stopping');
      assert.ok(failed, output);
      // Every worker it started has exited (the primary waited for them).
      const workers = new Set(lines.filter((l) => typeof l.worker === 'number').map((l) => l.worker as number));
      for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('SESAME_WORKERS=1', () => {
  it('is one process that serves, with no primary: it answers, runs the jobs and stops on SIGTERM with 0', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-workers-one-'));
    let server: StartedServer | undefined;
    try {
      server = await startServer({
        env: serverEnv(dataDir, await freePort(), { SESAME_WORKERS: '1', LOG_LEVEL: 'info' }),
      });
      const s = server;
      assert.equal((await hit(s.base, '/healthz', { 'user-agent': 'one-process' })).status, 200);
      const pids = await waitFor('the access line', () => {
        const p = pidsOf(s, (ua) => ua === 'one-process');
        return p.length > 0 && p;
      });
      assert.deepEqual(pids, [s.child.pid]);
      const lines = logLines(s.output());
      assert.ok(!lines.some((l) => l.msg === 'starting workers'), 'no primary');
      assert.deepEqual(
        lines.filter((l) => l.msg.startsWith('background jobs started')).map((l) => l.pid),
        [s.child.pid],
      );
      assert.match(s.output(), /No users yet/);
      const exited = new Promise<number | null>((resolve) => s.child.once('exit', (code) => resolve(code)));
      s.child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      await server?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

for (const kind of STORE_KINDS) {
  describe(`SESAME_WORKERS=2 on ${kind}`, () => {
    let store: TestStore;
    let server: StartedServer;
    let appPassword = '';
    const USER = 'wanda@workers.test';
    const LOCKED = 'lars@workers.test';
    const LOCKED_PASSWORD = 'granite-orchid-sail-12';
    const RITA = 'rita@workers.test';
    const ADMIN = { address: 'ada@workers.test', password: 'violet-harbour-lantern-42' };
    let ritaAppPassword = '';
    let monitor = '';

    before(async () => {
      store = await makeTestStore(kind);
      const ctx = await createContext(store.config());
      try {
        await ctx.accounts.addOrganization(OPERATOR, 'workers.test', 'Workers');
        const sweepOrg = await ctx.accounts.addOrganization(OPERATOR, 'sweep.test', 'Sweep');
        const users = [
          [USER, 'granite-orchid-sail-11'],
          [LOCKED, LOCKED_PASSWORD],
          ['carl@workers.test', 'granite-orchid-sail-14'],
          [RITA, 'granite-orchid-sail-15'],
          ['sam@sweep.test', 'granite-orchid-sail-13'],
        ] as const;
        for (const [address, password] of users) {
          await ctx.accounts.addUser(OPERATOR, { address, name: address.split('@')[0]!, password, role: 'user' });
          // Lars's MFA stays off: his main password works on the mail protocols until he is locked.
          if (address !== LOCKED) await ctx.mfaAdmin.setUserState(OPERATOR, address, 'enforced');
        }
        const session = async (address: string) => {
          const user = (await ctx.accounts.findUserByAddressOrNull(address))!;
          const s = await ctx.sessions.start(
            user.id,
            ['pwd', 'otp'],
            { ip: '127.0.0.1', userAgent: 'setup' },
            Date.now(),
          );
          return { user, session: s.session };
        };
        const meta = { ip: '127.0.0.1', locale: 'en' as const };
        await ctx.accounts.addUser(OPERATOR, { ...ADMIN, name: 'Ada', role: 'admin' });
        const r = await session(RITA);
        ritaAppPassword = (await ctx.appPasswords.create(r.user, r.session, 'Phone', meta)).password;
        const w = await session(USER);
        appPassword = (await ctx.appPasswords.create(w.user, w.session, 'Phone', meta)).password;
        // Two app passwords unused for long in an organization that revokes them after 30 days:
        // the sweep at start removes them, once, in one worker.
        await ctx.mfaAdmin.setPolicy(OPERATOR, sweepOrg.id, { appPasswords: { revokeUnusedDays: 30 } });
        const s = await session('sam@sweep.test');
        for (const name of ['Old laptop', 'Old phone']) await ctx.appPasswords.create(s.user, s.session, name, meta);
        await ctx.store.db
          .updateTable('app_passwords')
          .set({ created_at: Date.now() - OLD })
          .where('user_id', '=', s.user.id)
          .execute();
      } finally {
        await ctx.close();
      }
      const [port, metricsPort] = (await freePorts(2)) as [number, number];
      monitor = `http://127.0.0.1:${metricsPort}`;
      server = await startServer({
        env: serverEnv(store.dataDir, port, {
          DATABASE_URL: store.databaseUrl,
          SESAME_MODE: 'development',
          SESAME_WORKERS: '2',
          // The access log lines name the process that answered.
          LOG_LEVEL: 'info',
          SESAME_METRICS_TOKEN: METRICS_TOKEN,
          // The monitoring listener is shared by the workers too.
          SESAME_METRICS_PORT: String(metricsPort),
          SESAME_ACCOUNT_FAILURE_LIMIT: String(FAILURE_LIMIT),
          // One sign-in log row per attempt, found by its user agent.
          SESAME_SIGN_IN_AGGREGATION_MINUTES: '0',
        }),
      });
      await waitFor('both workers ready', () => logLines(server.output()).some((l) => l.msg === 'all workers ready'));
    });

    after(async () => {
      await server?.stop();
      await store?.dispose();
    });

    it('two worker processes answer on the one port, and the primary serves nothing', async () => {
      // Each worker writes its own lines: they may come after the primary's "all workers ready".
      await waitFor('two workers ready', () => {
        const ready = logLines(server.output()).filter((l) => l.msg === 'Sesame is ready');
        return new Set(ready.map((l) => l.pid)).size === 2;
      });
      for (let i = 0; i < 8; i++)
        assert.equal((await hit(server.base, '/healthz', { 'user-agent': `pid-test-${i}` })).status, 200);
      const pids = await waitFor('8 access lines', () => {
        const p = pidsOf(server, (ua) => ua.startsWith('pid-test-'));
        return p.length === 8 && p;
      });
      assert.equal(new Set(pids).size, 2, `answered by ${[...new Set(pids)].join(', ')}`);
      assert.ok(!pids.includes(server.child.pid!), 'the primary answers nothing');
    });

    it('the first-admin hint is not printed (users exist), and the background jobs ran in one worker only', async () => {
      const revoked = await waitFor('the sweep', () => {
        const r = logLines(server.output()).filter((l) => l.msg === 'unused app passwords revoked');
        return r.length > 0 && r;
      });
      // Give a second worker's sweep, were there one, the time to log too.
      await new Promise((r) => setTimeout(r, 1_000));
      const all = logLines(server.output()).filter((l) => l.msg === 'unused app passwords revoked');
      assert.equal(all.length, 1, JSON.stringify(all));
      assert.equal(revoked[0]!.revoked, 2);
      const started = logLines(server.output()).filter((l) => l.msg.startsWith('background jobs started'));
      assert.equal(started.length, 1, 'one worker runs the background jobs');
      assert.notEqual(started[0]!.pid, server.child.pid, 'a worker, not the primary');
      assert.equal(revoked[0]!.pid, started[0]!.pid);
      assert.doesNotMatch(server.output(), /No users yet/);
    });

    it('a lockout counts the failures every worker saw', async () => {
      const [a, b] = await twoWorkerConnections(server, 'lock');
      try {
        // The password works on both workers before.
        for (const w of [a!, b!])
          assert.equal((await hit(server.base, '/auth/basic', basic(LOCKED, LOCKED_PASSWORD), w.agent)).status, 200);
        // The limit's failures, half on each worker (distinct passwords: a repeated one is not counted again).
        for (let i = 0; i < FAILURE_LIMIT; i++) {
          const r = await hit(
            server.base,
            '/auth/basic',
            basic(LOCKED, `not-the-password-${i}`),
            [a!, b!][i % 2]!.agent,
          );
          assert.equal(r.status, 401);
        }
        // Locked now, on both workers, although each saw only half the limit: the right password is refused too.
        for (const w of [a!, b!])
          assert.equal(
            (await hit(server.base, '/auth/basic', basic(LOCKED, LOCKED_PASSWORD), w.agent)).status,
            401,
            `refused by worker ${w.pid}`,
          );
      } finally {
        a!.agent.destroy();
        b!.agent.destroy();
      }
    });

    it('a read of the sign-in log on one worker shows the attempts another worker has just answered', async () => {
      const token = await adminApiToken(server.base, ADMIN);
      const [a, b] = await twoWorkerConnections(server, 'read');
      try {
        const K = 5;
        for (let i = 0; i < K; i++)
          assert.equal((await hit(server.base, '/auth/basic', basic(RITA, ritaAppPassword), a!.agent)).status, 200);
        // At once, on the other worker: the first worker still holds the rows in its queue (0.1 s).
        const r = await hit(server.base, '/api/v1/sign-ins?limit=100', { authorization: `Bearer ${token}` }, b!.agent);
        assert.equal(r.status, 200, r.body);
        const events = (JSON.parse(r.body) as { events: { addressTyped: string }[] }).events;
        assert.equal(events.filter((e) => e.addressTyped === RITA).length, K);
      } finally {
        a!.agent.destroy();
        b!.agent.destroy();
      }
    });

    it("a user disabled by the CLI is refused by both workers, though each held the app password's answer in memory", async () => {
      const [a, b] = await twoWorkerConnections(server, 'cache');
      try {
        for (const w of [a!, b!])
          for (let i = 0; i < 2; i++)
            assert.equal((await hit(server.base, '/auth/basic', basic(USER, appPassword), w.agent)).status, 200);
        const env = {
          ...process.env,
          SESAME_DATA_DIR: store.dataDir,
          DATABASE_URL: store.databaseUrl,
          LOG_LEVEL: 'silent',
        };
        await runSesameCli(env, ['user', 'disable', USER]);
        for (const w of [a!, b!])
          await seenWithin(
            kind,
            `worker ${w.pid}`,
            async () => (await hit(server.base, '/auth/basic', basic(USER, appPassword), w.agent)).status,
            (status) => status === 401,
          );
        await runSesameCli(env, ['user', 'enable', USER]);
        for (const w of [a!, b!])
          await seenWithin(
            kind,
            `worker ${w.pid}, enabled`,
            async () => (await hit(server.base, '/auth/basic', basic(USER, appPassword), w.agent)).status,
            (status) => status === 200,
          );
      } finally {
        a!.agent.destroy();
        b!.agent.destroy();
      }
    });

    it('one scrape of /metrics sums the requests every worker answered', async () => {
      const auth = { authorization: `Bearer ${METRICS_TOKEN}` };
      const scrape = async () => {
        const r = await hit(monitor, '/metrics', auth);
        assert.equal(r.status, 200, r.body);
        return r.body;
      };
      const label = 'route="/healthz",method="GET",status="200"';
      const before = await scrape();
      const K = 10;
      for (let i = 0; i < K; i++) await hit(server.base, '/healthz', { 'user-agent': `metrics-test-${i}` });
      const pids = pidsOf(server, (ua) => ua.startsWith('metrics-test-'));
      assert.equal(new Set(pids).size, 2, 'the requests went to both workers');
      for (let n = 0; n < 2; n++) {
        // Two scrapes, whichever worker answers each: the same sums.
        const now = await scrape();
        assert.equal(
          series(now, 'sesame_http_requests_total', label) - series(before, 'sesame_http_requests_total', label),
          K,
        );
        const count = 'sesame_http_request_duration_seconds_count';
        assert.equal(
          series(now, count, 'route="/healthz",method="GET"') - series(before, count, 'route="/healthz",method="GET"'),
          K,
        );
        // Store connections are summed (each worker has its own); the process metrics are there too.
        const connections = Number(/^sesame_store_connections (\d+)$/m.exec(now)?.[1]);
        if (kind === 'sqlite') assert.ok(connections >= 4, `${connections} SQLite connections: two or more per worker`);
        else assert.ok(connections >= 0, 'the pool size is there');
        assert.match(now, /^process_resident_memory_bytes \d/m);
      }
    });

    it('writes from both workers at once wait for each other: no attempt is answered "temporary"', async () => {
      // Good app passwords (last-used times, sign-in log, the address table) and wrong passwords
      // (the lockout counters) at once, on new connections spread over both workers.
      const attempts = [
        ...Array.from({ length: 30 }, (_, i) => ({ who: USER, password: appPassword, ua: `busy-ok-${i}`, want: 200 })),
        ...Array.from({ length: 10 }, (_, i) => ({
          who: 'carl@workers.test',
          password: `carl-wrong-${i}`,
          ua: `busy-wrong-${i}`,
          want: 401,
        })),
      ];
      const answers = await Promise.all(
        attempts.map((a) => hit(server.base, '/auth/basic', { ...basic(a.who, a.password), 'user-agent': a.ua })),
      );
      assert.deepEqual(
        answers.map((r) => r.status),
        attempts.map((a) => a.want),
      );
    });

    it('a killed worker is replaced, and the port keeps answering meanwhile', async () => {
      const ready = () => logLines(server.output()).filter((l) => l.msg === 'Sesame is ready');
      const victim = ready()[1]!.pid;
      const readyBefore = ready().length;
      process.kill(victim, 'SIGKILL');
      let answered = 0;
      const replaced = await waitFor(
        'a replacement',
        () => ready().length > readyBefore && ready().at(-1)!.pid,
        60_000,
      );
      for (let i = 0; i < 6; i++) {
        if ((await hit(server.base, '/healthz')).status === 200) answered++;
      }
      assert.equal(answered, 6);
      assert.notEqual(replaced, victim);
      assert.ok(
        logLines(server.output()).some(
          (l) => l.msg.startsWith('a worker died') && l.pid === server.child.pid && l.worker === victim,
        ),
        'the primary said so',
      );
      // The replacement answers too.
      for (let i = 0; i < 6; i++) await hit(server.base, '/healthz', { 'user-agent': `replaced-test-${i}` });
      assert.ok(pidsOf(server, (ua) => ua.startsWith('replaced-test-')).includes(replaced));
    });

    it('SIGTERM: every worker flushes its sign-in log rows, and the primary exits 0', async () => {
      const K = 12;
      const agents: string[] = [];
      const workers = await twoWorkerConnections(server, 'flush');
      for (let i = 0; i < K; i++) {
        const ua = `flush-test-${i}`;
        agents.push(ua);
        const r = await hit(
          server.base,
          '/auth/basic',
          { ...basic(USER, appPassword), 'user-agent': ua },
          workers[i % 2]!.agent,
        );
        assert.equal(r.status, 200, r.body);
      }
      for (const w of workers) w.agent.destroy();
      const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
      server.child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, server.output());
      const shutdown = new Set(
        logLines(server.output())
          .filter((l) => l.msg === 'shutting down')
          .map((l) => l.pid),
      );
      for (const w of workers) assert.ok(shutdown.has(w.pid), `worker ${w.pid} stopped cleanly`);
      const ctx = await createContext(store.config(), { migrate: false });
      try {
        const rows = await ctx.store.db
          .selectFrom('sign_in_events')
          .select('user_agent')
          .where('user_agent', 'like', 'flush-test-%')
          .execute();
        assert.deepEqual(rows.map((r) => r.user_agent).sort(), [...agents].sort());
      } finally {
        await ctx.close();
      }
    });
  });
}
