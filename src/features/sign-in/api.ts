/**
 * Signing in over JSON: POST /sessions with address and password answers 201 with a session token,
 * or 200 with a flow that the client drives through /flow (flow-api.ts) until an answer carries a
 * token. Bearer tokens, never cookies: cross-site requests carry no credentials and need no CSRF token.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Step } from '../../domain/flows/sign-in-flow.js';
import { errors, iso, secured } from '../../web/api.js';
import { clientMeta as meta } from '../../web/forms.js';
import { bearerAuth } from '../../web/guards.js';
import type { Services } from '../../web/services.js';
import { flowOut, flowSchema, registerFlowApi, sessionSchema } from './flow-api.js';

export function registerSignInApi(api: FastifyInstance, ctx: Services) {
  const authenticate = bearerAuth(ctx);
  /** A started session, as every sign-in answer that ends in one returns it. */
  const sessionOut = (step: Extract<Step, { done: true }>, reply: FastifyReply) =>
    reply
      .code(201)
      .header('cache-control', 'no-store')
      .send({ token: step.token, expiresAt: iso(step.session.expiresAt), amr: step.session.amr });
  registerFlowApi(api, ctx, sessionOut);

  api.post<{ Body: { email: string; password: string } }>(
    '/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Sign in with address and main password; returns a session token for the Authorization header.',
        body: {
          type: 'object',
          properties: { email: { type: 'string', maxLength: 254 }, password: { type: 'string', maxLength: 1024 } },
          required: ['email', 'password'],
          additionalProperties: false,
        },
        response: {
          201: { ...sessionSchema, required: ['token', 'expiresAt'] },
          200: flowSchema,
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const user = await ctx.signIn.authenticate(req.body.email, req.body.password, { ...meta(req), protocol: 'api' });
      const step = await ctx.flows.afterPassword(user, { ...meta(req), protocol: 'api', locale: req.locale }, '/');
      if (step.done) return sessionOut(step, reply);
      // A second factor or a registration is needed first: the flow continues under /flow.
      return reply
        .code(200)
        .header('cache-control', 'no-store')
        .send(flowOut(await ctx.flows.view(step.flow, user), step.flowToken));
    },
  );

  api.delete(
    '/sessions/current',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Sign out: ends this session.',
        security: secured,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      const { sessionId } = await authenticate(req);
      await ctx.sessions.end(sessionId);
      return reply.code(204).send();
    },
  );
}
