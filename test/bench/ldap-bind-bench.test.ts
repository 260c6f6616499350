/**
 * Smoke test for bench/ldap-bind: runs the compiled bench as a child process, half a second per phase
 * and a few connections, and checks its JSON summary: every target (Sesame's LDAPS, /auth/basic,
 * a throwaway slapd) answered binds in every mode with no failure, each refused a wrong password
 * (LDAP 49, HTTP 401: the binds are really checked), Sesame's sign-in log holds a success for every
 * bind and /auth/basic answer counted, and the ratios were computed. The ratios'
 * values are not asserted: half a second on a shared machine says little about them.
 *
 * Needs slapd, ldap-utils and openssl (scripts/test.sh installs them) and root (slapd's files).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBenchOk, runBenchJson } from '../support/bench.js';

interface Row {
  target: string;
  mode: string;
  ops: number;
  failures: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

interface BenchResult {
  ok: boolean;
  error?: string;
  refused: Record<string, number>;
  rows: Row[];
  ratios: Record<string, number>;
  signInLog: { protocol: string; outcome: string; n: number }[];
}

describe('bench/ldap-bind', () => {
  it('binds to Sesame over LDAPS, asks /auth/basic and binds to slapd, each refusing a wrong password', async () => {
    const run = await runBenchJson<BenchResult>('ldap-bind', {
      BENCH_SECONDS: '0.5',
      BENCH_WARMUP_SECONDS: '0',
      BENCH_CONNECTIONS: '4',
      BENCH_ROUNDS: '1',
      BENCH_RATE: '100',
      BENCH_NEWCONN_CONNECTIONS: '1',
      BENCH_WRK: '0',
    });
    assertBenchOk(run);
    const { result: r, detail } = run;
    assert.deepEqual(r.refused, { 'sesame-ldap': 49, 'auth-basic': 401, slapd: 49 }, `wrong passwords${detail}`);
    assert.deepEqual(
      r.rows.map((row) => `${row.target} ${row.mode}`),
      [
        'sesame-ldap closed',
        'sesame-ldap open',
        'sesame-ldap newconn',
        'auth-basic closed',
        'auth-basic open',
        'slapd closed',
        'slapd open',
        'slapd newconn',
      ],
      `every phase ran${detail}`,
    );
    for (const row of r.rows) {
      const what = `${row.target} ${row.mode}`;
      assert.equal(row.failures, 0, `${what}: failures${detail}`);
      assert.ok(row.ops > 0 && row.opsPerSecond > 0, `${what}: ${row.ops} ops, ${row.opsPerSecond}/s${detail}`);
      assert.ok(row.p50Ms > 0 && row.p99Ms >= row.p50Ms, `${what}: p50 ${row.p50Ms}, p99 ${row.p99Ms}${detail}`);
    }
    // Sesame's own sign-in log: every bind and /auth/basic answer counted was a checked success,
    // and the wrong passwords are there as failures.
    const logged = (protocol: string, success: boolean) =>
      r.signInLog
        .filter((l) => l.protocol === protocol && (l.outcome === 'success') === success)
        .reduce((n, l) => n + l.n, 0);
    const ops = (target: string) => r.rows.filter((row) => row.target === target).reduce((n, row) => n + row.ops, 0);
    assert.ok(logged('ldap', true) >= ops('sesame-ldap'), `ldap successes logged < binds counted${detail}`);
    assert.ok(logged('http', true) >= ops('auth-basic'), `http successes logged < answers counted${detail}`);
    assert.ok(logged('ldap', false) >= 1 && logged('http', false) >= 1, `the wrong passwords are logged${detail}`);
    for (const [name, value] of Object.entries(r.ratios))
      assert.ok(Number.isFinite(value) && value > 0, `ratio ${name} = ${value}${detail}`);
  });
});
