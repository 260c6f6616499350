/**
 * Smoke test for bench/mixed-load: one second per run on the test cluster. It guards that the bench
 * still drives real instances end to end (every legacy check 2xx, every sign-in 201, every MFA
 * challenge 200 then 201 on the other instance) and reports every kind and the memory of each
 * instance. Throughput and latency are not asserted: one second on a shared machine says little.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/mixed-load.js', import.meta.url));

interface Kind {
  sent: number;
  completed: number;
  firstFailure?: string;
}

describe('bench/mixed-load', () => {
  it('runs browser sign-ins, MFA challenges and legacy checks on one and two instances', async () => {
    assert.ok(process.env.SESAME_TEST_PG_URL, 'needs the test cluster (npm test starts it)');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [BENCH],
        {
          env: { ...process.env, BENCH_SECONDS: '1', BENCH_SIGNIN_RATE: '5', BENCH_MFA_RATE: '2', BENCH_JSON: '1' },
          timeout: 120_000,
        },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout)),
      ),
    );
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      runs: {
        instances: number;
        legacy: { requests: number }[];
        signIns: Kind;
        mfa: Kind;
        memory: { idle: { rssMb: number }; loaded: { rssMb: number; peakMb: number } }[];
      }[];
    };
    assert.deepEqual(
      r.runs.map((x) => x.instances),
      [1, 2],
    );
    for (const run of r.runs) {
      assert.equal(run.legacy.length, run.instances, 'one wrk per instance');
      for (const l of run.legacy) assert.ok(l.requests > 0);
      for (const k of [run.signIns, run.mfa]) {
        assert.equal(k.firstFailure, undefined);
        assert.ok(k.completed > 0 && k.completed === k.sent, JSON.stringify(k));
      }
      assert.equal(run.memory.length, run.instances);
      for (const m of run.memory) assert.ok(m.idle.rssMb > 20 && m.loaded.peakMb >= m.loaded.rssMb, JSON.stringify(m));
    }
  });
});
