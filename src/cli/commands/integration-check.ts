/**
 * `sesame integration check <name>`: whether a mail server or proxy reaches Sesame with its good
 * key, and what it last sent (issue #16, item 5). Read from the store, where the server saves what
 * each integration sent at most every ~10 s (Integrations.save), so a request of the last seconds
 * may not show yet. Exit 0 when the integration has been seen with its key; 1 with one line saying
 * why and what to do otherwise.
 */
import type { Config } from '../../config/config.js';
import type { IntegrationUse } from '../../domain/legacy/integrations.js';
import { formatTime } from '../../i18n/format.js';
import { withContext } from '../context.js';
import { parse, type CliIo } from '../io.js';
import { publicUrlOf } from '../public-url.js';

/** What a request sent, in one line (no user name is ever kept). */
export function describeUse(u: IntegrationUse): string {
  const parts = [
    u.service !== undefined ? `service ${JSON.stringify(u.service)}` : 'no service',
    u.reportedAddress !== undefined ? `reported client address ${u.reportedAddress}` : 'no client address',
    `from ${u.peer}`,
  ];
  return `${u.endpoint} (${parts.join(', ')}): ${u.outcome === 'config_error' ? 'refused as a configuration error' : 'answered'}`;
}

export async function runIntegrationCheck(rest: string[], config: Readonly<Config>, io: CliIo): Promise<number> {
  const name = parse(rest, {}, 1).positionals[0]!;
  const base = publicUrlOf(io) || '<SESAME_PUBLIC_URL>';
  return withContext(config, async (ctx) => {
    const i = (await ctx.integrations.list()).find((x) => x.name === name);
    const bad = await ctx.integrations.recentBadKeys(5);
    const printBad = () => {
      if (!bad.length) return;
      io.out(
        'recent requests with an unknown, revoked or missing key (of any server; a key cannot be tied to a name):',
      );
      for (const c of bad)
        io.out(
          `  ${formatTime(c.at)}  ${c.endpoint}  from ${c.peer}  ${c.keySent ? 'unknown or revoked key' : 'no key'}`,
        );
    };
    if (!i) {
      printBad();
      io.err(
        `sesame: integration check: no integration named "${name}": "sesame integration list" shows them; "sesame integration add ${name}" makes one and prints its key`,
      );
      return 1;
    }
    io.out(`integration ${i.name}: exists, added ${formatTime(i.createdAt)}`);
    if (i.lastSeen) io.out(`last seen with its key ${formatTime(i.lastSeen.at)}: ${describeUse(i.lastSeen)}`);
    else io.out('never seen with its key');
    if (i.lastConfigError)
      io.out(`last configuration error ${formatTime(i.lastConfigError.at)}: ${i.lastConfigError.detail}`);
    printBad();
    if (!i.lastSeen) {
      io.err(
        `sesame: integration check: ${i.name} has never reached Sesame with its key (saved every ~10 s): make the server send "Authorization: Bearer <key>" to ${base}; test the key by hand: curl -H "Authorization: Bearer <key>" ${base}/auth/integration-check`,
      );
      return 1;
    }
    return 0;
  });
}
