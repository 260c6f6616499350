/**
 * The signed-in user's app passwords over JSON (/me/app-passwords): list, create (needs recent
 * authentication in this session: domain/sessions/recent-auth.ts), rename one, delete one, delete all.
 */
import type { FastifyInstance } from 'fastify';
import { PROTOCOLS } from '../../domain/app-passwords/model.js';
import {
  appPasswordListOut as listOut,
  appPasswordOut,
  appPasswordSchema,
  errors,
  idParam,
  type PinBody,
  pinBody,
  pinIn,
  pinInput,
  secured,
} from '../../web/api.js';
import { bearerAuth } from '../../web/guards.js';
import type { Services } from '../../web/services.js';

export function registerSecurityInfoApi(api: FastifyInstance, ctx: Services) {
  const authenticate = bearerAuth(ctx);

  api.get(
    '/me/app-passwords',
    {
      schema: {
        tags: ['app passwords'],
        summary: 'Your app passwords (never the secrets).',
        security: secured,
        response: listOut,
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      return { appPasswords: (await ctx.appPasswords.list(user)).map(appPasswordOut) };
    },
  );

  api.post<{ Body: { name: string; protocols?: string[]; pin?: PinBody } }>(
    '/me/app-passwords',
    {
      schema: {
        tags: ['app passwords'],
        summary:
          'Creates an app password and returns it once. Needs recent authentication in this session (GET /me/reauth): 403 fresh_mfa_required or password_reauth_required otherwise. `protocols` limits what it may be used for; without it, all the organization allows. An empty list, or a protocol the organization does not allow, is 400 app_password_protocols_invalid. `pin` limits where it may be used from (named locations of the organization and/or one network), on top of the organization’s location rules.',
        security: secured,
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            protocols: {
              type: 'array',
              items: { type: 'string', enum: [...PROTOCOLS] },
              maxItems: PROTOCOLS.length,
              uniqueItems: true,
              description: 'What it may be used for, among what the organization allows.',
            },
            pin: pinIn,
          },
          required: ['name'],
          additionalProperties: false,
        },
        response: {
          201: { type: 'object', properties: { appPassword: appPasswordSchema, password: { type: 'string' } } },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { user, session } = await authenticate(req);
      const made = await ctx.appPasswords.create(
        user,
        session,
        req.body.name,
        { ip: req.ip, locale: req.locale },
        req.body.protocols,
        pinInput(req.body.pin),
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ appPassword: appPasswordOut(made.appPassword), password: made.password });
    },
  );

  api.patch<{ Params: { id: string }; Body: { name: string } }>(
    '/me/app-passwords/:id',
    {
      schema: {
        tags: ['app passwords'],
        summary:
          'Renames one of your app passwords. Only the name changes: apps that use it keep working with the same secret.',
        security: secured,
        params: idParam,
        body: {
          type: 'object',
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 } },
          required: ['name'],
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { appPassword: appPasswordSchema } }, ...errors },
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      return { appPassword: appPasswordOut(await ctx.appPasswords.rename(user, req.params.id, req.body.name)) };
    },
  );

  api.put<{ Params: { id: string }; Body: { pin: PinBody } }>(
    '/me/app-passwords/:id/pin',
    {
      schema: {
        tags: ['app passwords'],
        summary:
          'Pins one of your app passwords to named locations and/or one network, or (null) unpins it. Narrowing needs nothing more; widening or unpinning needs recent authentication in this session, as creating does. Mail servers are told to forget cached answers for you.',
        security: secured,
        params: idParam,
        body: pinBody,
        response: { 200: { type: 'object', properties: { appPassword: appPasswordSchema } }, ...errors },
      },
    },
    async (req) => {
      const { user, session } = await authenticate(req);
      return {
        appPassword: appPasswordOut(
          await ctx.appPasswords.setPin(user, session, req.params.id, pinInput(req.body.pin)),
        ),
      };
    },
  );

  api.delete<{ Params: { id: string } }>(
    '/me/app-passwords/:id',
    {
      schema: {
        tags: ['app passwords'],
        summary: 'Deletes one of your app passwords.',
        security: secured,
        params: idParam,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = await authenticate(req);
      await ctx.appPasswords.remove(user, req.params.id);
      return reply.code(204).send();
    },
  );

  api.delete(
    '/me/app-passwords',
    {
      schema: {
        tags: ['app passwords'],
        summary: 'Deletes all your app passwords.',
        security: secured,
        response: { 200: { type: 'object', properties: { deleted: { type: 'integer' } } }, ...errors },
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      return { deleted: await ctx.appPasswords.removeAll(user) };
    },
  );
}
