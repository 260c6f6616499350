#!/usr/bin/env node
// The `sesame` command: the compiled CLI lives in dist/ (built by `npm install` through `prepare`).
import('../dist/src/cli/main.js')
  .then((m) => m.runCli(process.argv.slice(2)))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    },
  );
