/**
 * The Named locations pages (issue #20, item 1): the list and one location's page (GET), and every
 * change (POST, post/redirect/get with a notice). Deleting first answers with a confirmation page;
 * only the same POST with `confirm=1` acts. A refused form comes back as it was typed, with the
 * error, and nothing changed. "Check an address" is a GET of the list with `ip`: it changes
 * nothing, so it needs no CSRF token, and its answer can be bookmarked. Registered by routes.ts
 * with its guards: an admin of the organization with a second factor, and the CSRF token on every
 * POST.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { isSesameError, SesameError } from '../../domain/errors.js';
import { PROTOCOLS, type Protocol } from '../../domain/app-passwords/model.js';
import { compileLocations } from '../../domain/locations/matcher.js';
import { LOCATION_MODES, type LocationMode, type LocationRule } from '../../domain/locations/model.js';
import type { RuleInput } from '../../domain/locations/service.js';
import { parseIp } from '../../lib/ip.js';
import { confirmationPage, confirmed } from '../../web/components.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { field, fieldList } from '../../web/forms.js';
import { actorOf } from '../../web/guards.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import {
  type AddressCheck,
  type LocationForm,
  locationPage,
  locationPagePath,
  locationsPage,
  type RuleChoice,
  type RulesView,
} from './locations-pages.js';
import { withNotice } from './user-routes.js';

const LIST = '/admin/locations';

/** The form as typed: 500 networks of an IPv6 prefix each fit in the networks' limit. */
function formOf(body: unknown): LocationForm {
  return {
    name: field(body, 'name', 300),
    networks: field(body, 'networks', 40_000),
    countries: field(body, 'countries', 4_000),
  };
}

/** One network or country a line; commas and spaces separate too (neither occurs in one). */
const items = (text: string) => text.split(/[\s,;]+/).filter((s) => s !== '');

const input = (f: LocationForm) => ({ name: f.name, networks: items(f.networks), countries: items(f.countries) });

/** A rule's mode and ticked locations as posted; the mode as sent (the domain refuses a bad one). */
function choiceOf(body: unknown, suffix: string): { mode: string; locationIds: string[] } {
  const name = (f: string) => (suffix ? `${f}_${suffix}` : f);
  return { mode: field(body, name('mode'), 16), locationIds: fieldList(body, name('locations'), 64).slice(0, 500) };
}

/** What a refused form shows again: a mode it cannot show is shown as "from anywhere". */
const shown = (c: { mode: string; locationIds: string[] }): RuleChoice => ({
  mode: (LOCATION_MODES as readonly string[]).includes(c.mode) ? (c.mode as LocationMode) : 'anywhere',
  locationIds: c.locationIds,
});

const asInput = (r: LocationRule): RuleInput => ({ ...r });

