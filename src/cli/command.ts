/** The shape of a command group of the `sesame` command (org, user, keys, ...). */
import type { Config } from '../config/config.js';
import type { CliIo } from './io.js';

export interface CommandRun {
  /** The word after the group (`add` of `sesame org add`), if any. */
  verb: string | undefined;
  /** Everything after the verb. */
  rest: string[];
  /** Everything after the group (for groups that parse their own verbs and flags). */
  args: string[];
  config: Readonly<Config>;
  io: CliIo;
}

export interface CommandGroup {
  /** Runs the command; returns the exit code. Throws UsageError (exit 2) or a SesameError (exit 1). */
  run(r: CommandRun): Promise<number>;
}
