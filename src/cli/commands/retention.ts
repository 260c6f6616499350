/**
 * `sesame retention [--apply]`: what retention (storage/retention.ts) would remove now, per table,
 * with its rule; with --apply, removes it (in the same small batches as the server's hourly run,
 * so it is safe while the server runs) and records one audit row for the run.
 */
import { retentionSettings } from '../../app/background-jobs.js';
import { Retention, runRetention } from '../../storage/retention.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse } from '../io.js';

export const retention: CommandGroup = {
  async run({ args, config, io }) {
    const apply = (parse(args, { apply: { type: 'boolean' } }, 0).values as { apply?: boolean }).apply === true;
    return withContext(config, async (ctx) => {
      const r = new Retention(ctx.store, retentionSettings(config));
      const now = ctx.clock.now();
      const counts = apply
        ? await runRetention(r, ctx.audit, now, { by: 'sesame retention --apply' })
        : await r.plan(now);
      const width = Math.max(...counts.map((c) => c.table.length));
      for (const c of counts) io.out(`${c.table.padEnd(width)}  ${String(c.rows).padStart(9)}  ${c.rule}`);
      const total = counts.reduce((n, c) => n + c.rows, 0);
      io.out(apply ? `${total} row(s) removed` : `${total} row(s) would be removed; run with --apply to remove them`);
      return 0;
    });
  },
};
