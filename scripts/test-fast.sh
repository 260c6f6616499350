#!/usr/bin/env bash
# The fast tier (`npm run test:fast`): builds, then runs the test files test/tiers.txt lists, on
# SQLite only and without the suites that start child-process servers; no PostgreSQL, Chromium or
# mail servers needed. The whole suite is `npm test` (scripts/test.sh), which CI runs.
#   scripts/test-fast.sh           build and run the fast tier
#   scripts/test-fast.sh --list    print its files (compiled paths), one a line, and stop
set -euo pipefail
cd "$(dirname "$0")/.."

# A hung test fails after 60 s with its name; the slowest test of this tier takes under 10 s on a
# busy 2-core machine (importing 50,000 users), the slowest file under 30 s (the same, with its
# seeding). A file that has not exited 3 minutes after it started fails: it usually left a handle
# open (a hung test's socket, say), and the whole tier is meant to take less than that.
TEST_TIMEOUT_MS=60000
FILE_TIMEOUT_MS=180000

# The files test/tiers.txt selects, as dist/test/....js paths. A pattern that matches nothing is an
# error, so the list cannot silently go stale.
fast_tier_files() {
  local include=() exclude=() sources=() line f p keep hit
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [ -n "$line" ] || continue
    if [[ $line == '!'* ]]; then exclude+=("${line#!}"); else include+=("$line"); fi
  done < test/tiers.txt
  mapfile -t sources < <(cd test && find . -name '*.test.ts' | sed 's|^\./||' | LC_ALL=C sort)
  for p in "${include[@]}" "${exclude[@]}"; do
    hit=0
    for f in "${sources[@]}"; do [[ $f == $p ]] && { hit=1; break; }; done
    [ "$hit" = 1 ] || { echo "test-fast.sh: test/tiers.txt: \"$p\" matches no test file" >&2; return 1; }
  done
  for f in "${sources[@]}"; do
    keep=0
    for p in "${include[@]}"; do [[ $f == $p ]] && keep=1; done
    for p in "${exclude[@]}"; do [[ $f == $p ]] && keep=0; done
    if [ "$keep" = 1 ]; then echo "dist/test/${f%.ts}.js"; fi
  done
}

if [ "${1:-}" = --list ]; then
  fast_tier_files
  exit 0
fi

files="$(fast_tier_files)"
mapfile -t files <<< "$files"
[ -d node_modules ] || npm install --no-audit --no-fund
# An incremental build (what changed since the last fast run; the record lives in dist/, so
# removing dist/ starts afresh). `npm run build` and `npm test` still compile everything.
npx tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo-fast
export SESAME_TEST_STORES=sqlite SESAME_TEST_TIER=fast
exec bash scripts/run-tests.sh "$TEST_TIMEOUT_MS" "$FILE_TIMEOUT_MS" "${files[@]}"
