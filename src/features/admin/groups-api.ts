/**
 * Groups over JSON (issue #19, item 1): list and create under /groups, one group under
 * /groups/{id} (read, rename, delete), its members under /groups/{id}/members, and which group each
 * use requires under /groups/limits. Always the caller's organization: a group of another
 * organization is `group_not_found`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GROUP_USES, type Group, type GroupLimits, type GroupMember } from '../../domain/groups/model.js';
import { errors, idParam, iso, secured } from '../../web/api.js';
import type { ApiCaller } from '../../web/guards.js';
import type { Services } from '../../web/services.js';

const groupSchema = {
  type: 'object',
  required: ['id', 'name', 'description', 'created'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    created: { type: 'string', format: 'date-time' },
    members: { type: 'integer', description: 'How many members (in lists).' },
  },
} as const;

const memberSchema = {
  type: 'object',
  required: ['address', 'name', 'added'],
  properties: { address: { type: 'string' }, name: { type: 'string' }, added: { type: 'string', format: 'date-time' } },
} as const;

const limitsSchema = {
  type: 'object',
  required: [...GROUP_USES],
  properties: Object.fromEntries(
    GROUP_USES.map((u) => [
      u,
      { type: 'string', nullable: true, description: 'Id of the group required; null: everyone.' },
    ]),
  ),
} as const;

const groupIn = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', maxLength: 300, description: 'Unique in the organization, whatever the case.' },
    description: { type: 'string', maxLength: 1000 },
  },
} as const;

const addressIn = {
  type: 'object',
  additionalProperties: false,
  required: ['address'],
  properties: { address: { type: 'string', maxLength: 254 } },
} as const;

const memberParams = {
  type: 'object',
  required: ['id', 'address'],
  properties: { id: { type: 'string', maxLength: 64 }, address: { type: 'string', maxLength: 254 } },
} as const;

const groupOut = (g: Group & { members?: number }) => ({
  id: g.id,
  name: g.name,
  description: g.description,
  created: iso(g.createdAt),
  ...(g.members !== undefined ? { members: g.members } : {}),
});
const memberOut = (m: GroupMember) => ({ address: m.address, name: m.name, added: iso(m.addedAt) });
const limitsOut = (l: GroupLimits) => ({ ...l });

export function registerGroupsApi(
  api: FastifyInstance,
  ctx: Services,
  authenticate: (req: FastifyRequest) => Promise<ApiCaller>,
) {
  const tags = ['groups'];
  api.get(
    '/groups',
    {
      schema: {
        tags,
        summary: "The organization's groups, by name, with how many members each has.",
        security: secured,
        response: {
          200: { type: 'object', required: ['groups'], properties: { groups: { type: 'array', items: groupSchema } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { groups: (await ctx.groups.list(actor, user.orgId)).map(groupOut) };
    },
  );

  api.post<{ Body: { name: string; description?: string } }>(
    '/groups',
    {
      schema: {
        tags,
        summary: 'Creates a group (409 `group_exists` when the organization has one of that name).',
        security: secured,
        body: groupIn,
        response: { 201: groupSchema, ...errors },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      const g = await ctx.groups.create(actor, user.orgId, req.body.name, req.body.description ?? '');
      return reply.code(201).send(groupOut(g));
    },
  );

  api.get(
    '/groups/limits',
    {
      schema: {
        tags,
        summary: 'Which group each use requires (app passwords, LDAP, RADIUS); null: everyone of the organization.',
        security: secured,
        response: { 200: limitsSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return limitsOut(await ctx.groups.limits(actor, user.orgId));
    },
  );

  api.put<{ Body: Partial<Record<string, string | null>> }>(
    '/groups/limits',
    {
      schema: {
        tags,
        summary:
          'Sets the group a use requires (a group id, or null for everyone); uses left out are unchanged. Takes effect at the next attempt.',
        security: secured,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: Object.fromEntries(GROUP_USES.map((u) => [u, { type: 'string', nullable: true, maxLength: 64 }])),
        },
        response: { 200: limitsSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      let limits = await ctx.groups.limits(actor, user.orgId);
      for (const use of GROUP_USES) {
        const v = req.body[use];
        if (v !== undefined) limits = await ctx.groups.setLimit(actor, user.orgId, use, v);
      }
      return limitsOut(limits);
    },
  );

  const appParams = {
    type: 'object',
    required: ['clientId'],
    properties: { clientId: { type: 'string', maxLength: 64 } },
  } as const;
  const appGroupSchema = {
    type: 'object',
    required: ['group'],
    properties: { group: { type: 'string', nullable: true, description: 'Id of the group required; null: everyone.' } },
  } as const;

  api.get<{ Params: { clientId: string } }>(
    '/groups/apps/:clientId',
    {
      schema: {
        tags,
        summary: 'The group an OIDC app of the organization requires of who signs in to it (null: everyone).',
        security: secured,
        params: appParams,
        response: { 200: appGroupSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { group: await ctx.groups.appGroup(actor, user.orgId, req.params.clientId) };
    },
  );

  api.put<{ Params: { clientId: string }; Body: { group: string | null } }>(
    '/groups/apps/:clientId',
    {
      schema: {
        tags,
        summary:
          'Sets the group an OIDC app requires (a group id, or null for everyone): from the next sign-in, token refresh or userinfo call.',
        security: secured,
        params: appParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['group'],
          properties: { group: { type: 'string', nullable: true, maxLength: 64 } },
        },
        response: { 200: appGroupSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      await ctx.groups.setAppGroup(actor, user.orgId, req.params.clientId, req.body.group);
      return { group: await ctx.groups.appGroup(actor, user.orgId, req.params.clientId) };
    },
  );

  api.get<{ Params: { id: string } }>(
    '/groups/:id',
    {
      schema: {
        tags,
        summary: 'One group.',
        security: secured,
        params: idParam,
        response: { 200: groupSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return groupOut(await ctx.groups.get(actor, user.orgId, req.params.id));
    },
  );

  api.put<{ Params: { id: string }; Body: { name: string; description?: string } }>(
    '/groups/:id',
    {
      schema: {
        tags,
        summary: 'Renames a group and replaces its description.',
        security: secured,
        params: idParam,
        body: groupIn,
        response: { 200: groupSchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const b = req.body;
      return groupOut(await ctx.groups.update(actor, user.orgId, req.params.id, b.name, b.description ?? ''));
    },
  );

  api.delete<{ Params: { id: string } }>(
    '/groups/:id',
    {
      schema: {
        tags,
        summary: 'Deletes a group and its memberships (409 `group_in_use` while a use requires it).',
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
      await ctx.groups.remove(actor, user.orgId, req.params.id);
      return { deleted: true };
    },
  );

  api.get<{ Params: { id: string } }>(
    '/groups/:id/members',
    {
      schema: {
        tags,
        summary: 'The members of a group, by address.',
        security: secured,
        params: idParam,
        response: {
          200: {
            type: 'object',
            required: ['members'],
            properties: { members: { type: 'array', items: memberSchema } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { members: (await ctx.groups.members(actor, user.orgId, req.params.id)).map(memberOut) };
    },
  );

  api.post<{ Params: { id: string }; Body: { address: string } }>(
    '/groups/:id/members',
    {
      schema: {
        tags,
        summary:
          'Adds a user of the organization (400 `group_wrong_organization` for anyone else); adding a member again changes nothing.',
        security: secured,
        params: idParam,
        body: addressIn,
        response: {
          200: { type: 'object', required: ['address'], properties: { address: { type: 'string' } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const added = await ctx.groups.addMember(actor, user.orgId, req.params.id, req.body.address);
      return { address: added.address };
    },
  );

  api.delete<{ Params: { id: string; address: string } }>(
    '/groups/:id/members/:address',
    {
      schema: {
        tags,
        summary: 'Removes a member; what the group gave them is refused from their next attempt.',
        security: secured,
        params: memberParams,
        response: {
          200: { type: 'object', required: ['removed'], properties: { removed: { type: 'boolean' } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { removed: await ctx.groups.removeMember(actor, user.orgId, req.params.id, req.params.address) };
    },
  );
}
