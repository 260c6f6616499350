/** `sesame locks show|lift <address>`, `sesame locks lift-ip <ip>`: the operator sees and lifts sign-in locks. */
import { OPERATOR } from '../../domain/accounts/actor.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';

const VERBS = ['show', 'lift', 'lift-ip'];

export const LOCKS_USAGE = `  sesame locks show <address>
  sesame locks lift <address>
  sesame locks lift-ip <ip>`;

export const locks: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (!verb || !VERBS.includes(verb)) throw new UsageError(`unknown command "${`locks ${verb ?? ''}`.trim()}"`);
    const target = parse(rest, {}, 1).positionals[0]!;
    return withContext(config, async (ctx) => {
      if (verb === 'show') {
        const l = await ctx.locks.ofUser(OPERATOR, target);
        const s = (n: number) => (n > 0 ? `locked for ${n} s` : 'not locked');
        io.out(`main password from familiar networks: ${s(l.mainPassword.familiar)}`);
        io.out(`main password from elsewhere: ${s(l.mainPassword.unfamiliar)}`);
        io.out(`second step: ${s(l.secondFactor)}`);
      } else if (verb === 'lift') {
        await ctx.locks.liftForUser(OPERATOR, target);
        io.out(`sign-in locks of ${target.trim().toLowerCase()} lifted`);
      } else {
        await ctx.locks.liftForIp(OPERATOR, null, target);
        io.out(`locks of ${target.trim()} lifted`);
      }
      return 0;
    });
  },
};
