/**
 * `sesame users import` and `sesame users export`: the admin Users console's bulk change and
 * listing for files of any size, through the same domain services as the web page (BulkChanges,
 * UserDirectory), as the operator.
 *
 *   sesame users import <file.csv> [--org DOMAIN] [--action mfa|reregister|disable] [--dry-run]
 *   sesame users export [--org DOMAIN]
 *
 * Import checks every row first and changes nothing if one is bad (each bad row is printed, exit
 * 1); otherwise it applies all rows in one transaction and prints a result per row. Progress goes
 * to standard error: a bar redrawn in place on a terminal, a plain line every tenth otherwise (logs,
 * CI). Export writes CSV to standard output, a batch of users at a time.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createContext } from '../../app/context.js';
import type { Config } from '../../config/config.js';
import { OPERATOR } from '../../domain/accounts/actor.js';
import { type BulkProgress, isBulkOperation, type PlannedRow } from '../../domain/accounts/bulk-changes.js';
import { bulkRowsFromCsv, exportHeader, exportLine } from '../../domain/accounts/user-csv.js';
import { isSesameError } from '../../domain/errors.js';
import { translator } from '../../i18n/i18n.js';
import type { MessageId } from '../../i18n/en.js';
import type { CommandGroup } from '../command.js';
import type { CliIo } from '../io.js';

export const USERS_USAGE = `  sesame users import <file.csv> [--org DOMAIN] [--action mfa|reregister|disable] [--dry-run]
  sesame users export [--org DOMAIN]`;

const BAR = 30;

/**
 * Renders progress for `phase`: on a terminal one line redrawn in place (`\r`), finished with a
 * line end; elsewhere a line at each tenth, so a log gets 10 lines, not 50,000.
 */
export function progressRenderer(out: { write: (s: string) => void; isTTY: boolean }): BulkProgress & { end(): void } {
  let lastTenth = -1;
  let lastPhase = '';
  let open = false;
  const render: BulkProgress = (phase, done, total) => {
    const frac = total ? done / total : 1;
    if (phase !== lastPhase) {
      if (open) out.write('\n');
      open = false;
      lastPhase = phase;
      lastTenth = -1;
    }
    if (out.isTTY) {
      const filled = Math.round(frac * BAR);
      out.write(
        `\r${phase.padEnd(8)} [${'#'.repeat(filled)}${' '.repeat(BAR - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${done}/${total}`,
      );
      open = true;
      return;
    }
    const tenth = Math.floor(frac * 10);
    if (tenth === lastTenth || (tenth === 0 && done < total)) return;
    lastTenth = tenth;
    out.write(`${phase}: ${done}/${total}\n`);
  };
  return Object.assign(render, {
    end() {
      if (open) out.write('\n');
      open = false;
    },
  });
}

const t = translator('en');

function problemText(r: PlannedRow): string {
  return r.problem === 'duplicate'
    ? t('bulk.problem.duplicate', { row: r.duplicateOf ?? 0 })
    : t(`bulk.problem.${r.problem!}` as MessageId);
}

/** Runs `sesame users ...` (args after "users"); returns the exit code. */
export async function runUsersCommand(args: string[], config: Readonly<Config>, io: CliIo): Promise<number> {
  const verb = args[0] ?? '';
  const usage = (why: string) => {
    io.err(`sesame: ${why}. Run "sesame help" for usage.`);
    return 2;
  };
  if (verb !== 'import' && verb !== 'export')
    return usage(verb ? `unknown command "users ${verb}"` : 'users needs import or export');
  let parsed: { values: { org?: string; action?: string; 'dry-run'?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: args.slice(1),
      options:
        verb === 'import'
          ? { org: { type: 'string' }, action: { type: 'string' }, 'dry-run': { type: 'boolean' } }
          : { org: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return usage((e as Error).message.split('\n')[0]!);
  }
  const want = verb === 'import' ? 1 : 0;
  if (parsed.positionals.length !== want)
    return usage(`expected ${want} argument(s), got ${parsed.positionals.length}`);
  const action = parsed.values.action ?? 'mfa';
  if (!isBulkOperation(action)) return usage('--action takes mfa, reregister or disable');
  let bytes: Buffer | undefined;
  if (verb === 'import') {
    try {
      bytes = fs.readFileSync(parsed.positionals[0]!);
    } catch (e) {
      io.err(
        `sesame: users import: cannot read ${parsed.positionals[0]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
      return 1;
    }
  }
  const write = io.write ?? ((s: string) => io.out(s.replace(/\r?\n$/, '')));
  const ctx = await createContext(config);
  try {
    const org =
      parsed.values.org === undefined ? undefined : await ctx.accounts.organizationByDomain(parsed.values.org);
    if (verb === 'export') {
      const orgs = org ? [org] : await ctx.accounts.listOrganizations();
      write(exportHeader());
      let n = 0;
      for (const o of orgs) {
        for await (const batch of ctx.directory.all(OPERATOR, o.id)) {
          write(batch.map(exportLine).join(''));
          n += batch.length;
        }
      }
      io.err(`exported ${n} user(s)`);
      return 0;
    }
    const rows = bulkRowsFromCsv(bytes!, action);
    const progress = io.progress ? progressRenderer(io.progress) : undefined;
    const result = parsed.values['dry-run']
      ? { plan: await ctx.bulkChanges.plan(OPERATOR, org?.id, action, rows, progress), changed: 0 }
      : await ctx.bulkChanges.apply(OPERATOR, org?.id, action, rows, undefined, progress);
    progress?.end();
    const { plan } = result;
    if (plan.problems) {
      for (const r of plan.rows.filter((x) => x.problem)) io.err(`row ${r.row}: ${r.address}: ${problemText(r)}`);
      io.err(`sesame: users import: ${plan.problems} bad row(s) of ${plan.rows.length}; nothing was changed`);
      return 1;
    }
    const changes = plan.rows.filter((r) => r.changes).length;
    for (const r of plan.rows) {
      const what =
        action === 'mfa'
          ? `${r.target!.mfaState} -> ${r.mfaState}`
          : action === 'reregister'
            ? 'must register again'
            : 'disabled';
      io.out(
        `row ${r.row}: ${r.address}: ${r.changes ? (parsed.values['dry-run'] ? `would change (${what})` : `changed (${what})`) : 'unchanged'}`,
      );
    }
    io.err(
      parsed.values['dry-run']
        ? `dry run: ${changes} user(s) would change, ${plan.rows.length - changes} unchanged; nothing was changed`
        : `${result.changed} user(s) changed, ${plan.rows.length - changes} unchanged`,
    );
    return 0;
  } catch (e) {
    if (!isSesameError(e)) throw e;
    io.err(`sesame: users ${verb}: ${t(e.messageId as MessageId, e.params)} (${e.code})`);
    return 1;
  } finally {
    await ctx.close();
  }
}

export const users: CommandGroup = { run: ({ args, config, io }) => runUsersCommand(args, config, io) };
