#!/usr/bin/env bash
# Runs compiled test files with Node's test runner the way both tiers do (scripts/test.sh,
# scripts/test-fast.sh): several files at a time, and nothing can hang.
#   usage: scripts/run-tests.sh TEST_TIMEOUT_MS FILE_TIMEOUT_MS FILE...
# TEST_TIMEOUT_MS bounds every test and hook that has no timeout of its own, so a hung one fails
# with its name (test/support/test-timeouts.ts, loaded with --import into every file's process; it
# needs --expose-internals, see there).
# With SESAME_TEST_CPU_LOG=FILE, every test file adds a line of the CPU it used (test/support/cpu-usage.ts).
# SESAME_TEST_FILES_AT_ONCE (default 3) is how many test files run side by side: three keep two cores
# busy while the browser, mail-server and PostgreSQL tests wait on their child processes (measured:
# the full suite in 965 s at three, 1068 s at two, with no more failures).
# FILE_TIMEOUT_MS is Node 20's --test-timeout, which bounds each file as a whole: the backstop for a
# file that never exits (a handle left open after its tests).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 TEST_TIMEOUT_MS FILE_TIMEOUT_MS FILE..." >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
test_ms=$1 file_ms=$2
shift 2
export SESAME_TEST_TIMEOUT_MS="$test_ms"
exec node --expose-internals --import "$root/dist/test/support/test-timeouts.js" --import "$root/dist/test/support/cpu-usage.js" --test --test-concurrency="${SESAME_TEST_FILES_AT_ONCE:-3}" --test-timeout="$file_ms" "$@"
