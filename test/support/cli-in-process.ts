/**
 * `sesame <command> ...` run in this process against a world's store (src/cli/main.ts's runCli),
 * its output captured: for the CLI tests that need no child process.
 */
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/main.js';
import type { World } from './world.js';

export interface InProcessCli {
  /** Runs `sesame <command> ...args`; `out` and `err` then hold this run's lines. */
  run(...args: string[]): Promise<number>;
  readonly out: string[];
  readonly err: string[];
}

export function cliFor(command: string, world: () => World): InProcessCli {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    async run(...args) {
      out.length = 0;
      err.length = 0;
      const w = world();
      const io: CliIo = {
        out: (s) => out.push(s),
        err: (s) => err.push(s),
        readStdin: async () => '',
        env: { SESAME_DATA_DIR: w.store.dataDir, DATABASE_URL: w.store.databaseUrl, LOG_LEVEL: 'silent' },
      };
      return runCli([command, ...args], io);
    },
  };
}
