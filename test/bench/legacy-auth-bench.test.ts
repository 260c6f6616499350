/**
 * Smoke test for bench/legacy-auth: runs the compiled bench as a child process, one second per
 * phase, on SQLite only, and checks its JSON summary and the data folder it kept. It guards that
 * the bench still works end to end (the real server as a child process, wrk, every phase answered
 * 2xx only) and that /auth/mail and /auth/basic really verified app passwords: the sign-in log in
 * the data folder holds a success row, naming an app password, for every answer wrk counted. The
 * location-rules phase (one round of each side) reports both sides and their ratio, and its rules
 * really held: its sanity requests were allowed and refused as configured, and the log holds
 * exactly their two refusals (`location_not_allowed`), nothing else that failed.
 * Targets (ratio, p99) are not asserted: they are for the full bench on a quiet machine, and one
 * second on a shared one says little.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { assertBenchOk, runBenchJson } from '../support/bench.js';

interface Phase {
  phase: string;
  endpoint: string;
  requests: number;
  rps: number;
  ratio: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  latency: { p50Ms: number; p99Ms: number };
  cpuUsPerRequest?: number;
  signIns?: { sent: number; created: number; failed: number };
}

interface LocationRules {
  rounds: number;
  locations: number;
  sanity: { what: string; expected: string; got: string }[];
  off: { rps: number; p99Ms: number; cpuUsPerRequest?: number };
  on: { rps: number; p99Ms: number; cpuUsPerRequest?: number };
  ratio: number;
  p99Ratio: number;
  cpuRatio?: number;
  inProcess?: { blocks: number; offUsPerVerification: number; onUsPerVerification: number; difference?: unknown };
  decision?: { iterations: number; usPerDecision: Record<string, number>; allowed: Record<string, boolean> };
  targets: { what: string; pass: boolean }[];
}

interface BenchResult {
  ok: boolean;
  error?: string;
  runs: {
    store: string;
    dataDir: string;
    kept: boolean;
    phases: Phase[];
    signInLog: { protocol: string; outcome: string; reason: string; n: number }[];
    locationRules?: LocationRules;
  }[];
  verdicts: { what: string; pass: boolean }[];
}

describe('bench/legacy-auth', () => {
  it('measures every phase with wrk against the real server, and /auth/mail and /auth/basic really verify', async () => {
    const bench = await runBenchJson<BenchResult>('legacy-auth', {
      BENCH_SECONDS: '1',
      BENCH_WARMUP_SECONDS: '0',
      BENCH_STORES: 'sqlite',
      BENCH_KEEP_DIR: '1',
      BENCH_LOCATION_ROUNDS: '1',
      BENCH_VERIFY_BLOCKS: '2',
    });
    const { result: r, detail } = bench;
    const run = r.runs[0];
    try {
      assertBenchOk(bench);
      assert.equal(r.runs.length, 1, `one server run (BENCH_STORES=sqlite)${detail}`);
      assert.ok(run);
      assert.equal(run.store, 'sqlite');
      assert.equal(run.kept, true);

      assert.deepEqual(
        run.phases.map((p) => p.phase),
        ['baseline', 'mail', 'basic', 'mail+signins', 'rules-off', 'rules-on'],
        `every phase ran${detail}`,
      );
      for (const p of run.phases) {
        assert.equal(p.non2xx, 0, `${p.endpoint}: answers that were not 2xx${detail}`);
        assert.deepEqual(
          p.socketErrors,
          { connect: 0, read: 0, write: 0, timeout: 0 },
          `${p.endpoint}: socket errors${detail}`,
        );
        assert.ok(p.requests > 0 && p.rps > 0, `${p.endpoint}: ${p.requests} requests, ${p.rps} req/s${detail}`);
        assert.ok(p.ratio > 0, `${p.endpoint}: ratio ${p.ratio}${detail}`);
        assert.ok(
          p.latency.p50Ms > 0 && p.latency.p99Ms >= p.latency.p50Ms,
          `${p.endpoint}: latency ${JSON.stringify(p.latency)}${detail}`,
        );
        // The server's CPU per request (from /proc, which the test machines have).
        assert.ok((p.cpuUsPerRequest ?? 0) > 0, `${p.endpoint}: CPU per request ${p.cpuUsPerRequest}${detail}`);
      }
      const [, mail, basic, mailWithSignIns, rulesOff, rulesOn] = run.phases as [
        Phase,
        Phase,
        Phase,
        Phase,
        Phase,
        Phase,
      ];
      // Phase (e): both sides measured, the ratio and p99s reported, and the rules really held.
      const l = run.locationRules;
      assert.ok(l, `the location-rules phase reports its summary${detail}`);
      assert.equal(l.rounds, 1);
      assert.equal(l.locations, 50);
      assert.equal(l.off.rps, rulesOff.rps, `off side = its one round${detail}`);
      assert.equal(l.on.rps, rulesOn.rps, `on side = its one round${detail}`);
      assert.ok(l.off.p99Ms > 0 && l.on.p99Ms > 0, `p99 of both sides${detail}`);
      assert.ok(Math.abs(l.ratio - l.on.rps / l.off.rps) < 0.01, `ratio = on/off req/s${detail}`);
      assert.equal(l.on.cpuUsPerRequest, rulesOn.cpuUsPerRequest, `on side's CPU per request${detail}`);
      assert.ok(
        l.cpuRatio !== undefined && Math.abs(l.cpuRatio - rulesOn.cpuUsPerRequest! / rulesOff.cpuUsPerRequest!) < 0.01,
        `CPU ratio = on/off CPU per request${detail}`,
      );
      // The whole verification timed in the bench's process, two ABBA blocks of each side.
      assert.ok(l.inProcess, `the in-process A/B is reported${detail}`);
      assert.equal(l.inProcess.blocks, 2);
      assert.ok(
        l.inProcess.offUsPerVerification > 0 && l.inProcess.onUsPerVerification > 0,
        `µs per verification${detail}`,
      );
      assert.ok(l.inProcess.difference, `and the paired difference of its two blocks${detail}`);
      // One decision timed in the bench's process, from loopback and from a country the table places.
      assert.ok(l.decision, `the decision's cost is reported${detail}`);
      assert.deepEqual(
        l.decision.allowed,
        { '127.0.0.1': true, '193.0.6.139': true },
        `decided as configured${detail}`,
      );
      for (const us of Object.values(l.decision.usPerDecision)) assert.ok(us > 0, `µs per decision${detail}`);
      assert.deepEqual(
        l.targets.map((t) => t.what),
        ['rules on/off', 'p99 rules on'],
        `the phase's verdicts${detail}`,
      );
      assert.deepEqual(
        l.sanity.map((c) => c.got),
        ['200', '200 ok', 'refused', '401'],
        `allowed from loopback; refused from an address in no location and for a pin elsewhere${detail}`,
      );
      for (const c of l.sanity) assert.equal(c.got, c.expected, `${c.what}${detail}`);
      assert.ok(mailWithSignIns.signIns, `phase (d) reports its sign-ins${detail}`);
      assert.equal(mailWithSignIns.signIns.failed, 0, `browser sign-ins not answered 201${detail}`);
      assert.ok(
        mailWithSignIns.signIns.created >= 10,
        `about 20 sign-ins in a second: ${mailWithSignIns.signIns.created}${detail}`,
      );
      assert.ok(r.verdicts.length >= 5 && r.verdicts.every((v) => typeof v.pass === 'boolean'), `verdicts${detail}`);

      // The sign-in log in the data folder, read directly: every 200 wrk counted was a real check
      // of an app password (IMAP through /auth/mail, HTTP through /auth/basic), logged as a success
      // naming the app password; the browser sign-ins are there too.
      const db = new SQLite(path.join(run.dataDir, 'sesame.db'), { readonly: true, fileMustExist: true });
      try {
        const count = (protocol: string) =>
          (
            db
              .prepare(
                "SELECT count(*) AS n FROM sign_in_events WHERE protocol = ? AND outcome = 'success' AND app_password_id IS NOT NULL",
              )
              .get(protocol) as { n: number }
          ).n;
        const imap = count('imap');
        const http = count('http');
        assert.ok(
          imap >= mail.requests + mailWithSignIns.requests,
          `imap successes logged ${imap} < /auth/mail answers ${mail.requests + mailWithSignIns.requests}${detail}`,
        );
        assert.ok(
          http >= basic.requests,
          `http successes logged ${http} < /auth/basic answers ${basic.requests}${detail}`,
        );
        const failures = db
          .prepare("SELECT protocol, reason FROM sign_in_events WHERE outcome <> 'success' ORDER BY protocol")
          .all() as { protocol: string; reason: string }[];
        assert.deepEqual(
          failures,
          [
            { protocol: 'http', reason: 'location_not_allowed' },
            { protocol: 'imap', reason: 'location_not_allowed' },
          ],
          `no attempt failed but the two refusals the location phase asked for${detail}`,
        );
        // Every request wrk counted in the on side was a real check of a pinned app password of
        // the organization with rules: its users are ruled*@rules.bench.test.
        const ruledHttp = (
          db
            .prepare(
              "SELECT count(*) AS n FROM sign_in_events WHERE protocol = 'http' AND outcome = 'success' AND app_password_id IS NOT NULL AND address_typed LIKE 'ruled%@rules.bench.test'",
            )
            .get() as { n: number }
        ).n;
        assert.ok(
          ruledHttp >= rulesOn.requests,
          `rules-on successes logged ${ruledHttp} < ${rulesOn.requests}${detail}`,
        );
        const api = (
          db
            .prepare("SELECT count(*) AS n FROM sign_in_events WHERE protocol = 'api' AND outcome = 'success'")
            .get() as { n: number }
        ).n;
        assert.ok(api >= mailWithSignIns.signIns.created, `browser sign-ins logged ${api}${detail}`);
      } finally {
        db.close();
      }
      // The bench's own summary of the log agrees.
      assert.ok(
        run.signInLog.some((l) => l.protocol === 'imap' && l.outcome === 'success' && l.n >= mail.requests),
        `signInLog ${JSON.stringify(run.signInLog)}`,
      );
    } finally {
      if (run?.dataDir && fs.existsSync(run.dataDir)) fs.rmSync(run.dataDir, { recursive: true, force: true });
    }
  });
});
