/**
 * Which tier this run is (test/tiers.txt). scripts/test-fast.sh sets SESAME_TEST_TIER=fast; the
 * full suite (scripts/test.sh) sets nothing. A file of the fast tier may hold a suite that starts
 * the real server or the CLI as a child process: it registers that suite only `if (FULL_TIER)`.
 */
export const FULL_TIER = process.env.SESAME_TEST_TIER !== 'fast';
