/**
 * Smoke test for bench/dovecot-login: runs the compiled bench as a child process with a few logins
 * per target and checks its JSON summary: every private Dovecot (the shipped Lua passdb asking
 * Sesame, the passwd-file one, and one variant) refused a wrong password (NO) and let the right one
 * in, every timed login succeeded one at a time and in parallel, Sesame logged a success for each
 * login that asked it, /auth/mail was timed alone, and the ratios to the passwd-file were computed.
 * The ratios' values are not asserted: a few logins on a shared machine say little about them.
 *
 * Needs root and Debian's dovecot-core, dovecot-imapd, dovecot-auth-lua (scripts/test.sh installs them).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBenchOk, runBenchJson } from '../support/bench.js';

interface Row {
  target: string;
  mode: string;
  logins: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
}

interface BenchResult {
  ok: boolean;
  error?: string;
  refused: Record<string, string>;
  rows: Row[];
  authMail: Row[];
  ratios: Record<string, number>;
  signInLog: { protocol: string; outcome: string; n: number }[];
  luaLogins: number;
}

describe('bench/dovecot-login', () => {
  it('logs in to Dovecot with the Lua passdb and with a passwd-file, each refusing a wrong password', async () => {
    const run = await runBenchJson<BenchResult>('dovecot-login', {
      BENCH_LOGINS: '8',
      BENCH_ROUNDS: '2',
      BENCH_PARALLEL: '2',
      BENCH_WARMUP: '1',
      BENCH_VARIANTS: 'lua-nohttp',
    });
    assertBenchOk(run);
    const { result: r, detail } = run;
    assert.deepEqual(r.refused, { lua: 'NO', passwd: 'NO', 'lua-nohttp': 'NO' }, `wrong passwords${detail}`);
    assert.deepEqual(
      r.rows.map((row) => `${row.target} ${row.mode}`),
      ['lua serial', 'passwd serial', 'lua-nohttp serial', 'lua parallel', 'passwd parallel', 'lua-nohttp parallel'],
      `every phase ran${detail}`,
    );
    for (const row of [...r.rows, ...r.authMail]) {
      assert.equal(row.failures, 0, `${row.target} ${row.mode} failed${detail}`);
      assert.equal(row.logins, 8, `${row.target} ${row.mode}: every login timed${detail}`);
      assert.ok(row.p50Ms > 0 && row.p99Ms >= row.p50Ms, `${row.target} ${row.mode} figures${detail}`);
    }
    // The Lua target really asked Sesame: a success in its log for each login (and the checks'
    // right-password login and warm-up beside them), and the wrong password as a failure.
    assert.equal(r.luaLogins, 16, `lua logins counted${detail}`);
    const imap = (outcome: string) => r.signInLog.find((l) => l.protocol === 'imap' && l.outcome === outcome)?.n ?? 0;
    assert.ok(imap('success') >= r.luaLogins, `Sesame logged the Lua logins${detail}`);
    assert.ok(
      r.signInLog.some((l) => l.protocol === 'imap' && l.outcome !== 'success' && l.n >= 1),
      `Sesame logged the wrong password${detail}`,
    );
    for (const k of ['lua serial p50', 'lua serial p99', 'lua parallel p50', 'lua parallel p99'])
      assert.ok(Number.isFinite(r.ratios[k]) && r.ratios[k]! > 0, `ratio ${k}${detail}`);
  });
});
