/** `sesame app-passwords list|revoke-all <address>`: a user's app passwords, as the operator. */
import { OPERATOR } from '../../domain/accounts/actor.js';
import { formatTime } from '../../i18n/format.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';

export const appPasswords: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (verb !== 'list' && verb !== 'revoke-all')
      throw new UsageError(`unknown command "${`app-passwords ${verb ?? ''}`.trim()}"`);
    const address = parse(rest, {}, 1).positionals[0]!;
    return withContext(config, async (ctx) => {
      if (verb === 'list') {
        const { user, appPasswords: list } = await ctx.appPasswords.listFor(OPERATOR, address);
        io.out(`${list.length} app password(s) of ${user.address}`);
        for (const p of list) {
          const used = p.lastUsedAt
            ? `${formatTime(p.lastUsedAt)} ${p.lastUsedProtocol ?? ''} ${p.lastUsedIp ?? ''}`.trim()
            : 'never';
          // A name is the user's text: control characters would let it rewrite the operator's terminal.
          io.out(
            `${p.id}  "${p.name.replace(/[\u0000-\u001f\u007f]/g, '?')}"  created ${formatTime(p.createdAt)}  last used ${used}  expires ${p.expiresAt ? formatTime(p.expiresAt) : 'never'}  ${p.protocols.join(',')}`,
          );
        }
      } else {
        const n = await ctx.appPasswords.revokeAllFor(OPERATOR, address);
        io.out(`${n} app password(s) of ${address.trim().toLowerCase()} deleted`);
      }
      return 0;
    });
  },
};
