/**
 * Smoke test for bench/legacy-targets (issue #21 item 3): runs the compiled bench as a child
 * process on SQLite only, one-second wrk rounds and a low open-loop rate, and checks its JSON
 * summary: every phase ran and was answered 2xx only, the sanity requests refused what the rules
 * refuse (and their refusals are in the sign-in log, with the reason each was meant to show), the
 * open-loop generator offered the rate asked and every request was answered, and /auth/basic
 * really verified app passwords (the log holds a success for every answer). The targets' verdicts
 * are reported but not asserted: a second on a shared machine says little.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBenchOk, runBenchJson } from '../support/bench.js';

interface WrkRound {
  side: string;
  requests: number;
  rps: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  load1: number;
  cpuUsPerRequest?: number;
}

interface OpenReport {
  rate: number;
  seconds: number;
  connections: number;
  scheduled: number;
  answered: number;
  non2xx: number;
  errors: number;
  achievedRps: number;
  latency: { p50Ms: number; p99Ms: number; maxMs: number };
}

interface BenchResult {
  ok: boolean;
  error?: string;
  runs: {
    store: string;
    sanity: { what: string; expected: string; got: string }[];
    saturation: {
      workers: number;
      perRound: WrkRound[];
      sides: Record<string, { rps: number; p99Ms: number }>;
      ratio: number;
      ratioToBare2?: number;
      targets: { what: string; pass: boolean }[];
    }[];
    openLoop: {
      rate: number;
      rounds: { side: string; report: OpenReport; signIns: { sent: number; created: number; failed: number } }[];
      p99DifferenceMs: number;
      targets: { what: string; pass: boolean }[];
    }[];
    signInLog: { protocol: string; outcome: string; reason: string; n: number }[];
  }[];
  verdicts: { what: string; pass: boolean }[];
}

const RATE = 100;
const OPEN_SECONDS = 2;

describe('bench/legacy-targets', () => {
  it('measures /auth/basic with every rule on against a bare route, closed and open loop, and the rules refuse', async () => {
    const bench = await runBenchJson<BenchResult>('legacy-targets', {
      BENCH_STORES: 'sqlite',
      BENCH_SECONDS: '1',
      BENCH_WARMUP_SECONDS: '1',
      BENCH_ROUNDS: '1',
      BENCH_OPEN_SECONDS: String(OPEN_SECONDS),
      BENCH_OPEN_ROUNDS: '1',
      BENCH_OPEN_RATES: String(RATE),
      BENCH_SIGNIN_RATE: '5',
      BENCH_USERS: '5',
    });
    const { result: r, detail } = bench;
    assertBenchOk(bench);
    assert.equal(r.runs.length, 1, `one store${detail}`);
    const run = r.runs[0]!;

    // Sanity: allowed from loopback, and each refusal refused, with one worker and with two.
    for (const c of run.sanity) assert.equal(c.got, c.expected, `${c.what}${detail}`);
    const refusals = run.sanity.filter((c) => c.expected === '401' || c.expected === 'refused');
    assert.equal(refusals.length, 11, `five /auth/basic refusals per server run and one /auth/mail${detail}`);
    const failed = new Set(
      run.signInLog.filter((l) => l.outcome !== 'success').map((l) => `${l.protocol} ${l.reason}`),
    );
    for (const reason of ['location_not_allowed', 'not_in_group', 'protocol_not_allowed', 'user_disabled'])
      assert.ok(failed.has(`http ${reason}`), `the log holds an http refusal for ${reason}${detail}`);
    assert.ok(failed.has('imap location_not_allowed'), `the /auth/mail refusal is logged${detail}`);

    // Saturation: one worker, then two (with the two-process bare server beside).
    assert.deepEqual(
      run.saturation.map((s) => s.workers),
      [1, 2],
    );
    for (const s of run.saturation) {
      for (const p of s.perRound) {
        assert.equal(p.non2xx, 0, `${s.workers} worker(s) ${p.side}: non-2xx${detail}`);
        assert.deepEqual(p.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 }, `${p.side}${detail}`);
        assert.ok(p.requests > 0 && p.rps > 0, `${p.side}: ${p.rps} req/s${detail}`);
        assert.ok((p.cpuUsPerRequest ?? 0) > 0, `${p.side}: CPU per request${detail}`);
      }
      assert.deepEqual(
        s.perRound.map((p) => p.side).sort(),
        s.workers === 1 ? ['bare', 'sesame'] : ['bare', 'bare-2', 'sesame'],
      );
      assert.ok(Math.abs(s.ratio - s.sides.sesame!.rps / s.sides.bare!.rps) < 0.01, `ratio${detail}`);
    }
    assert.deepEqual(
      run.saturation[0]!.targets.map((t) => t.what),
      ['ratio to bare, one worker'],
    );
    assert.ok(run.saturation[1]!.ratioToBare2 !== undefined, `ratio to the two-process bare server${detail}`);

    // Open loop: the rate asked was offered and answered, every answer 2xx, sign-ins beside.
    assert.equal(run.openLoop.length, 1);
    const o = run.openLoop[0]!;
    assert.equal(o.rate, RATE);
    assert.deepEqual(o.rounds.map((x) => x.side).sort(), ['bare', 'sesame']);
    for (const x of o.rounds) {
      const rep = x.report;
      assert.equal(rep.errors, 0, `${x.side}: errors${detail}`);
      assert.equal(rep.non2xx, 0, `${x.side}: non-2xx${detail}`);
      assert.ok(Math.abs(rep.scheduled - RATE * OPEN_SECONDS) <= 1, `${x.side}: ${rep.scheduled} scheduled${detail}`);
      assert.equal(rep.answered, rep.scheduled, `${x.side}: every scheduled request answered${detail}`);
      assert.ok(
        rep.achievedRps >= RATE * 0.8 && rep.achievedRps <= RATE * 1.2,
        `${x.side}: achieved ${rep.achievedRps}/s of ${RATE}/s${detail}`,
      );
      assert.ok(rep.latency.p50Ms > 0 && rep.latency.p99Ms >= rep.latency.p50Ms, `${x.side}: latency${detail}`);
      assert.equal(x.signIns.failed, 0, `${x.side}: sign-ins not answered 201${detail}`);
      assert.ok(x.signIns.created >= 5, `${x.side}: ${x.signIns.created} sign-ins beside${detail}`);
    }
    assert.deepEqual(
      o.targets.map((t) => t.what),
      [`p99 Sesame - bare at ${RATE} req/s`],
    );
    assert.equal(r.verdicts.length, 2, `one ratio and one p99 verdict${detail}`);

    // Every /auth/basic answer wrk and the generator counted was a real, logged app-password check.
    const answered =
      run.saturation
        .flatMap((s) => s.perRound)
        .filter((p) => p.side === 'sesame')
        .reduce((a, p) => a + p.requests, 0) +
      o.rounds.filter((x) => x.side === 'sesame').reduce((a, x) => a + x.report.answered, 0);
    const logged = run.signInLog
      .filter((l) => l.protocol === 'http' && l.outcome === 'success')
      .reduce((a, l) => a + l.n, 0);
    assert.ok(logged >= answered, `http successes logged ${logged} < /auth/basic answers counted ${answered}${detail}`);
    assert.ok(
      run.signInLog.some((l) => l.protocol === 'api' && l.outcome === 'success' && l.n >= 10),
      `the browser sign-ins are logged${detail}`,
    );
  });
});
