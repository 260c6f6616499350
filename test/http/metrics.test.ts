/**
 * Monitoring: /readyz (store answers, schema current), /metrics (Prometheus text: requests by route
 * pattern, legacy verifications, lockouts, store connections, process metrics) through inject() on
 * both stores, who may read /metrics where, and the monitoring listener of the real server
 * (SESAME_METRICS_PORT) started as a child process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { buildApp, buildMonitoringApp } from '../../src/app/server.js';
import { openStore } from '../../src/storage/db.js';
import { MIGRATIONS, migrateToLatest, migrateUp } from '../../src/storage/migrator.js';
import { checkReadiness } from '../../src/storage/readiness.js';
import { freePort, serverEnv, startServer, teardown, type StartedServer } from '../support/processes.js';
import { makeTestStore, STORE_KINDS } from '../support/stores.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';
import { testContextOptions } from '../support/hasher.js';
import { FULL_TIER } from '../support/tier.js';

const TOKEN = 'metrics-token-for-the-tests-0123';
const withToken = { authorization: `Bearer ${TOKEN}` };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` that carry all of `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

function has(samples: Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

for (const kind of STORE_KINDS) {
  describe(`monitoring on the main port (${kind})`, () => {
    let w: World;
    let key = '';
    let appPassword = '';
    const scrape = async () => {
      const r = await w.app.inject({ method: 'GET', url: '/metrics', headers: withToken });
      assert.equal(r.statusCode, 200, r.body);
      assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      return parse(r.body);
    };
    const basic = (user: string, password: string) =>
      w.app.inject({
        method: 'GET',
        url: '/auth/basic',
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
      });

    before(async () => {
      w = await makeWorld(kind, { metricsToken: TOKEN, accountFailureLimit: 3, ipFailureLimit: 1000 });
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
        .session;
      appPassword = (await w.ctx.appPasswords.create(user, s, 'Outlook', { ip: '127.0.0.1', locale: 'en' })).password;
    });
    after(async () => {
      await w.close();
    });

    it('/healthz stays plain and /readyz answers ready on a migrated store', async () => {
      const h = await w.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(h.statusCode, 200);
      assert.deepEqual(h.json(), { status: 'ok' });
      const r = await w.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), { status: 'ready' });
      assert.equal(r.headers['cache-control'], 'no-store');
    });

    it('/readyz: 503 schema_ahead while the store holds a migration this version does not know', async () => {
      const future = '2999-01-01-01-from-a-newer-version';
      await w.ctx.store.db
        .insertInto('kysely_migration' as never)
        .values({ name: future, timestamp: new Date().toISOString() } as never)
        .execute();
      try {
        const r = await w.app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(r.statusCode, 503);
        assert.deepEqual(r.json(), { status: 'not_ready', reason: 'schema_ahead', migrations: [future] });
      } finally {
        await w.ctx.store.db
          .deleteFrom('kysely_migration' as never)
          .where('name' as never, '=', future as never)
          .execute();
      }
      assert.equal((await w.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'ready again');
    });

    it('/readyz: 503 store_unreachable once the store is closed (no error detail); /healthz still 200', async () => {
      const ctx = await createContext(w.store.config({ metricsToken: TOKEN }), testContextOptions());
      const app = await buildApp(ctx, { logger: false });
      try {
        await ctx.store.db.destroy();
        const r = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(r.statusCode, 503);
        assert.deepEqual(r.json(), { status: 'not_ready', reason: 'store_unreachable' });
        assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive, only not ready');
      } finally {
        await app.close();
        await ctx.close().catch(() => undefined);
      }
    });

    it('counts requests by route pattern, method and status, never by the URL asked for; and times them', async () => {
      const before = await scrape();
      for (let i = 0; i < 3; i++)
        assert.equal((await w.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      const victim = 'someone.private@contoso.test';
      assert.equal(
        (await w.app.inject({ method: 'POST', url: `/api/v1/users/${encodeURIComponent(victim)}/end-sessions` }))
          .statusCode,
        401,
      );
      assert.equal((await w.app.inject({ method: 'GET', url: '/no/such/page/4711' })).statusCode, 404);
      const r = await w.app.inject({ method: 'GET', url: '/metrics', headers: withToken });
      const now = parse(r.body);
      const delta = (labels: Record<string, string>) =>
        total(now, 'sesame_http_requests_total', labels) - total(before, 'sesame_http_requests_total', labels);
      assert.equal(delta({ route: '/healthz', method: 'GET', status: '200' }), 3);
      assert.equal(delta({ route: '/api/v1/users/:address/end-sessions', method: 'POST', status: '401' }), 1);
      assert.equal(delta({ route: 'unmatched', method: 'GET', status: '404' }), 1);
      // Only label text counts: a value such as a memory size may contain the digits 4711 by chance.
      const labelText = [...r.body.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).join('\n');
      assert.ok(labelText.length > 0, 'labels were read');
      assert.doesNotMatch(
        labelText,
        /someone|4711|no\/such/,
        'no URL, address or path typed by a client becomes a label',
      );
      const count = (route: string) =>
        total(now, 'sesame_http_request_duration_seconds_count', { route, method: 'GET' }) -
        total(before, 'sesame_http_request_duration_seconds_count', { route, method: 'GET' });
      assert.equal(count('/healthz'), 3, 'each request timed');
      const inf = total(now, 'sesame_http_request_duration_seconds_bucket', {
        route: '/healthz',
        method: 'GET',
        le: '+Inf',
      });
      assert.equal(
        inf,
        total(now, 'sesame_http_request_duration_seconds_count', { route: '/healthz', method: 'GET' }),
        'the +Inf bucket holds every request',
      );
      assert.ok(total(now, 'sesame_http_request_duration_seconds_sum', { route: '/healthz' }) > 0);
    });

    it('counts legacy verifications by protocol, outcome and reason; a protocol a client makes up is no label', async () => {
      const before = await scrape();
      assert.equal((await basic(USER.address, appPassword)).statusCode, 200);
      assert.equal((await basic(USER.address, 'not the password')).statusCode, 401);
      assert.equal(
        (await basic(USER.address, USER.password)).statusCode,
        401,
        'main password of an enforced user: refused',
      );
      const nginx = await w.app.inject({
        method: 'GET',
        url: '/auth/nginx-mail',
        headers: {
          authorization: `Bearer ${key}`,
          'auth-user': USER.address,
          'auth-pass': 'x',
          'auth-protocol': 'gopher-of-my-choosing',
          'client-ip': '203.0.113.9',
        },
      });
      // A protocol nginx never sends is the integration's configuration error (400): no verification.
      assert.equal(nginx.statusCode, 400);
      const r = await w.app.inject({ method: 'GET', url: '/metrics', headers: withToken });
      const now = parse(r.body);
      const delta = (labels: Record<string, string>) =>
        total(now, 'sesame_legacy_verifications_total', labels) -
        total(before, 'sesame_legacy_verifications_total', labels);
      assert.equal(delta({ protocol: 'http', outcome: 'ok', reason: 'ok' }), 1);
      assert.equal(delta({ protocol: 'http', outcome: 'wrong', reason: 'wrong_password' }), 1);
      assert.equal(delta({ protocol: 'http', outcome: 'refused', reason: 'main_password_refused' }), 1);
      assert.equal(
        delta({ protocol: 'other', outcome: 'wrong', reason: 'invalid_input' }),
        0,
        'a configuration error is not a verification',
      );
      assert.doesNotMatch(r.body, /gopher|bob@|contoso/, 'no client-chosen protocol, user or domain in the labels');
    });

    it('counts the locks of the legacy smart lockout and of the browser throttle', async () => {
      const before = await scrape();
      // MFA disabled: the main password is tried on legacy protocols, and three new wrong ones lock the account (limit 3).
      const u = (await w.ctx.accounts.addUser(OPERATOR, {
        address: 'lock-me@contoso.test',
        password: 'amber-river-kettle-71',
      }))!;
      for (let i = 0; i < 3; i++) assert.equal((await basic(u.address, `guess number ${i}`)).statusCode, 401);
      for (let i = 0; i < 3; i++) {
        const r = await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: OTHER_ADMIN.address, password: `guess number ${i}` },
        });
        assert.equal(r.statusCode, 401, r.body);
      }
      const locked = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: OTHER_ADMIN.address, password: OTHER_ADMIN.password },
      });
      assert.notEqual(locked.statusCode, 201, 'the account is locked');
      const now = await scrape();
      const delta = (labels: Record<string, string>) =>
        total(now, 'sesame_lockouts_total', labels) - total(before, 'sesame_lockouts_total', labels);
      assert.equal(delta({ scope: 'legacy', target: 'account' }), 1);
      assert.equal(delta({ scope: 'browser', target: 'account' }), 1);
      assert.equal(delta({ scope: 'legacy', target: 'ip' }) + delta({ scope: 'browser', target: 'ip' }), 0);
    });

    it(`reports the store's connections and the process's event loop delay`, async () => {
      await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: ADMIN.address, password: ADMIN.password },
      });
      const now = await scrape();
      assert.ok(total(now, 'sesame_store_connections') >= 1, 'connections open');
      if (kind === 'postgres') {
        assert.ok(has(now, 'sesame_store_connections_idle'));
        assert.equal(total(now, 'sesame_store_waiting_queries'), 0, 'nothing queued for a connection at rest');
        assert.ok(!has(now, 'sesame_store_sqlite_wal_bytes'));
      } else {
        assert.ok(has(now, 'sesame_store_sqlite_wal_bytes'));
        assert.ok(!has(now, 'sesame_store_waiting_queries'));
      }
      for (const name of [
        'nodejs_eventloop_lag_seconds',
        'nodejs_eventloop_lag_p99_seconds',
        'process_cpu_seconds_total',
        'nodejs_heap_size_used_bytes',
      ])
        assert.ok(has(now, name), name);
    });

    it('/metrics needs the token: 401 with a Bearer challenge without it or with a wrong one', async () => {
      for (const headers of [
        {},
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
      ] as Record<string, string>[]) {
        const r = await w.app.inject({ method: 'GET', url: '/metrics', headers });
        assert.equal(r.statusCode, 401);
        assert.equal(r.headers['www-authenticate'], 'Bearer realm="sesame-metrics"');
        assert.doesNotMatch(r.body, /sesame_/);
      }
    });
  });

  describe(`/readyz on a store whose schema is behind (${kind})`, () => {
    it('answers 503 schema_behind with the missing migration, and ready once it is applied', async () => {
      const s = await makeTestStore(kind);
      const names = Object.keys(MIGRATIONS).sort();
      const store = openStore({ dataDir: s.dataDir, databaseUrl: s.databaseUrl });
      for (let i = 0; i < names.length - 1; i++) await migrateUp(store.db);
      await store.close();
      const ctx = await createContext(s.config(), { migrate: false });
      const app = await buildApp(ctx, { logger: false });
      try {
        const r = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(r.statusCode, 503);
        assert.deepEqual(r.json(), { status: 'not_ready', reason: 'schema_behind', migrations: [names.at(-1)] });
        await migrateToLatest(ctx.store.db);
        assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      } finally {
        await app.close();
        await ctx.close();
        await s.dispose();
      }
    });
  });
}

describe('readiness check', () => {
  it('says store_unreachable within its time limit when the store accepts connections but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const hole = net.createServer((s) => void sockets.add(s.on('error', () => undefined)));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const store = openStore({
      dataDir: os.tmpdir(),
      databaseUrl: `postgres://nobody@127.0.0.1:${(hole.address() as net.AddressInfo).port}/none`,
    });
    try {
      const started = Date.now();
      const r = await checkReadiness(store, 300);
      assert.deepEqual(r, { ready: false, reason: 'store_unreachable', error: 'no answer within 300 ms' });
      assert.ok(Date.now() - started < 2_000, 'answered at the limit, not when the pool gives up');
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
      await store.close().catch(() => undefined);
    }
  });
});

describe('where /metrics is served (inject)', () => {
  it('not on the main port without a token, even from loopback; /readyz is', async () => {
    const w = await makeWorld('sqlite');
    try {
      assert.equal(
        (await w.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' })).statusCode,
        404,
      );
      assert.equal((await w.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    } finally {
      await w.close();
    }
  });

  it('not on the main port when there is a monitoring port, even with the token; the monitoring app serves it', async () => {
    const w = await makeWorld('sqlite', { metricsPort: 19_999, metricsToken: TOKEN });
    const monitor = await buildMonitoringApp(w.ctx, { logger: false });
    try {
      assert.equal((await w.app.inject({ method: 'GET', url: '/metrics', headers: withToken })).statusCode, 404);
      assert.equal((await w.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      assert.equal(
        (await monitor.inject({ method: 'GET', url: '/metrics' })).statusCode,
        401,
        'the token is asked on the monitoring port too',
      );
      const m = await monitor.inject({ method: 'GET', url: '/metrics', headers: withToken });
      assert.equal(m.statusCode, 200);
      assert.ok(
        total(parse(m.body), 'sesame_http_requests_total', { route: '/healthz', status: '200' }) >= 1,
        "the main port's requests, counted",
      );
    } finally {
      await monitor.close();
      await w.close();
    }
  });

  it('open on the monitoring port when no token is set (the port is the boundary)', async () => {
    const w = await makeWorld('sqlite', { metricsPort: 19_999 });
    const monitor = await buildMonitoringApp(w.ctx, { logger: false });
    try {
      const m = await monitor.inject({ method: 'GET', url: '/metrics' });
      assert.equal(m.statusCode, 200);
      assert.ok(has(parse(m.body), 'nodejs_eventloop_lag_seconds'));
      assert.equal(
        (await monitor.inject({ method: 'GET', url: '/auth/basic' })).statusCode,
        404,
        'nothing but monitoring there',
      );
    } finally {
      await monitor.close();
      await w.close();
    }
  });
});

describe('monitoring options', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ SESAME_DATA_DIR: os.tmpdir(), ...env });
      return [];
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems;
    }
  };

  it('refuses a metrics port equal to PORT, a host without a port, and a short token (without echoing it)', () => {
    assert.match(
      problems({ PORT: '8080', SESAME_METRICS_PORT: '8080' }).join('\n'),
      /SESAME_METRICS_PORT must differ from PORT/,
    );
    assert.match(
      problems({ SESAME_METRICS_HOST: '0.0.0.0' }).join('\n'),
      /SESAME_METRICS_HOST needs SESAME_METRICS_PORT/,
    );
    const short = problems({ SESAME_METRICS_TOKEN: 'tooShort42' }).join('\n');
    assert.match(short, /SESAME_METRICS_TOKEN must be at least 16 characters/);
    assert.doesNotMatch(short, /tooShort42/);
    assert.deepEqual(
      problems({
        PORT: '8080',
        SESAME_METRICS_PORT: '9464',
        SESAME_METRICS_HOST: '127.0.0.1',
        SESAME_METRICS_TOKEN: TOKEN,
      }),
      [],
    );
  });
});

// The real server in a child process: the full tier only.
if (FULL_TIER)
  describe('the monitoring listener of the real server (SESAME_METRICS_PORT)', () => {
    let dataDir = '';
    let server: StartedServer | undefined;
    let main = '';
    let monitor = '';

    before(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-metrics-'));
      const [port, metricsPort] = [await freePort(), await freePort()];
      server = await startServer({
        env: serverEnv(dataDir, port, { SESAME_METRICS_PORT: String(metricsPort), SESAME_METRICS_TOKEN: TOKEN }),
      });
      main = server.base;
      monitor = `http://127.0.0.1:${metricsPort}`;
    });
    after(async () => {
      await teardown({ server, dataDir });
    });

    it('serves /healthz, /readyz and /metrics on the monitoring port, and nothing else', async () => {
      assert.deepEqual(await (await fetch(`${monitor}/healthz`)).json(), { status: 'ok' });
      const ready = await fetch(`${monitor}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready' });
      assert.equal((await fetch(`${monitor}/metrics`)).status, 401);
      assert.equal((await fetch(`${main}/healthz`)).status, 200);
      const m = await fetch(`${monitor}/metrics`, { headers: withToken });
      assert.equal(m.status, 200);
      const samples = parse(await m.text());
      assert.ok(
        total(samples, 'sesame_http_requests_total', { route: '/healthz', method: 'GET', status: '200' }) >= 1,
        "the main port's requests",
      );
      assert.ok(has(samples, 'nodejs_eventloop_lag_seconds'));
      for (const p of ['/auth/basic', '/signin', '/api/v1/openapi.json'])
        assert.equal((await fetch(`${monitor}${p}`)).status, 404, p);
    });

    it('the main port keeps /healthz and /readyz but does not serve /metrics, token or not', async () => {
      assert.equal((await fetch(`${main}/readyz`)).status, 200);
      assert.equal((await fetch(`${main}/metrics`, { headers: withToken })).status, 404);
      assert.equal((await fetch(`${main}/metrics`)).status, 404);
    });

    it('closes both listeners on SIGTERM and exits 0', async () => {
      await server!.stop();
      assert.equal(server!.child.exitCode, 0, server!.output());
      for (const base of [main, monitor])
        await assert.rejects(fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) }), base);
    });
  });