export function registerLocationsRoutes(
  app: FastifyInstance,
  ctx: Services,
  admin: RouteShorthandOptions,
  adminForm: RouteShorthandOptions,
) {
  const notices = (req: FastifyRequest, m: string | undefined, name: string) =>
    (
      ({
        created: req.t('locations.notice.created', { name }),
        saved: req.t('locations.notice.saved', { name }),
        deleted: req.t('locations.notice.deleted', { name }),
        rules: req.t('locations.rules.saved'),
        group_rule: req.t('locations.rules.groups.added', { name }),
        group_rule_removed: req.t('locations.rules.groups.removed', { name }),
      }) as Record<string, string>
    )[m ?? ''];

  const showList = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: Omit<Partial<Parameters<typeof locationsPage>[1]>, 'rules'> = {},
    status = 200,
    rulesExtra: Pick<RulesView, 'orgForm' | 'groupForm' | 'errorOf'> = {},
  ) => {
    const actor = actorOf(req);
    const orgId = req.user!.orgId;
    const [locations, rules, groups] = await Promise.all([
      ctx.locations.list(actor, orgId),
      ctx.locations.rules(actor, orgId),
      ctx.groups.list(actor, orgId),
    ]);
    const view: RulesView = { rules, groups: groups.map((g) => ({ id: g.id, name: g.name })), ...rulesExtra };
    return send(reply, locationsPage(pageContext(req, reply, LIST), { locations, ...extra, rules: view }), status);
  };

  const showLocation = async (
    req: FastifyRequest,
    reply: FastifyReply,
    id: string,
    extra: Partial<Parameters<typeof locationPage>[1]> = {},
    status = 200,
  ) => {
    const location = await ctx.locations.get(actorOf(req), req.user!.orgId, id);
    return send(reply, locationPage(pageContext(req, reply, locationPagePath(id)), { location, ...extra }), status);
  };

  /** A refusal on the location's page with the form as typed (or the list, when the location itself is not to be found). */
  const refused = async (req: FastifyRequest, reply: FastifyReply, id: string, e: SesameError, form?: LocationForm) => {
    const error = userMessage(req, e);
    if (e.code === 'location_not_found' || id === '') return showList(req, reply, { error }, HTTP_STATUS[e.code]);
    return showLocation(req, reply, id, { error, ...(form ? { form } : {}) }, HTTP_STATUS[e.code]);
  };

  /**
   * Which locations hold `ip`, and its country. The country data is read at the first lookup (a
   * second or so); when it cannot be read the networks are still checked, and the page says so.
   */
  const check = async (req: FastifyRequest, ip: string): Promise<AddressCheck> => {
    const locations = await ctx.locations.list(actorOf(req), req.user!.orgId);
    const table = await ctx.geoip.table().catch((e: unknown) => {
      req.log.warn({ err: e }, 'the country data could not be read');
      return undefined;
    });
    const matches = compileLocations(locations, table ? (n) => table.country(n) : undefined).matches(ip);
    return { ip, matches, country: table ? table.country(ip) : null };
  };

  app.get<{ Querystring: { m?: string; n?: string; ip?: string } }>(LIST, admin, async (req, reply) => {
    const notice = notices(req, req.query.m, String(req.query.n ?? '').slice(0, 300));
    const ip = String(req.query.ip ?? '')
      .trim()
      .slice(0, 64);
    if (ip === '') return showList(req, reply, { notice });
    if (!parseIp(ip)) {
      const e = new SesameError('invalid_input', `location check: not an IP address ${JSON.stringify(ip)}`, {
        variant: 'location_check',
        params: { ip },
      });
      return showList(req, reply, { ip, error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
    return showList(req, reply, { ip, check: await check(req, ip) });
  });

  app.get<{ Querystring: { id?: string; m?: string; n?: string } }>(`${LIST}/location`, admin, async (req, reply) => {
    const id = String(req.query.id ?? '').slice(0, 64);
    try {
      return await showLocation(req, reply, id, {
        notice: notices(req, req.query.m, String(req.query.n ?? '').slice(0, 300)),
      });
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showList(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  app.post(LIST, adminForm, async (req, reply) => {
    const form = formOf(req.body);
    try {
      const l = await ctx.locations.create(actorOf(req), req.user!.orgId, input(form));
      return reply.redirect(withNotice(LIST, { m: 'created', n: l.name }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showList(req, reply, { error: userMessage(req, e), form }, HTTP_STATUS[e.code]);
    }
  });

  app.post(`${LIST}/update`, adminForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    const form = formOf(req.body);
    try {
      const l = await ctx.locations.update(actorOf(req), req.user!.orgId, id, input(form));
      return reply.redirect(withNotice(locationPagePath(id), { m: 'saved', n: l.name }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, id, e, form);
    }
  });

  app.post(`${LIST}/delete`, adminForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    const actor = actorOf(req);
    try {
      const l = await ctx.locations.get(actor, req.user!.orgId, id);
      if (!confirmed(req.body))
        return send(
          reply,
          confirmationPage(pageContext(req, reply, locationPagePath(id)), {
            title: req.t('locations.delete.confirm.title', { name: l.name }),
            effects: [
              req.t('locations.delete.confirm.holds', { networks: l.networks.length, countries: l.countries.length }),
            ],
            action: `${LIST}/delete`,
            fields: { id },
            button: req.t('locations.delete.button'),
            back: LIST,
          }),
        );
      await ctx.locations.remove(actor, req.user!.orgId, id);
      return reply.redirect(withNotice(LIST, { m: 'deleted', n: l.name }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, id, e);
    }
  });

  /**
   * Saves the whole rule list, or shows the list page with the error and the form as typed
   * (`rulesExtra`): one bad rule changes nothing (NamedLocations.setRules checks them all first).
   */
  const saveRules = async (
    req: FastifyRequest,
    reply: FastifyReply,
    rules: RuleInput[],
    done: Record<string, string>,
    rulesExtra: Pick<RulesView, 'orgForm' | 'groupForm' | 'errorOf'>,
  ) => {
    try {
      await ctx.locations.setRules(actorOf(req), req.user!.orgId, rules);
      return reply.redirect(`${withNotice(LIST, done)}#location-rules`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showList(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code], rulesExtra);
    }
  };

  // The organization-wide rows: "from anywhere" is what no rule means, so it is saved as none; the
  // groups' rules are kept as they are.
  app.post(`${LIST}/rules`, adminForm, async (req, reply) => {
    const posted = PROTOCOLS.map((p) => [p, choiceOf(req.body, p)] as const);
    const groups = (await ctx.locations.rules(actorOf(req), req.user!.orgId)).filter((r) => r.groupId !== null);
    const mine = posted
      .filter(([, c]) => c.mode !== 'anywhere')
      .map(([protocol, c]) => ({ protocol, groupId: null, mode: c.mode, locationIds: c.locationIds }));
    const orgForm = Object.fromEntries(posted.map(([p, c]) => [p, shown(c)])) as Record<Protocol, RuleChoice>;
    return saveRules(req, reply, [...mine, ...groups.map(asInput)], { m: 'rules' }, { orgForm, errorOf: 'org' });
  });

  /** The name of a group of the organization, for the notice (the id when it has none: setRules refuses it). */
  const groupName = async (req: FastifyRequest, id: string) =>
    (await ctx.groups.list(actorOf(req), req.user!.orgId)).find((g) => g.id === id)?.name ?? id;

  // A group's rule for a protocol, replacing the one it had for that protocol.
  app.post(`${LIST}/group-rules`, adminForm, async (req, reply) => {
    const groupId = field(req.body, 'group', 64);
    const protocol = field(req.body, 'protocol', 16);
    const c = choiceOf(req.body, '');
    const others = (await ctx.locations.rules(actorOf(req), req.user!.orgId)).filter(
      (r) => !(r.groupId === groupId && r.protocol === protocol),
    );
    return saveRules(
      req,
      reply,
      [...others.map(asInput), { protocol, groupId, mode: c.mode, locationIds: c.locationIds }],
      { m: 'group_rule', n: await groupName(req, groupId) },
      { groupForm: { groupId, protocol, ...shown(c) }, errorOf: 'group' },
    );
  });

  app.post(`${LIST}/group-rules/remove`, adminForm, async (req, reply) => {
    const groupId = field(req.body, 'group', 64);
    const protocol = field(req.body, 'protocol', 16);
    const rules = await ctx.locations.rules(actorOf(req), req.user!.orgId);
    const rest = rules.filter((r) => !(r.groupId === groupId && r.protocol === protocol));
    // Nothing to remove (removed already, in another tab): the list as it is, no change recorded.
    if (rest.length === rules.length) return reply.redirect(`${LIST}#location-rules`, 303);
    return saveRules(req, reply, rest.map(asInput), { m: 'group_rule_removed', n: await groupName(req, groupId) }, {});
  });
}
