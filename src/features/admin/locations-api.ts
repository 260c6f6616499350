/**
 * Named locations over JSON (issue #20, item 1): list and create under /locations, one location
 * under /locations/{id} (read, replace, delete). Always the caller's organization: a location of
 * another organization is `location_not_found`. The rules that use them (item 2) under
 * /location-rules: read, replace all at once.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PROTOCOLS } from '../../domain/app-passwords/model.js';
import { LOCATION_NETWORKS_MAX, type NamedLocation } from '../../domain/locations/model.js';
import { LOCATION_MODES, type LocationRule, RULES_MAX } from '../../domain/locations/rules.js';
import type { RuleInput } from '../../domain/locations/service.js';
import { errors, idParam, iso, secured } from '../../web/api.js';
import type { ApiCaller } from '../../web/guards.js';
import type { Services } from '../../web/services.js';

const locationSchema = {
  type: 'object',
  required: ['id', 'name', 'networks', 'countries', 'created', 'updated'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    networks: {
      type: 'array',
      items: { type: 'string' },
      description: 'Canonical CIDR networks (IPv4 and IPv6), sorted.',
    },
    countries: { type: 'array', items: { type: 'string' }, description: 'ISO 3166-1 alpha-2 codes, sorted.' },
    created: { type: 'string', format: 'date-time' },
    updated: { type: 'string', format: 'date-time' },
  },
} as const;

const locationIn = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 300, description: 'Unique in the organization, whatever the case.' },
    networks: {
      type: 'array',
      maxItems: LOCATION_NETWORKS_MAX,
      items: { type: 'string', maxLength: 64 },
      description:
        'Networks in CIDR notation (192.0.2.0/24, 2001:db8::/32; a bare address is one address). Host bits must be zero: 400 `location_network_invalid` otherwise.',
    },
    countries: {
      type: 'array',
      maxItems: 300,
      items: { type: 'string', maxLength: 8 },
      description: 'ISO 3166-1 alpha-2 codes (NL, BE); 400 `location_country_invalid` for any other.',
    },
  },
} as const;

type LocationBody = { name: string; networks?: string[]; countries?: string[] };

const locationOut = (l: NamedLocation) => ({
  id: l.id,
  name: l.name,
  networks: l.networks,
  countries: l.countries,
  created: iso(l.createdAt),
  updated: iso(l.updatedAt),
});

const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['protocol', 'group', 'mode', 'locations'],
  properties: {
    protocol: { type: 'string', enum: [...PROTOCOLS] },
    group: {
      type: ['string', 'null'],
      description: "A group's id: the rule is for its members instead of the organization-wide rule; null: everyone.",
    },
    mode: {
      type: 'string',
      enum: [...LOCATION_MODES],
      description: '`anywhere`, `locations` (only from the named locations listed) or `never`.',
    },
    locations: {
      type: 'array',
      maxItems: 500,
      items: { type: 'string', maxLength: 64 },
      description: 'Location ids, for `locations` mode (at least one); ignored for the others.',
    },
  },
} as const;

const rulesIn = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    rules: {
      type: 'array',
      maxItems: RULES_MAX,
      items: { ...ruleSchema, required: ['protocol', 'mode'] },
      description:
        'Every rule of the organization (this replaces them all; [] allows every protocol from anywhere). At most one per protocol and group. A member of several groups with rules for a protocol is allowed where any of them allows; a protocol without a rule is allowed from anywhere.',
    },
  },
} as const;

const rulesOut = {
  type: 'object',
  required: ['rules'],
  properties: { rules: { type: 'array', items: ruleSchema } },
} as const;

type RulesBody = { rules: { protocol: string; group?: string | null; mode: string; locations?: string[] }[] };

const ruleOut = (r: LocationRule) => ({
  protocol: r.protocol,
  group: r.groupId,
  mode: r.mode,
  locations: r.locationIds,
});

const ruleIn = (r: RulesBody['rules'][number]): RuleInput => ({
  protocol: r.protocol,
  groupId: r.group ?? null,
  mode: r.mode,
  locationIds: r.locations ?? [],
});

const input = (b: LocationBody) => ({ name: b.name, networks: b.networks ?? [], countries: b.countries ?? [] });

export function registerLocationsApi(
  api: FastifyInstance,
  ctx: Services,
  authenticate: (req: FastifyRequest) => Promise<ApiCaller>,
) {
  const tags = ['locations'];
  api.get(
    '/locations',
    {
      schema: {
        tags,
        summary: "The organization's named locations, by name.",
        security: secured,
        response: {
          200: {
            type: 'object',
            required: ['locations'],
            properties: { locations: { type: 'array', items: locationSchema } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { locations: (await ctx.locations.list(actor, user.orgId)).map(locationOut) };
    },
  );

  api.post<{ Body: LocationBody }>(
    '/locations',
    {
      schema: {
        tags,
        summary:
          'Creates a named location: at least one network or country (400 `location_empty`); 409 `location_exists` when the organization has one of that name.',
        security: secured,
        body: locationIn,
        response: { 201: locationSchema, ...errors },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      return reply.code(201).send(locationOut(await ctx.locations.create(actor, user.orgId, input(req.body))));
    },
  );

  api.get<{ Params: { id: string } }>(
    '/locations/:id',
    {
      schema: {
        tags,
        summary: 'One named location.',
        security: secured,
        params: idParam,
        response: { 200: locationSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return locationOut(await ctx.locations.get(actor, user.orgId, req.params.id));
    },
  );

  api.put<{ Params: { id: string }; Body: LocationBody }>(
    '/locations/:id',
    {
      schema: {
        tags,
        summary: "Replaces a named location's name, networks and countries (left out: none).",
        security: secured,
        params: idParam,
        body: locationIn,
        response: { 200: locationSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return locationOut(await ctx.locations.update(actor, user.orgId, req.params.id, input(req.body)));
    },
  );

  api.delete<{ Params: { id: string } }>(
    '/locations/:id',
    {
      schema: {
        tags,
        summary: 'Deletes a named location.',
        security: secured,
        params: idParam,
        response: {
          200: { type: 'object', required: ['deleted'], properties: { deleted: { type: 'boolean' } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      await ctx.locations.remove(actor, user.orgId, req.params.id);
      return { deleted: true };
    },
  );

  api.get(
    '/location-rules',
    {
      schema: {
        tags,
        summary:
          "The organization's location rules: where each legacy protocol may be used from (none: every protocol from anywhere).",
        security: secured,
        response: { 200: rulesOut, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { rules: (await ctx.locations.rules(actor, user.orgId)).map(ruleOut) };
    },
  );

  api.put<{ Body: RulesBody }>(
    '/location-rules',
    {
      schema: {
        tags,
        summary:
          'Replaces all the location rules. Applied by every instance at the next sign-in; one bad rule (400 `location_rule_invalid`, 404 `location_not_found`) changes nothing.',
        security: secured,
        body: rulesIn,
        response: { 200: rulesOut, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { rules: (await ctx.locations.setRules(actor, user.orgId, req.body.rules.map(ruleIn))).map(ruleOut) };
    },
  );
}
