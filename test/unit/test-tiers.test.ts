/**
 * The test tiers themselves (test/tiers.txt, scripts/run-tests.sh): a hung test fails with its
 * name instead of hanging the run, and the fast tier holds no file that needs a server installed.
 *
 * The first suite runs scripts/run-tests.sh, the runner both tiers use, on a throwaway file with
 * tiny timeouts; the second checks that both tier scripts go through that runner with their
 * timeouts, and what the fast tier's files import.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { storeKindsFrom } from '../support/stores.js';

/** The compiled file is dist/test/unit/test-tiers.test.js: the repository is three levels up. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs a command in the repository without this runner's own NODE_TEST_CONTEXT (else the nested runner would report to us). */
function run(file: string, args: string[]): Promise<{ code: number | null; out: string; ms: number }> {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? ((err as { code?: number }).code ?? null) : 0,
        out: stdout + stderr,
        ms: Date.now() - started,
      });
    });
  });
}

const HANGS = `
import { after, before, describe, it } from 'node:test';
const handles = [];
// A real hang keeps the event loop busy (a socket, a timer); without it Node ends the file at once.
const hang = () => new Promise(() => handles.push(setInterval(() => {}, 1000)));
after(() => handles.forEach(clearInterval));
describe('a suite', () => {
  it('passes first', () => {});
  it('never resolves', hang);
  it('runs after the hung one', () => {});
});
describe('a suite whose before hook hangs', () => {
  before(hang);
  it('waits behind the hook', () => {});
});
describe('a suite with a timeout of its own', { timeout: 400 }, () => {
  it('inherits it', () => new Promise((resolve) => setTimeout(resolve, 300)));
});
`;

const NEVER_EXITS = `
import { it } from 'node:test';
it('passes but leaves a timer running', () => { setInterval(() => {}, 1000); });
`;

describe('scripts/run-tests.sh: nothing hangs', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-tiers-'));
    fs.writeFileSync(path.join(dir, 'hangs.test.mjs'), HANGS);
    fs.writeFileSync(path.join(dir, 'never-exits.test.mjs'), NEVER_EXITS);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fails a hung test and a hung hook by name after the test timeout, and runs the rest', async () => {
    const r = await run('bash', [
      'scripts/run-tests.sh',
      '250',
      '30000',
      '--test-reporter=tap',
      path.join(dir, 'hangs.test.mjs'),
    ]);
    assert.notEqual(r.code, 0, r.out);
    const hung = /not ok \d+ - never resolves\n\s+---\n([\s\S]*?)\n\s+\.\.\./.exec(r.out)?.[1] ?? '';
    assert.match(hung, /error: 'test timed out after 250ms'/, r.out);
    assert.match(hung, /location: '[^']*hangs\.test\.mjs:\d+:\d+'/, 'the hung test is reported where it is written');
    // Node 20 reports a failed hook as its suite's failure.
    assert.match(r.out, /not ok \d+ - a suite whose before hook hangs\n[\s\S]*?failureType: 'hookFailed'/, r.out);
    assert.match(r.out, /\bok \d+ - runs after the hung one/, r.out);
    assert.match(
      r.out,
      /\bok \d+ - inherits it/,
      'a test in a suite with a timeout of its own keeps that one (400 ms), not 250 ms',
    );
    assert.ok(r.ms < 20_000, `done in ${r.ms} ms, long before the file timeout`);
  });

  it('fails a file that never exits, by its name, after the file timeout', async () => {
    // 5 s: long enough for a loaded 2-core machine to start node and run the passing test first.
    const file = path.join(dir, 'never-exits.test.mjs');
    const r = await run('bash', ['scripts/run-tests.sh', '250', '5000', '--test-reporter=tap', file]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /\bok \d+ - passes but leaves a timer running/, r.out);
    assert.ok(
      new RegExp(`not ok \\d+ - ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`).test(r.out) &&
        /test timed out after 5000ms/.test(r.out),
      r.out,
    );
  });
});

describe('the tiers', () => {
  const script = (name: string) => fs.readFileSync(path.join(ROOT, 'scripts', name), 'utf8');
  const timeouts = (text: string) => [
    Number(/^TEST_TIMEOUT_MS=(\d+)$/m.exec(text)?.[1]),
    Number(/^FILE_TIMEOUT_MS=(\d+)$/m.exec(text)?.[1]),
  ];

  it('run through scripts/run-tests.sh, each with a test and a file timeout', () => {
    for (const name of ['test.sh', 'test-fast.sh']) {
      const text = script(name);
      assert.match(
        text,
        /^(exec )?bash scripts\/run-tests\.sh "\$TEST_TIMEOUT_MS" "\$FILE_TIMEOUT_MS" "\$\{files\[@\]\}"( \|\| rc=\$\?)?$/m,
        `${name} runs its files through scripts/run-tests.sh`,
      );
      const [test, file] = timeouts(text);
      assert.ok(test! > 0 && file! > test!, `${name}: a test timeout, and a larger file timeout (${test}, ${file})`);
    }
    assert.match(
      script('test.sh'),
      /^export SESAME_TEST_STORES=sqlite,postgres$/m,
      'the full tier always runs both stores',
    );
    assert.match(script('test-fast.sh'), /^export SESAME_TEST_STORES=sqlite SESAME_TEST_TIER=fast$/m);
  });

  it('SESAME_TEST_STORES: unset or empty is both stores; it narrows, and refuses a store it does not know', () => {
    assert.deepEqual(storeKindsFrom(undefined), ['sqlite', 'postgres']);
    assert.deepEqual(storeKindsFrom(''), ['sqlite', 'postgres']);
    assert.deepEqual(storeKindsFrom('sqlite'), ['sqlite']);
    assert.deepEqual(storeKindsFrom(' postgres , sqlite '), ['sqlite', 'postgres']);
    assert.throws(() => storeKindsFrom('sqlite,mysql'), /unknown store "mysql"/);
  });

  it('the fast tier: files that exist, and none that needs PostgreSQL, a browser, mail servers or child-process servers', async () => {
    const r = await run('bash', ['scripts/test-fast.sh', '--list']);
    assert.equal(r.code, 0, r.out);
    const files = r.out.trim().split('\n');
    assert.ok(files.length > 40, `${files.length} files`);
    for (const dir of ['unit', 'contract', 'http', 'security', 'flows', 'fuzz'])
      assert.ok(
        files.some((f) => f.startsWith(`dist/test/${dir}/`)),
        `test/${dir} is in the fast tier`,
      );
    for (const compiled of files) {
      const source = compiled.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      if (source === 'test/unit/test-tiers.test.ts') continue; // names what it looks for
      const text = fs.readFileSync(path.join(ROOT, source), 'utf8');
      for (const banned of [
        'support/probes.js',
        'support/mail-servers.js',
        'support/pg-cluster.js',
        'support/postgres.js',
        'support/admin-browser.js',
        'support/axe.js',
        'support/keyboard.js',
        "'playwright-core'",
      ]) {
        assert.ok(!text.includes(banned), `${source} imports ${banned}: it belongs to the full tier (test/tiers.txt)`);
      }
      if (/make(World|TestStore)\('postgres'/.test(text))
        assert.match(
          text,
          /if \(WITH_POSTGRES\)\s*describe\(/,
          `${source}: PostgreSQL through STORE_KINDS or storeOr(), or in suites registered if (WITH_POSTGRES)`,
        );
      if (text.includes('support/processes.js'))
        assert.match(
          text,
          /if \(FULL_TIER\)\s*describe\(/,
          `${source} starts child processes only in suites registered if (FULL_TIER)`,
        );
    }
  });
});
