/**
 * Smoke test for bench/legacy-auth: runs the compiled bench as a child process, one second per
 * phase, on SQLite only, and checks its JSON summary and the data folder it kept. It guards that
 * the bench still works end to end (the real server as a child process, wrk, every phase answered
 * 2xx only) and that /auth/mail and /auth/basic really verified app passwords: the sign-in log in
 * the data folder holds a success row, naming an app password, for every answer wrk counted.
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
  signIns?: { sent: number; created: number; failed: number };
}

interface BenchResult {
  ok: boolean;
  error?: string;
  runs: {
    store: string;
    dataDir: string;
    kept: boolean;
    phases: Phase[];
    signInLog: { protocol: string; outcome: string; n: number }[];
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
        ['baseline', 'mail', 'basic', 'mail+signins'],
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
      }
      const [, mail, basic, mailWithSignIns] = run.phases as [Phase, Phase, Phase, Phase];
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
        const failures = (
          db.prepare("SELECT count(*) AS n FROM sign_in_events WHERE outcome <> 'success'").get() as { n: number }
        ).n;
        assert.equal(failures, 0, `no attempt failed${detail}`);
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
