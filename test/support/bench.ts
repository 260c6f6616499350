/**
 * What the benchmarks' smoke tests (test/bench/) share: run a compiled bench as a child process,
 * as a user runs it, with small counts in its environment and BENCH_JSON=1, and read the JSON
 * summary it prints last. A bench that prints no JSON fails the test with its whole output.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BenchRun<T> {
  code: number;
  result: T;
  stderr: string;
  /** The summary and stderr, for assertion messages. */
  detail: string;
}

/** Runs `bench/<name>.js` with `env` added, bounded at two minutes. */
export async function runBenchJson<T extends { ok: boolean; error?: string }>(
  name: string,
  env: Record<string, string>,
): Promise<BenchRun<T>> {
  const bench = fileURLToPath(new URL(`../../bench/${name}.js`, import.meta.url));
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [bench],
      { env: { ...process.env, ...env, BENCH_JSON: '1' }, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
      (err, out, errOut) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: out, stderr: errOut }),
    );
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  let result: T;
  try {
    result = JSON.parse(last) as T;
  } catch {
    assert.fail(`bench/${name} printed no JSON last line (exit ${code}).\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { code, result, stderr, detail: `\n${JSON.stringify(result, null, 1)}\nstderr:\n${stderr}` };
}

/** The checks every bench passes: it exited 0 and reported no failure. */
export function assertBenchOk(run: BenchRun<{ ok: boolean; error?: string }>): void {
  assert.equal(run.code, 0, `bench exited ${run.code}${run.detail}`);
  assert.equal(run.result.ok, true, `bench reported a failure: ${run.result.error}${run.detail}`);
}
