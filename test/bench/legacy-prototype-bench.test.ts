/**
 * Smoke test for bench/legacy-prototype: the reference prototype runs on its own bare
 * Fastify, wrk measures it and a plain route in one run, every answer is 2xx (a prototype that
 * refused the good passwords would be measured as fast 401s), and a ratio comes out. The ratio is
 * not asserted: one second on a shared machine says little.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BENCH = fileURLToPath(new URL('../../bench/legacy-prototype.js', import.meta.url));

describe('bench/legacy-prototype', () => {
  it('measures the prototype and the plain route with wrk, every answer 2xx', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [BENCH],
        { env: { ...process.env, BENCH_SECONDS: '1', BENCH_JSON: '1' }, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout)),
      ),
    );
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      plain: { requests: number; non2xx: number };
      proto: { requests: number; non2xx: number };
      ratio: number;
    };
    for (const p of [r.plain, r.proto]) {
      assert.ok(p.requests > 100, `wrk counted ${p.requests} requests`);
      assert.equal(p.non2xx, 0);
    }
    assert.ok(r.ratio > 0 && r.ratio < 2, String(r.ratio));
  });
});
