/** `sesame user add|disable|enable|mfa|reregister|link`: one user at a time, as the operator. */
import { OPERATOR } from '../../domain/accounts/actor.js';
import { formatTime } from '../../i18n/format.js';
import { setPasswordPath } from '../../web/links.js';
import { printUrl } from '../public-url.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';

const VERBS = ['add', 'disable', 'enable', 'mfa', 'reregister', 'link'];

export const user: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (!verb || !VERBS.includes(verb)) throw new UsageError(`unknown command "${`user ${verb ?? ''}`.trim()}"`);
    // Parse (and read the password from standard input) before touching the store, so wrong usage changes nothing.
    const p =
      verb === 'add'
        ? parse(
            rest,
            { name: { type: 'string' }, admin: { type: 'boolean' }, 'password-stdin': { type: 'boolean' } },
            1,
          )
        : parse(rest, {}, verb === 'mfa' ? 2 : 1);
    const v = p.values as { name?: string; admin?: boolean; 'password-stdin'?: boolean };
    const address = p.positionals[0]!;
    const password = v['password-stdin'] ? (await io.readStdin()).replace(/\r?\n$/, '') : undefined;
    return withContext(config, async (ctx) => {
      switch (verb) {
        case 'add': {
          const u = await ctx.accounts.addUser(OPERATOR, {
            address,
            name: v.name,
            role: v.admin ? 'admin' : 'user',
            password,
          });
          io.out(`user ${u.address} added${u.role === 'admin' ? ' as admin' : ''}`);
          if (password === undefined) {
            const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, u.address);
            io.out(`one-time set-password link (valid until ${formatTime(link.expiresAt)}):`);
            printUrl(io, ctx.config, setPasswordPath(link.token));
          }
          break;
        }
        case 'disable': {
          const u = await ctx.accounts.disableUser(OPERATOR, address);
          io.out(`user ${u.address} disabled; their sessions are ended`);
          break;
        }
        case 'enable': {
          const u = await ctx.accounts.enableUser(OPERATOR, address);
          io.out(`user ${u.address} enabled`);
          break;
        }
        case 'mfa': {
          const u = await ctx.mfaAdmin.setUserState(OPERATOR, address, p.positionals[1]!);
          io.out(`MFA for ${u.address} is now ${u.mfaState}`);
          break;
        }
        case 'reregister': {
          const u = await ctx.mfaAdmin.requireReRegistration(OPERATOR, address);
          io.out(`${u.address} must register MFA again at the next sign-in; methods cleared, sessions ended`);
          break;
        }
        case 'link': {
          // The way back for a forgotten password, or an account someone else's guesses keep locked:
          // the link works while the account is locked, and setting the password lifts the lock.
          const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, address);
          io.out(`one-time set-password link for ${link.user.address} (valid until ${formatTime(link.expiresAt)}):`);
          printUrl(io, ctx.config, setPasswordPath(link.token));
          break;
        }
      }
      return 0;
    });
  },
};
