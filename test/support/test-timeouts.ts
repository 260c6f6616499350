/**
 * A timeout for every test and hook, so a hung one fails with its own name.
 *
 * scripts/run-tests.sh sets SESAME_TEST_TIMEOUT_MS and loads this module with `--import` into the
 * runner, which passes that flag on to the process of every test file; there (NODE_TEST_CONTEXT is
 * set) it gives each test and hook that has no timeout, neither its own nor one inherited from a
 * suite, SESAME_TEST_TIMEOUT_MS.
 *
 * Why not `--test-timeout` alone: in Node 20 it bounds each test FILE (the runner's subtests), not
 * the tests inside it, so a hung test fails as its file, after the file's whole budget, with the
 * hung test's name nowhere in the report; and hooks (before/after) never inherit a timeout at all.
 * node:test has no public setting for the default timeout inside a file, and wrapping `it` and
 * `describe` would make every test's reported location the wrapper's. So this patches the two
 * methods of Node's internal Test class that create tests and hooks (hence `--expose-internals`).
 * If a Node release changes them, this module throws rather than silently dropping the timeouts,
 * and test/unit/test-tiers.test.ts, which hangs a test on purpose, fails.
 *
 * Without SESAME_TEST_TIMEOUT_MS (a file run by hand with `node --test`) this does nothing.
 */
import { createRequire } from 'node:module';

type Options = Record<string, unknown> | undefined;
interface TestLike {
  /** null or Infinity: none. */
  timeout: number | null;
  createSubtest(
    Factory: unknown,
    name: unknown,
    options: unknown,
    fn: unknown,
    overrides?: Record<string, unknown>,
  ): unknown;
  createHook(name: string, fn: unknown, options: Options): unknown;
}

const ms = Number(process.env.SESAME_TEST_TIMEOUT_MS);
if (process.env.NODE_TEST_CONTEXT && Number.isFinite(ms) && ms > 0) {
  const internals = createRequire(import.meta.url)('internal/test_runner/test') as {
    Test?: { prototype: TestLike };
    Suite?: { prototype: object };
  };
  const { Test, Suite } = internals;
  if (
    !Test ||
    !Suite ||
    typeof Test.prototype.createSubtest !== 'function' ||
    typeof Test.prototype.createHook !== 'function'
  ) {
    throw new Error(
      'test-timeouts: this Node has no internal Test.createSubtest/createHook; see test/support/test-timeouts.ts',
    );
  }
  const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object';
  const { createSubtest, createHook } = Test.prototype;

  // test(name?, options?, fn?) and describe(...) end here, on the parent. A suite keeps Node's rule
  // (it inherits its parent's timeout, and bounds all its tests together when it names one); a test
  // that names no timeout and has none to inherit gets the default.
  Test.prototype.createSubtest = function (this: TestLike, Factory, name, options, fn, overrides) {
    const given = isObject(name) ? name : isObject(options) ? options : undefined;
    const isSuite =
      typeof Factory === 'function' &&
      (Factory === Suite ||
        (Factory as { prototype: object }).prototype instanceof (Suite as unknown as new () => object));
    if (!isSuite && given?.timeout === undefined && (this.timeout == null || this.timeout === Infinity))
      overrides = { ...overrides, timeout: ms };
    return createSubtest.call(this, Factory, name, options, fn, overrides);
  };
  Test.prototype.createHook = function (this: TestLike, name, fn, options) {
    return createHook.call(this, name, fn, options?.timeout === undefined ? { ...options, timeout: ms } : options);
  };
}
