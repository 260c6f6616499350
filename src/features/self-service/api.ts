/**
 * The JSON side of self-service: "Forgot your password?" (anyone), the signed-in user's password,
 * sessions and sign-ins under /me, and an admin's "Send reset link". The same domain methods as the
 * pages (domain/self-service); the schemas feed the OpenAPI document. The reset link itself opens in
 * a browser (its second factor and new password are pages).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SignInEvent } from '../../domain/audit/events.js';
import type { Session } from '../../domain/sessions/session.js';
import {
  addressParam,
  errors as plainErrors,
  errorsWithDelivery as errors,
  idParam,
  iso,
  orgOut,
  orgSchema,
  pageQuery,
  secured,
  userOut,
  userSchema,
} from '../../web/api.js';
import { clientMeta } from '../../web/forms.js';
import { bearerAuth } from '../../web/guards.js';
import type { Services } from '../../web/services.js';
import { type CountryOf, countryLookup } from '../../web/countries.js';
import { summarizeUserAgent } from '../../web/user-agent.js';

const effectsSchema = {
  type: 'object',
  description: 'What changing the password does: say so before the user confirms.',
  properties: {
    endsOtherSessions: { type: 'boolean', description: 'Always true: every other session (browser or API) ends.' },
    revokesAppPasswords: {
      type: 'boolean',
      description: "The organization's policy: a password change revokes every app password.",
    },
    appPasswords: { type: 'integer', description: 'How many app passwords the user has now.' },
  },
  required: ['endsOtherSessions', 'revokesAppPasswords', 'appPasswords'],
} as const;

const sessionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    current: { type: 'boolean', description: 'The session making this request.' },
    via: { type: 'string', enum: ['web', 'api'] },
    ip: { type: 'string' },
    userAgent: { type: 'string' },
    device: { type: 'string', description: 'A short summary of the user agent, e.g. "Firefox · Windows".' },
    createdAt: { type: 'string', format: 'date-time' },
    lastSeenAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'current', 'via', 'ip', 'userAgent', 'device', 'createdAt', 'lastSeenAt', 'expiresAt'],
} as const;

const mySignInSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    outcome: { type: 'string', enum: ['success', 'failure', 'throttled'] },
    reason: { type: 'string' },
    protocol: { type: 'string' },
    ip: { type: 'string' },
    userAgent: { type: 'string' },
    appPasswordId: {
      type: 'string',
      nullable: true,
      description: 'Set when an app password was used: the row can be reported with POST /me/sign-ins/{id}/not-me.',
    },
    appPasswordName: { type: 'string', nullable: true, description: 'Null once that app password is deleted.' },
    count: {
      type: 'integer',
      minimum: 1,
      description:
        'How many identical failed attempts the row stands for (repeated failures are one row); `at` is the first.',
    },
    lastAt: { type: 'string', format: 'date-time', description: 'The last of those attempts (`at` when count is 1).' },
    country: {
      type: 'string',
      nullable: true,
      description:
        'The ISO 3166-1 alpha-2 country of `ip`, looked up when asked (IP geolocation by DB-IP, CC BY 4.0); null when none is known.',
    },
  },
  required: ['id', 'at', 'outcome', 'reason', 'protocol', 'ip', 'userAgent', 'count', 'lastAt'],
} as const;

function sessionOut(s: Session, currentId: string) {
  return {
    id: s.id,
    current: s.id === currentId,
    via: s.via ?? 'web',
    ip: s.ip,
    userAgent: s.userAgent,
    device: summarizeUserAgent(s.userAgent),
    createdAt: iso(s.createdAt),
    lastSeenAt: iso(s.lastSeenAt),
    expiresAt: iso(s.expiresAt),
  };
}

function signInOut(e: SignInEvent, country: CountryOf) {
  return {
    id: e.id,
    at: iso(e.at),
    outcome: e.outcome,
    reason: e.reason,
    protocol: e.protocol,
    ip: e.ip,
    userAgent: e.userAgent,
    appPasswordId: e.appPasswordId ?? null,
    appPasswordName: e.appPasswordName ?? null,
    count: e.count ?? 1,
    lastAt: iso(e.lastAt ?? e.at),
    country: country(e.ip) ?? null,
  };
}

export function registerSelfServiceApi(api: FastifyInstance, ctx: Services) {
  const authenticate = bearerAuth(ctx);
  const meta = (req: FastifyRequest) => ({ ...clientMeta(req), protocol: 'api', locale: req.locale });

  api.get(
    '/me',
    {
      schema: {
        tags: ['account'],
        summary: 'The signed-in user and their organization.',
        security: secured,
        response: {
          200: { type: 'object', properties: { user: userSchema, organization: orgSchema } },
          ...plainErrors,
        },
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      return { user: userOut(user), organization: orgOut(await ctx.accounts.getOrganization(user.orgId)) };
    },
  );

  api.post<{ Body: { email: string } }>(
    '/password-reset',
    {
      schema: {
        tags: ['self-service'],
        summary:
          "Forgot your password: emails a reset link to the account's verified alternate address, if it has one. The same answer whether or not the account exists; throttled per address and per client IP.",
        body: {
          type: 'object',
          properties: { email: { type: 'string', maxLength: 254 } },
          required: ['email'],
          additionalProperties: false,
        },
        response: {
          202: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      await ctx.passwordReset.request(req.body.email, { ip: req.ip, locale: req.locale });
      return reply.code(202).send({ message: req.t('forgot.sent') });
    },
  );

  api.get(
    '/me/password',
    {
      schema: {
        tags: ['self-service'],
        summary: 'What changing your password will do (sessions ended, app passwords revoked by policy).',
        security: secured,
        response: { 200: effectsSchema, ...errors },
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      return ctx.selfService.passwordChangeEffects(user);
    },
  );

  api.put<{ Body: { current: string; password: string } }>(
    '/me/password',
    {
      schema: {
        tags: ['self-service'],
        summary:
          'Changes your password. Needs the current one (checked and throttled like a sign-in), and for a user with a sign-in method a second factor proved in this session within the recent-authentication window (403 fresh_mfa_required); every other session ends; app passwords are revoked when the organization says so.',
        security: secured,
        body: {
          type: 'object',
          properties: { current: { type: 'string', maxLength: 1024 }, password: { type: 'string', maxLength: 1024 } },
          required: ['current', 'password'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { endedSessions: { type: 'integer' }, revokedAppPasswords: { type: 'integer' } },
            required: ['endedSessions', 'revokedAppPasswords'],
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, session } = await authenticate(req);
      return ctx.selfService.changePassword(
        user,
        session,
        { current: req.body.current, password: req.body.password, confirm: req.body.password },
        meta(req),
      );
    },
  );

  const recentSchema = {
    type: 'object',
    description:
      'Recent authentication ("sudo mode"): changing how you sign in (app passwords, the password) needs a proof made in this session within the window.',
    properties: {
      proof: {
        type: 'string',
        enum: ['second_factor', 'password'],
        description:
          'What you prove: `second_factor` when you have a method (sign in again: POST /sessions), `password` when you have none (POST /me/reauth).',
      },
      recentAuthUntil: {
        type: 'string',
        format: 'date-time',
        nullable: true,
        description: 'Until when this session may make such changes; null when it has no proof that counts.',
      },
    },
    required: ['proof', 'recentAuthUntil'],
  } as const;

  api.get(
    '/me/reauth',
    {
      schema: {
        tags: ['self-service'],
        summary: 'Whether this session authenticated recently enough to change how you sign in, and how to renew it.',
        security: secured,
        response: { 200: recentSchema, ...plainErrors },
      },
    },
    async (req) => {
      const { user, session } = await authenticate(req);
      const until = await ctx.recentAuth.until(user, session);
      return {
        proof: await ctx.recentAuth.proofFor(user),
        recentAuthUntil: until !== null && until >= ctx.clock.now() ? iso(until) : null,
      };
    },
  );

  api.post<{ Body: { password: string } }>(
    '/me/reauth',
    {
      schema: {
        tags: ['self-service'],
        summary:
          'Re-authenticates this session with your password (for a user without a sign-in method; one with a method gets 403 fresh_mfa_required). Checked and throttled like a sign-in: a wrong password counts toward the lockout. The session continues under the new `token` returned: the old one stops working.',
        security: secured,
        body: {
          type: 'object',
          properties: { password: { type: 'string', maxLength: 1024 } },
          required: ['password'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              token: { type: 'string', description: 'The session token from now on.' },
              proof: { type: 'string', enum: ['password'] },
              recentAuthUntil: { type: 'string', format: 'date-time' },
            },
            required: ['token', 'proof', 'recentAuthUntil'],
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { user, session } = await authenticate(req);
      const r = await ctx.selfService.confirmPassword(user, session, req.body.password, meta(req));
      return reply
        .header('cache-control', 'no-store')
        .send({ token: r.token, proof: 'password', recentAuthUntil: iso(r.until) });
    },
  );

  api.get(
    '/me/sessions',
    {
      schema: {
        tags: ['self-service'],
        summary:
          'Where you are signed in: your live browser and API sessions, most recently used first; `current` marks this one.',
        security: secured,
        response: {
          200: { type: 'object', properties: { sessions: { type: 'array', items: sessionSchema } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, session } = await authenticate(req);
      return { sessions: (await ctx.selfService.sessions(user)).map((s) => sessionOut(s, session.id)) };
    },
  );

  api.delete<{ Params: { id: string } }>(
    '/me/sessions/:id',
    {
      schema: {
        tags: ['self-service'],
        summary: 'Ends one of your sessions (this one too: that is signing out).',
        security: secured,
        params: idParam,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = await authenticate(req);
      await ctx.selfService.endSession(user, req.params.id);
      return reply.code(204).send();
    },
  );

  api.post(
    '/me/sessions/end-others',
    {
      schema: {
        tags: ['self-service'],
        summary: 'Sign out everywhere else: ends every session of yours but this one.',
        security: secured,
        response: {
          200: { type: 'object', properties: { ended: { type: 'integer' } }, required: ['ended'] },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, session } = await authenticate(req);
      return { ended: await ctx.selfService.endOtherSessions(user, session) };
    },
  );

  api.get<{ Querystring: { limit?: number; offset?: number } }>(
    '/me/sign-ins',
    {
      schema: {
        tags: ['self-service'],
        summary: 'Your own sign-ins, newest first: browser, API and legacy protocols (with the app password used).',
        security: secured,
        querystring: { type: 'object', properties: pageQuery, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: { events: { type: 'array', items: mySignInSchema }, total: { type: 'integer' } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      const r = await ctx.selfService.signIns(user, { limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 });
      const country = await countryLookup(ctx.geoip);
      return { events: r.events.map((e) => signInOut(e, country)), total: r.total };
    },
  );

  api.post<{ Params: { id: string } }>(
    '/me/sign-ins/:id/not-me',
    {
      schema: {
        tags: ['self-service'],
        summary:
          "This wasn't me: revokes the app password one of your sign-ins used and emails your organization's admins.",
        security: secured,
        params: idParam,
        response: {
          200: {
            type: 'object',
            properties: {
              revoked: { type: 'boolean', description: 'False when the app password was already gone.' },
              adminsTold: { type: 'integer' },
            },
            required: ['revoked', 'adminsTold'],
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user } = await authenticate(req);
      return ctx.selfService.reportSignIn(user, req.params.id, req.locale);
    },
  );

  api.post<{ Params: { address: string } }>(
    '/users/:address/reset-link',
    {
      schema: {
        tags: ['users'],
        summary:
          'Sends a user a password reset link at their verified alternate email (admins). 409 no_recovery_address when they have none.',
        security: secured,
        params: addressParam,
        response: {
          202: {
            type: 'object',
            properties: { sentTo: { type: 'string', description: 'The address, masked.' } },
            required: ['sentTo'],
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { actor } = await authenticate(req);
      const r = await ctx.passwordReset.sendByAdmin(actor, req.params.address, req.locale);
      return reply.code(202).send({ sentTo: r.sentTo });
    },
  );
}
