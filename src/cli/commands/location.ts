/**
 * `sesame location ...`: the organization's named locations from the command line (issue #20,
 * item 1), as the operator, by name (any case); and the country the shipped (or configured) data
 * gives an address, to check a location before relying on it.
 */
import { OPERATOR } from '../../domain/accounts/actor.js';
import { parseIp } from '../../lib/ip.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';

export const LOCATION_USAGE = `  sesame location list <domain>
  sesame location add <domain> <name> [--network CIDR]... [--country CC]...   (at least one; host bits zero)
  sesame location remove <domain> <name>
  sesame location show-country <ip>   (the country the IP-to-country data gives, or unknown)
  sesame location rules <domain>   (where each protocol may be used from)
  sesame location rule <domain> <protocol> anywhere|never|<location>[,<location>...] [--group NAME]
      (one rule, replacing the one for that protocol and group; "anywhere" without --group removes it)`;

export const location: CommandGroup = {
  async run({ verb, rest, config, io }) {
    switch (verb) {
      case 'list': {
        const p = parse(rest, {}, 1);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const locations = await ctx.locations.list(OPERATOR, o.id);
          if (locations.length === 0) io.out(`organization ${o.domain}: no named locations`);
          for (const l of locations) io.out(`${l.name}\t${[...l.networks, ...l.countries].join(' ')}`);
          return 0;
        });
      }
      case 'add': {
        const p = parse(
          rest,
          { network: { type: 'string', multiple: true }, country: { type: 'string', multiple: true } },
          2,
        );
        const values = p.values as { network?: string[]; country?: string[] };
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const l = await ctx.locations.create(OPERATOR, o.id, {
            name: p.positionals[1]!,
            networks: values.network ?? [],
            countries: values.country ?? [],
          });
          io.out(`location ${l.name} created in ${o.domain}: ${[...l.networks, ...l.countries].join(' ')}`);
          return 0;
        });
      }
      case 'remove': {
        const p = parse(rest, {}, 2);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const l = await ctx.locations.byName(OPERATOR, o.id, p.positionals[1]!);
          await ctx.locations.remove(OPERATOR, o.id, l.id);
          io.out(`location ${l.name} deleted from ${o.domain}`);
          return 0;
        });
      }
      case 'show-country': {
        const p = parse(rest, {}, 1);
        const ip = p.positionals[0]!;
        if (!parseIp(ip)) throw new UsageError(`not an IP address: ${ip}`);
        // The data the server uses: SESAME_GEOIP_COUNTRY_FILE, or the shipped file.
        return withContext(config, async (ctx) => {
          io.out(`${ip}\t${(await ctx.geoip.country(ip)) ?? 'unknown'}`);
          return 0;
        });
      }
      case 'rules': {
        const p = parse(rest, {}, 1);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const [rules, locations, groups] = await Promise.all([
            ctx.locations.rules(OPERATOR, o.id),
            ctx.locations.list(OPERATOR, o.id),
            ctx.groups.list(OPERATOR, o.id),
          ]);
          const names = new Map([...locations, ...groups].map((x) => [x.id, x.name]));
          if (rules.length === 0) io.out(`organization ${o.domain}: no location rules (every protocol from anywhere)`);
          for (const r of rules)
            io.out(
              `${r.protocol}\t${r.groupId ? (names.get(r.groupId) ?? r.groupId) : 'everyone'}\t${
                r.mode === 'locations'
                  ? r.locationIds
                      .map((id) => names.get(id) ?? id)
                      .sort((a, b) => a.localeCompare(b))
                      .join(',')
                  : r.mode
              }`,
            );
          return 0;
        });
      }
      case 'rule': {
        const p = parse(rest, { group: { type: 'string' } }, 3);
        const [domain, protocol, where] = p.positionals as [string, string, string];
        const groupName = (p.values as { group?: string }).group;
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(domain);
          const groupId = groupName ? (await ctx.groups.byName(OPERATOR, o.id, groupName)).id : null;
          const mode = where === 'anywhere' || where === 'never' ? where : 'locations';
          const locationIds =
            mode === 'locations'
              ? await Promise.all(
                  where.split(',').map(async (name) => (await ctx.locations.byName(OPERATOR, o.id, name)).id),
                )
              : [];
          const others = (await ctx.locations.rules(OPERATOR, o.id)).filter(
            (r) => !(r.protocol === protocol.toLowerCase() && r.groupId === groupId),
          );
          // "anywhere" for everyone is what no rule means: the rule goes rather than stay as noise.
          const keep = mode === 'anywhere' && groupId === null ? [] : [{ protocol, groupId, mode, locationIds }];
          const rules = await ctx.locations.setRules(OPERATOR, o.id, [...others, ...keep]);
          io.out(
            `organization ${o.domain}: ${rules.length} location rules; ${protocol.toLowerCase()} ${groupName ? `for ${groupName} ` : ''}${mode === 'locations' ? `only from ${where}` : mode}`,
          );
          return 0;
        });
      }
      default:
        throw new UsageError(verb ? `unknown command "location ${verb}"` : 'location needs a command');
    }
  },
};
