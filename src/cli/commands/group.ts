/**
 * `sesame group ...`: the organization's groups from the command line (issue #19, item 1), as the
 * operator. Groups are named (any case), not by id; `import` checks the whole file and adds nothing
 * unless every row is right (with --dry-run it only shows what it would do).
 */
import fs from 'node:fs';
import { OPERATOR } from '../../domain/accounts/actor.js';
import { membershipRowsFromCsv } from '../../domain/groups/group-csv.js';
import { GROUP_USES, type GroupUse } from '../../domain/groups/model.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';

export const GROUP_USAGE = `  sesame group list <domain>
  sesame group add <domain> <name> [--description TEXT]
  sesame group remove <domain> <name>
  sesame group members <domain> <name>
  sesame group add-member <domain> <name> <address>
  sesame group remove-member <domain> <name> <address>
  sesame group import <domain> <file.csv> [--dry-run]     (columns address,group; all or nothing)
  sesame group limits <domain> [--app-passwords NAME|everyone] [--ldap NAME|everyone] [--radius NAME|everyone]
  sesame group app <domain> <client-id> [NAME|everyone]   (the group an OIDC app requires)`;

const LIMIT_FLAGS: Record<string, GroupUse> = { 'app-passwords': 'app_passwords', ldap: 'ldap', radius: 'radius' };

export const group: CommandGroup = {
  async run({ verb, rest, config, io }) {
    switch (verb) {
      case 'list': {
        const p = parse(rest, {}, 1);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const groups = await ctx.groups.list(OPERATOR, o.id);
          if (groups.length === 0) io.out(`organization ${o.domain}: no groups`);
          for (const g of groups)
            io.out(`${g.name}\t${g.members} member(s)${g.description ? `\t${g.description}` : ''}`);
          return 0;
        });
      }
      case 'add': {
        const p = parse(rest, { description: { type: 'string' } }, 2);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const g = await ctx.groups.create(
            OPERATOR,
            o.id,
            p.positionals[1]!,
            ((p.values as Record<string, unknown>).description as string | undefined) ?? '',
          );
          io.out(`group ${g.name} created in ${o.domain}`);
          return 0;
        });
      }
      case 'remove': {
        const p = parse(rest, {}, 2);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const g = await ctx.groups.byName(OPERATOR, o.id, p.positionals[1]!);
          await ctx.groups.remove(OPERATOR, o.id, g.id);
          io.out(`group ${g.name} deleted from ${o.domain}`);
          return 0;
        });
      }
      case 'members': {
        const p = parse(rest, {}, 2);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const g = await ctx.groups.byName(OPERATOR, o.id, p.positionals[1]!);
          const members = await ctx.groups.members(OPERATOR, o.id, g.id);
          if (members.length === 0) io.out(`group ${g.name}: no members`);
          for (const m of members) io.out(m.address);
          return 0;
        });
      }
      case 'add-member':
      case 'remove-member': {
        const p = parse(rest, {}, 3);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const g = await ctx.groups.byName(OPERATOR, o.id, p.positionals[1]!);
          const address = p.positionals[2]!;
          if (verb === 'add-member') {
            const u = await ctx.groups.addMember(OPERATOR, o.id, g.id, address);
            io.out(`${u.address} is a member of ${g.name}`);
          } else {
            const removed = await ctx.groups.removeMember(OPERATOR, o.id, g.id, address);
            io.out(removed ? `${address} removed from ${g.name}` : `${address} was not a member of ${g.name}`);
          }
          return 0;
        });
      }
      case 'import': {
        const p = parse(rest, { 'dry-run': { type: 'boolean' } }, 2);
        const file = p.positionals[1]!;
        let bytes: Uint8Array;
        try {
          bytes = fs.readFileSync(file);
        } catch (e) {
          throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
        }
        const rows = membershipRowsFromCsv(bytes);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const plan = await ctx.groups.importMembers(
            OPERATOR,
            o.id,
            rows,
            !(p.values as Record<string, unknown>)['dry-run'],
          );
          for (const x of plan.problems) io.err(`row ${x.row}: ${x.problem.replaceAll('_', ' ')}: ${x.value}`);
          for (const a of plan.adds) io.out(`${plan.applied ? 'added' : 'would add'} ${a.address} to ${a.group}`);
          io.out(
            `${plan.adds.length} to add, ${plan.already} already member(s), ${plan.problems.length} problem(s)${plan.problems.length ? ': nothing changed' : plan.applied ? '' : ' (dry run: nothing changed)'}`,
          );
          return plan.problems.length ? 1 : 0;
        });
      }
      case 'limits': {
        const p = parse(rest, Object.fromEntries(Object.keys(LIMIT_FLAGS).map((k) => [k, { type: 'string' }])), 1);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          for (const [flag, use] of Object.entries(LIMIT_FLAGS)) {
            const v = (p.values as Record<string, unknown>)[flag];
            if (typeof v !== 'string') continue;
            const id = v === 'everyone' ? null : (await ctx.groups.byName(OPERATOR, o.id, v)).id;
            await ctx.groups.setLimit(OPERATOR, o.id, use, id);
          }
          const limits = await ctx.groups.limits(OPERATOR, o.id);
          const names = new Map((await ctx.groups.list(OPERATOR, o.id)).map((g) => [g.id, g.name]));
          for (const use of GROUP_USES) {
            const id = limits[use];
            io.out(`${use}: ${id === null ? 'everyone' : `members of ${names.get(id) ?? id}`}`);
          }
          return 0;
        });
      }
      case 'app': {
        const p = parse(rest, {}, rest.length === 3 ? 3 : 2);
        return withContext(config, async (ctx) => {
          const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
          const clientId = p.positionals[1]!;
          const want = p.positionals[2];
          if (want !== undefined) {
            const id = want === 'everyone' ? null : (await ctx.groups.byName(OPERATOR, o.id, want)).id;
            await ctx.groups.setAppGroup(OPERATOR, o.id, clientId, id);
          }
          const id = await ctx.groups.appGroup(OPERATOR, o.id, clientId);
          const names = new Map((await ctx.groups.list(OPERATOR, o.id)).map((g) => [g.id, g.name]));
          io.out(`app ${clientId}: ${id === null ? 'everyone' : `members of ${names.get(id) ?? id}`}`);
          return 0;
        });
      }
      default:
        throw new UsageError(verb ? `unknown command "group ${verb}"` : 'group needs a command');
    }
  },
};
