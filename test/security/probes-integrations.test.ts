/**
 * Black-box probes (issue #16, items 5–6), against the real server (node dist/src/main.js) and the
 * real CLI:
 *   - a data folder left 0755 with a 0644 store is 0700 with the store, its -wal and -shm 0600
 *     once the server runs, and the server said so once in its log;
 *   - X-Forwarded-For from a peer that is not a trusted proxy: one warning, however many requests;
 *   - GET /auth/integration-check answers the name for a good key, 401 for a bad one;
 *   - after the save interval (~10 s), `sesame integration check` reads what the server saw.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { SEEN_SAVE_INTERVAL_MS } from '../../src/domain/legacy/integrations.js';
import { bearer, call, startProbeServer, type ProbeServer } from '../support/probes.js';
import { ROOT } from '../support/processes.js';

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8).padStart(4, '0');

function cli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/sesame.js'), ...args], {
      cwd: ROOT,
      env: { ...env, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('probes: integrations diagnosable, data folder private (issue #16, items 5-6)', () => {
  let probe: ProbeServer;
  let key = '';
  before(async () => {
    ({ probe, setupResult: key } = await startProbeServer('integrations', {}, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      const { key } = await ctx.integrations.add('dovecot');
      // What an older Sesame or a copy by hand leaves: a folder and a store others may read.
      fs.chmodSync(ctx.config.dataDir, 0o755);
      fs.chmodSync(path.join(ctx.config.dataDir, 'sesame.db'), 0o644);
      return key;
    }));
  });
  after(async () => probe?.stop());

  it('probe: a 0755 data folder with a 0644 store: 0700, and the store, -wal and -shm 0600 while the server writes; said once', async () => {
    // A sign-in attempt: the server writes (the sign-in log), so the WAL is in use.
    await call(
      probe.base,
      'POST',
      '/auth/mail',
      { user: 'x@contoso.test', password: 'wrong', service: 'imap' },
      bearer(key),
    );
    await new Promise((r) => setTimeout(r, 300));
    const db = path.join(probe.dataDir, 'sesame.db');
    assert.deepEqual(
      {
        dir: mode(probe.dataDir),
        db: mode(db),
        wal: mode(`${db}-wal`),
        shm: mode(`${db}-shm`),
        keys: mode(path.join(probe.dataDir, 'secrets.json')),
      },
      { dir: '0700', db: '0600', wal: '0600', shm: '0600', keys: '0600' },
    );
    const fixed = probe.server
      .output()
      .split('\n')
      .filter((l) => l.includes('"code":"file_modes_fixed"'));
    assert.equal(fixed.length, 1, probe.server.output().slice(-2000));
    assert.match(fixed[0]!, /sesame\.db: 0644 -> 0600/);
    assert.match(fixed[0]!, /: 0755 -> 0700/);
  });

  it('probe: 20 requests with X-Forwarded-For from an untrusted peer: one warning per serving process, naming the setting and the peer', async () => {
    for (let n = 0; n < 20; n++)
      await call(probe.base, 'GET', '/healthz', undefined, { 'x-forwarded-for': `203.0.113.${n}` });
    await new Promise((r) => setTimeout(r, 200));
    const warned = probe.server
      .output()
      .split('\n')
      .filter((l) => l.includes('"code":"untrusted_forwarded_for"'));
    // Each worker (SESAME_WORKERS, the number of cores by default) warns once: not once per request.
    const pids = warned.map((l) => (JSON.parse(l) as { pid: number }).pid);
    assert.ok(warned.length >= 1, probe.server.output().slice(-2000));
    assert.equal(new Set(pids).size, pids.length, `one warning per process: ${pids.join(', ')}`);
    assert.ok(pids.length <= os.availableParallelism(), `at most one per worker: ${pids.length}`);
    assert.match(warned[0]!, /"setting":"SESAME_TRUSTED_PROXIES"/);
    assert.match(warned[0]!, /"peer":"127\.0\.0\.1"/);
  });

  it('probe: GET /auth/integration-check, then `sesame integration check` after the save interval', async () => {
    const good = await call(probe.base, 'GET', '/auth/integration-check', undefined, bearer(key));
    assert.equal(good.status, 200);
    assert.deepEqual(good.body, { integration: 'dovecot' });
    const bad = await call(
      probe.base,
      'GET',
      '/auth/integration-check',
      undefined,
      bearer(`sesame_int_${'Q'.repeat(43)}`),
    );
    assert.equal(bad.status, 401);
    await new Promise((r) => setTimeout(r, SEEN_SAVE_INTERVAL_MS + 1500));
    const r = await cli(probe.env, ['integration', 'check', 'dovecot']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(
      r.out,
      /last seen with its key .*: \/auth\/integration-check \(no service, no client address, from 127\.0\.0\.1\): answered/,
    );
    assert.match(r.out, /\/auth\/integration-check {2}from 127\.0\.0\.1 {2}unknown or revoked key/);
  });
});
