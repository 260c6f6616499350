/**
 * `sesame app-passwords list|revoke-all <address>` and `sesame app-passwords pin <address> <id>`:
 * a user's app passwords, as the operator; pinning one to named locations or one address (a
 * scanner the admin hands out, issue #20).
 */
import { OPERATOR } from '../../domain/accounts/actor.js';
import { formatTime } from '../../i18n/format.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';

export const appPasswords: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (verb === 'pin') return pin(rest, config, io);
    if (verb !== 'list' && verb !== 'revoke-all')
      throw new UsageError(`unknown command "${`app-passwords ${verb ?? ''}`.trim()}"`);
    const address = parse(rest, {}, 1).positionals[0]!;
    return withContext(config, async (ctx) => {
      if (verb === 'list') {
        const { user, appPasswords: list } = await ctx.appPasswords.listFor(OPERATOR, address);
        const names = new Map((await ctx.locations.list(OPERATOR, user.orgId)).map((l) => [l.id, l.name]));
        io.out(`${list.length} app password(s) of ${user.address}`);
        for (const p of list) {
          const used = p.lastUsedAt
            ? `${formatTime(p.lastUsedAt)} ${p.lastUsedProtocol ?? ''} ${p.lastUsedIp ?? ''}`.trim()
            : 'never';
          // A name is the user's text: control characters would let it rewrite the operator's terminal.
          io.out(
            `${p.id}  "${p.name.replace(/[\u0000-\u001f\u007f]/g, '?')}"  created ${formatTime(p.createdAt)}  last used ${used}  expires ${p.expiresAt ? formatTime(p.expiresAt) : 'never'}  ${p.protocols.join(',')}${p.pin ? `  pinned ${[...p.pin.locationIds.map((id) => names.get(id) ?? id), ...(p.pin.network ? [p.pin.network] : [])].join(',')}` : ''}`,
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

/** `pin <address> <id> [--location NAME]... [--network CIDR] | --none`: replaces the pin. */
async function pin(
  rest: string[],
  config: Parameters<CommandGroup['run']>[0]['config'],
  io: Parameters<CommandGroup['run']>[0]['io'],
) {
  const p = parse(
    rest,
    { location: { type: 'string', multiple: true }, network: { type: 'string' }, none: { type: 'boolean' } },
    2,
  );
  const v = p.values as { location?: string[]; network?: string; none?: boolean };
  const [address, id] = p.positionals as [string, string];
  if (v.none && (v.location?.length || v.network)) throw new UsageError('--none goes alone');
  if (!v.none && !v.location?.length && !v.network) throw new UsageError('give --location, --network or --none');
  return withContext(config, async (ctx) => {
    const { user } = await ctx.appPasswords.listFor(OPERATOR, address);
    const locationIds = await Promise.all(
      (v.location ?? []).map(async (name) => (await ctx.locations.byName(OPERATOR, user.orgId, name)).id),
    );
    const ap = await ctx.appPasswords.setPinFor(
      OPERATOR,
      address,
      id,
      v.none ? null : { locationIds, network: v.network ?? null },
    );
    io.out(
      ap.pin
        ? `app password "${ap.name}" of ${user.address} may be used only from ${[...(v.location ?? []), ...(ap.pin.network ? [ap.pin.network] : [])].join(', ')}`
        : `app password "${ap.name}" of ${user.address} may be used wherever the organization's rules allow`,
    );
    return 0;
  });
}
