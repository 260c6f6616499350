/** `sesame integration add|list|remove|config` (and `check`, in integration-check.ts): the keys with which mail servers and proxies ask Sesame, and their files. */
import { formatTime } from '../../i18n/format.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';
import { runIntegrationCheck } from './integration-check.js';
import { integrationConfig } from './integration-config.js';

export const integration: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (verb === 'config') return integrationConfig(rest, config, io);
    if (verb === 'check') return runIntegrationCheck(rest, config, io);
    if (verb !== 'add' && verb !== 'list' && verb !== 'remove')
      throw new UsageError(`unknown command "${`integration ${verb ?? ''}`.trim()}"`);
    const name = parse(rest, {}, verb === 'list' ? 0 : 1).positionals[0] ?? '';
    return withContext(config, async (ctx) => {
      if (verb === 'add') {
        const { integration: i, key } = await ctx.integrations.add(name);
        io.out(`integration ${i.name} added; its key (shown once; send it as "Authorization: Bearer <key>"):`);
        io.out(key);
      } else if (verb === 'list') {
        for (const i of await ctx.integrations.list()) {
          io.out(`${i.name}  added ${formatTime(i.createdAt)}`);
          if (i.lastSeen) io.out(`  last seen ${formatTime(i.lastSeen.at)} on ${i.lastSeen.endpoint}`);
          // A mail server asking with a service name Sesame does not know: the operator's to fix.
          if (i.lastConfigError)
            io.out(`  last configuration error ${formatTime(i.lastConfigError.at)}: ${i.lastConfigError.detail}`);
        }
      } else {
        await ctx.integrations.remove(name);
        io.out(`integration ${name} removed; its key no longer works`);
      }
      return 0;
    });
  },
};
