/**
 * Smoke test for bench/signin: runs the compiled bench as a child process with tiny counts and
 * checks its JSON summary. It guards two things: the bench still works end to end (every sign-in
 * over real HTTP answers 201), and sign-in hashing stays off the event loop.
 *
 * The second check uses the burst of 50 concurrent sign-ins: the share of its wall time spent in
 * its single worst event-loop stall. With @node-rs/argon2's async API the loop keeps turning while
 * the thread pool hashes (measured 0.1-0.55 on a noisy 2-core VM); with the synchronous API all 50
 * hashes run back to back in one turn of the loop, so the burst is one stall (measured 0.97-0.99).
 * A fixed bound in ms (say "max delay < 100 ms") does not separate the two on such machines: the
 * async variant's worst stall there ranged 70-820 ms, from the synchronous SQLite and HTTP work of
 * 50 requests handled in one turn, slowed by the hashing threads and by neighbours.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const BENCH = fileURLToPath(new URL('../../bench/signin.js', import.meta.url));
const SIGNINS = 60;
const BASELINE = 300;
/** Above the async variant's worst measured share (0.55), below the sync variant's least (0.97). */
const MAX_BURST_STALL_SHARE = 0.8;

interface Phase {
  requests: number;
  ok: number;
  failed: number;
  wallMs: number;
  perSecond: number;
  eventLoop: { maxMs: number; p99Ms: number };
}

interface BenchResult {
  ok: boolean;
  error?: string;
  baseline: Phase;
  signIns: Phase;
  burst: Phase & { stallShare: number };
  ratio: number;
}

function runBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BENCH],
      {
        env: { ...process.env, BENCH_SIGNINS: String(SIGNINS), BENCH_BASELINE: String(BASELINE), BENCH_JSON: '1' },
        timeout: 120_000,
        maxBuffer: 4 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('bench/signin', () => {
  it('signs in over real HTTP and keeps Argon2 off the event loop', async () => {
    const { code, stdout, stderr } = await runBench();
    const last = stdout.trim().split('\n').pop() ?? '';
    let r: BenchResult;
    try {
      r = JSON.parse(last) as BenchResult;
    } catch {
      assert.fail(`bench printed no JSON last line (exit ${code}).\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    }
    const detail = `\n${JSON.stringify(r, null, 1)}\nstderr:\n${stderr}`;
    assert.equal(code, 0, `bench exited ${code}${detail}`);
    assert.equal(r.ok, true, `bench reported a failure: ${r.error}${detail}`);

    assert.equal(r.signIns.failed, 0, `sign-ins not answered 201${detail}`);
    assert.equal(r.signIns.ok, SIGNINS, `sign-ins answered 201${detail}`);
    assert.equal(r.burst.failed, 0, `burst sign-ins not answered 201${detail}`);
    assert.equal(r.burst.ok, 50, `burst sign-ins answered 201${detail}`);
    assert.equal(r.baseline.ok, BASELINE, `baseline requests answered 200${detail}`);

    assert.ok(r.signIns.perSecond > 0, `sign-ins/s ${r.signIns.perSecond}${detail}`);
    assert.ok(
      r.baseline.perSecond > r.signIns.perSecond,
      `baseline req/s ${r.baseline.perSecond} <= sign-ins/s ${r.signIns.perSecond}${detail}`,
    );

    assert.ok(
      r.burst.stallShare < MAX_BURST_STALL_SHARE,
      `the event loop was stalled ${r.burst.eventLoop.maxMs} ms in one go during a ${r.burst.wallMs} ms burst of 50 sign-ins ` +
        `(share ${r.burst.stallShare} >= ${MAX_BURST_STALL_SHARE}): is password hashing running on the event loop (sync Argon2 API)?${detail}`,
    );
  });
});
