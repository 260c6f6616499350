/**
 * Where the test suite's CPU goes: with SESAME_TEST_CPU_LOG set (scripts/run-tests.sh loads this
 * module with `--import` into every test file's process), each file appends one line to that file
 * when it exits: its own CPU seconds and those of the children it waited for (the server, the CLI
 * runs, Chromium, the clients), from /proc/self/stat. Daemons that detach (Dovecot, nginx, a
 * PostgreSQL cluster) are not counted. The suite runs CPU-bound on two cores (measured: 96-99%
 * busy throughout), so its wall time is this total over two, and this says what to make cheaper.
 */
import fs from 'node:fs';

const log = process.env.SESAME_TEST_CPU_LOG;
if (log && process.env.NODE_TEST_CONTEXT) {
  process.on('exit', () => {
    try {
      // Fields after the command name: utime, stime, cutime, cstime are the 12th-15th (in ticks).
      const stat = fs.readFileSync('/proc/self/stat', 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const tick = 100;
      const self = (Number(f[11]) + Number(f[12])) / tick;
      const children = (Number(f[13]) + Number(f[14])) / tick;
      const file = process.argv.find((a) => a.endsWith('.test.js')) ?? process.argv[1] ?? '?';
      fs.appendFileSync(log, `${JSON.stringify({ file, self, children, uptime: process.uptime() })}\n`);
    } catch {
      // Accounting only: never fail a test file for it.
    }
  });
}
