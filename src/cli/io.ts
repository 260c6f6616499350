/** What every CLI command shares: its input and output, wrong usage as an error, and argument parsing. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => Promise<string>;
  env: Record<string, string | undefined>;
  /** Text to standard output as it is (no line end added): CSV with its CRLF line ends. */
  write?: (s: string) => void;
  /** Progress to standard error, redrawn in place (`\r`) on a terminal, whole lines otherwise. */
  progress?: { write: (s: string) => void; isTTY: boolean };
}

export const defaultIo: CliIo = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
  write: (s) => process.stdout.write(s),
  progress: { write: (s) => process.stderr.write(s), isTTY: process.stderr.isTTY === true },
};

/** Wrong usage: one line and exit 2, before anything is opened or changed. */
export class UsageError extends Error {}

/** Parses a command's flags strictly, with exactly `positionals` arguments; anything else is a UsageError. */
export function parse(args: string[], options: ParseArgsConfig['options'], positionals: number) {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (r.positionals.length !== positionals)
      throw new UsageError(`expected ${positionals} argument(s), got ${r.positionals.length}`);
    return r;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}
