/**
 * JSON API under /api/v1. Authentication is a bearer session token from POST /sessions (never a
 * cookie, so cross-site requests carry no credentials and need no CSRF token). Route schemas
 * validate input and are the source of the OpenAPI document at /api/v1/openapi.json.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import { requireAdminOf, sessionActor } from '../../domain/accounts/actor.js';
import type { Organization, User } from '../../domain/accounts/model.js';
import type { AppPassword } from '../../domain/app-passwords/model.js';
import { SesameError } from '../../domain/errors.js';
import { type DirectoryEntry, type UserListRequest, USER_SORTS } from '../../domain/accounts/directory.js';
import { BULK_OPERATIONS, type BulkOperation } from '../../domain/accounts/bulk-changes.js';
import { WEB_BULK_MAX_ROWS } from './users-pages.js';
import { setPasswordUrl } from './routes.js';
import type { Step } from '../../domain/flows/sign-in-flow.js';
import { MFA_STATES, METHOD_KINDS, type OrgPolicy } from '../../domain/mfa/model.js';
import { flowOut, flowSchema, registerFlowApi } from '../sign-in/flow-api.js';
import type { RawSignInFilter } from '../../domain/audit/reports.js';
import { signInEventOut } from './sign-in-export.js';
import { registerReportApi, signInFilterQuery } from './report-api.js';
import { registerSelfServiceApi } from '../self-service/api.js';
import { registerOidcClientApi } from '../oidc/admin-routes.js';

const errorBody = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
} as const;

const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    address: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string', enum: ['active', 'disabled'] },
    role: { type: 'string', enum: ['user', 'admin'] },
    mfaState: { type: 'string', enum: ['disabled', 'enabled', 'enforced'] },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'address', 'name', 'status', 'role', 'mfaState', 'createdAt'],
} as const;

const orgSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, domain: { type: 'string' }, name: { type: 'string' } },
  required: ['id', 'domain', 'name'],
} as const;

const signInEventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'Also the `id` of the event as forwarded to a SIEM.' },
    at: { type: 'string', format: 'date-time' },
    addressTyped: { type: 'string' },
    outcome: { type: 'string', enum: ['success', 'failure', 'throttled'] },
    reason: { type: 'string' },
    protocol: { type: 'string' },
    ip: { type: 'string' },
    userAgent: { type: 'string' },
    appPasswordName: { type: 'string', nullable: true },
  },
} as const;

const errors = { 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 429: errorBody };
const secured = [{ session: [] }];
const addressParam = { type: 'object', properties: { address: { type: 'string', maxLength: 254 } }, required: ['address'] } as const;

/** A user as the listing shows them: with methods, app passwords and last sign-in. */
const directoryUserSchema = {
  type: 'object',
  properties: {
    ...userSchema.properties,
    methods: { type: 'array', items: { type: 'string', enum: [...METHOD_KINDS] } },
    appPasswordCount: { type: 'integer' },
    lastSignInAt: { type: 'string', format: 'date-time', nullable: true },
  },
  required: [...userSchema.required, 'methods', 'appPasswordCount', 'lastSignInAt'],
} as const;

function directoryUserOut(u: DirectoryEntry) {
  return { ...userOut(u), methods: u.methods, appPasswordCount: u.appPasswordCount, lastSignInAt: u.lastSignInAt === null ? null : new Date(u.lastSignInAt).toISOString() };
}

function userOut(u: User) {
  return { id: u.id, address: u.address, name: u.name, status: u.status, role: u.role, mfaState: u.mfaState, createdAt: new Date(u.createdAt).toISOString() };
}

function orgOut(o: Organization) {
  return { id: o.id, domain: o.domain, name: o.name };
}

export function registerApiRoutes(api: FastifyInstance, ctx: AppContext) {
  /**
   * The signed-in user behind the bearer token, or a `session_required` error; `actor` carries
   * what the session proved, which admin rights need (a second factor, checklist 36).
   */
  async function authenticate(req: FastifyRequest) {
    const { user, session } = await authenticateWithSession(req);
    return { user, sessionId: session.id, actor: sessionActor(user, session) };
  }
  /** Like authenticate(), with the session (whose second-factor freshness some actions check). */
  async function authenticateWithSession(req: FastifyRequest) {
    const h = req.headers.authorization;
    const token = h && /^Bearer [A-Za-z0-9_-]{1,100}$/.test(h) ? h.slice(7) : undefined;
    const session = await ctx.sessions.resume(token);
    const user = session ? await ctx.accounts.findUserById(session.userId) : undefined;
    if (!session || !user || user.status !== 'active') throw new SesameError('session_required', 'missing, unknown or expired bearer token');
    return { user, session };
  }
  /** A started session, as every sign-in answer that ends in one returns it. */
  const sessionOut = (step: Extract<Step, { done: true }>, reply: FastifyReply) =>
    reply.code(201).header('cache-control', 'no-store').send({ token: step.token, expiresAt: new Date(step.session.expiresAt).toISOString(), amr: step.session.amr });
  registerFlowApi(api, ctx, sessionOut);
  registerSelfServiceApi(api, ctx, authenticateWithSession);
  registerOidcClientApi(api, ctx, authenticateWithSession, errors);
  const meta = (req: FastifyRequest) => ({ ip: req.ip, userAgent: String(req.headers['user-agent'] ?? '') });

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
          201: { type: 'object', properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' }, amr: { type: 'array', items: { type: 'string' } } }, required: ['token', 'expiresAt'] },
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
      return reply.code(200).header('cache-control', 'no-store').send(flowOut(await ctx.flows.view(step.flow, user), step.flowToken));
    },
  );

  api.delete('/sessions/current', { schema: { tags: ['sessions'], summary: 'Sign out: ends this session.', security: secured, response: { 204: { type: 'null' }, ...errors } } }, async (req, reply) => {
    const { sessionId } = await authenticate(req);
    await ctx.sessions.end(sessionId);
    return reply.code(204).send();
  });

  api.get('/me', { schema: { tags: ['account'], summary: 'The signed-in user and their organization.', security: secured, response: { 200: { type: 'object', properties: { user: userSchema, organization: orgSchema } }, ...errors } } }, async (req) => {
    const { user } = await authenticate(req);
    return { user: userOut(user), organization: orgOut(await ctx.accounts.getOrganization(user.orgId)) };
  });

  api.get<{ Querystring: UserListRequest }>(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: "Lists the users of the admin's organization a page at a time, filtered and sorted. Follow `next` / `prev` (keyset cursors, as fast on the last page as on the first); `offset` is kept for older clients.",
        security: secured,
        querystring: {
          type: 'object',
          properties: {
            q: { type: 'string', maxLength: 100, description: 'Part of the address or name.' },
            mfa: { type: 'string', enum: [...MFA_STATES] },
            method: { type: 'string', enum: ['any', 'none', ...METHOD_KINDS], description: 'Methods registered: any (at least one), none, or at least one of a kind.' },
            appPasswords: { type: 'string', enum: ['yes', 'no'], description: 'Whether the user has app passwords.' },
            status: { type: 'string', enum: ['active', 'disabled'] },
            lastSignIn: { type: 'string', pattern: '^(never|(within|over):[0-9]{1,4})$', description: 'within:N = signed in during the last N days; over:N = not (never included); never.' },
            sort: { type: 'string', enum: [...USER_SORTS], default: 'address' },
            order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
            cursor: { type: 'string', maxLength: 500, description: 'The `next` or `prev` of a page with the same sort and order.' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            offset: { type: 'integer', minimum: 0, default: 0 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              users: { type: 'array', items: directoryUserSchema },
              total: { type: 'integer', description: 'Users matching the filters.' },
              next: { type: 'string', description: 'Cursor of the following page; absent on the last page.' },
              prev: { type: 'string', description: 'Cursor of the page before; absent on the first page.' },
            },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const r = await ctx.directory.list(actor, user.orgId, req.query);
      // next and prev are left out when there is no such page (older clients see the shape they knew).
      return { users: r.users.map(directoryUserOut), total: r.total, next: r.next, prev: r.prev };
    },
  );

  api.post<{ Body: { address: string; name?: string; role?: 'user' | 'admin' } }>(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: "Adds a user to the admin's organization and returns a one-time link with which they set their password.",
        security: secured,
        body: {
          type: 'object',
          properties: { address: { type: 'string', maxLength: 254 }, name: { type: 'string', maxLength: 200 }, role: { type: 'string', enum: ['user', 'admin'] } },
          required: ['address'],
          additionalProperties: false,
        },
        response: {
          201: { type: 'object', properties: { user: userSchema, setPasswordUrl: { type: 'string' }, setPasswordUrlExpiresAt: { type: 'string', format: 'date-time' } } },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { actor } = await authenticate(req);
      const user = await ctx.accounts.addUser(actor, req.body);
      const link = await ctx.accounts.issueSetPasswordToken(actor, user.address);
      return reply.code(201).header('cache-control', 'no-store').send({ user: userOut(user), setPasswordUrl: setPasswordUrl(ctx, link.token), setPasswordUrlExpiresAt: new Date(link.expiresAt).toISOString() });
    },
  );

  for (const action of ['disable', 'enable'] as const) {
    api.post<{ Params: { address: string } }>(
      `/users/:address/${action}`,
      {
        schema: {
          tags: ['users'],
          summary: action === 'disable' ? 'Disables a user and ends all their sessions.' : 'Enables a disabled user.',
          security: secured,
          params: addressParam,
          response: { 200: { type: 'object', properties: { user: userSchema } }, ...errors },
        },
      },
      async (req) => {
        const { actor } = await authenticate(req);
        const user = action === 'disable' ? await ctx.accounts.disableUser(actor, req.params.address) : await ctx.accounts.enableUser(actor, req.params.address);
        return { user: userOut(user) };
      },
    );
  }

  const bulkRowOut = {
    type: 'object',
    properties: {
      row: { type: 'integer' },
      address: { type: 'string' },
      problem: { type: 'string', nullable: true, enum: ['invalid_address', 'unknown_address', 'other_organization', 'invalid_state', 'duplicate', 'own_account', null] },
      duplicateOf: { type: 'integer', nullable: true },
      mfaStateBefore: { type: 'string', nullable: true },
      mfaStateAfter: { type: 'string', nullable: true },
      changes: { type: 'boolean' },
    },
  } as const;
  const bulkOut = { type: 'object', properties: { applied: { type: 'boolean' }, changed: { type: 'integer' }, problems: { type: 'integer' }, fingerprint: { type: 'string' }, rows: { type: 'array', items: bulkRowOut } } } as const;
  api.post<{ Body: { operation: BulkOperation; rows: { address: string; state?: string }[]; dryRun?: boolean; fingerprint?: string } }>(
    '/users/bulk',
    {
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ['users'],
        summary: 'A bulk change: set the MFA state of, require re-registration of, or disable up to 5,000 users. Every row is checked first; with any bad row nothing changes (422, each row says why). `dryRun` only checks and returns the fingerprint; sent back with the same rows, it makes the change refuse with 409 `bulk_stale` if the users changed in between.',
        security: secured,
        body: {
          type: 'object',
          properties: {
            operation: { type: 'string', enum: [...BULK_OPERATIONS] },
            rows: { type: 'array', minItems: 1, maxItems: WEB_BULK_MAX_ROWS, items: { type: 'object', properties: { address: { type: 'string', maxLength: 254 }, state: { type: 'string', maxLength: 20 } }, required: ['address'], additionalProperties: false } },
            dryRun: { type: 'boolean' },
            fingerprint: { type: 'string', maxLength: 100 },
          },
          required: ['operation', 'rows'],
          additionalProperties: false,
        },
        response: { 200: bulkOut, 422: bulkOut, ...errors },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      const rows = req.body.rows.map((r, i) => ({ row: i + 1, address: r.address, state: r.state }));
      const r = req.body.dryRun
        ? { plan: await ctx.bulkChanges.plan(actor, user.orgId, req.body.operation, rows), changed: 0 }
        : await ctx.bulkChanges.apply(actor, user.orgId, req.body.operation, rows, req.body.fingerprint);
      const out = {
        applied: !req.body.dryRun && r.plan.problems === 0,
        changed: r.changed,
        problems: r.plan.problems,
        fingerprint: r.plan.fingerprint,
        rows: r.plan.rows.map((x) => ({ row: x.row, address: x.address, problem: x.problem ?? null, duplicateOf: x.duplicateOf ?? null, mfaStateBefore: x.target?.mfaState ?? null, mfaStateAfter: x.mfaState ?? null, changes: x.changes })),
      };
      return reply.code(r.plan.problems ? 422 : 200).send(out);
    },
  );

  api.put<{ Params: { address: string }; Body: { state: string } }>(
    '/users/:address/mfa',
    {
      schema: {
        tags: ['users'],
        summary: "Sets a user's MFA state: disabled, enabled (register at next sign-in) or enforced.",
        security: secured,
        params: addressParam,
        body: { type: 'object', properties: { state: { type: 'string', enum: [...MFA_STATES] } }, required: ['state'], additionalProperties: false },
        response: { 200: { type: 'object', properties: { user: userSchema } }, ...errors },
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return { user: userOut(await ctx.mfaAdmin.setUserState(actor, req.params.address, req.body.state)) };
    },
  );

  api.post<{ Params: { address: string } }>(
    '/users/:address/require-reregistration',
    { schema: { tags: ['users'], summary: 'Clears all MFA methods, recovery codes and remembered devices; the user registers again at next sign-in; sessions end.', security: secured, params: addressParam, response: { 200: { type: 'object', properties: { user: userSchema } }, ...errors } } },
    async (req) => {
      const { actor } = await authenticate(req);
      return { user: userOut(await ctx.mfaAdmin.requireReRegistration(actor, req.params.address)) };
    },
  );

  api.post<{ Params: { address: string } }>(
    '/users/:address/end-sessions',
    { schema: { tags: ['users'], summary: "Ends all of a user's sessions.", security: secured, params: addressParam, response: { 200: { type: 'object', properties: { ended: { type: 'integer' } } }, ...errors } } },
    async (req) => {
      const { actor } = await authenticate(req);
      return { ended: await ctx.mfaAdmin.endSessions(actor, req.params.address) };
    },
  );

  const policySchema = {
    type: 'object',
    properties: {
      mfaDefault: { type: 'string', enum: [...MFA_STATES] },
      allowedMethods: { type: 'array', items: { type: 'string', enum: [...METHOD_KINDS] }, minItems: 1, uniqueItems: true },
      rememberDays: { type: 'integer', minimum: 0, maximum: 365 },
      legacyMainPassword: { type: 'string', enum: ['until_enforced', 'never'], description: 'Main passwords on IMAP/POP3/SMTP/DAV/HTTP Basic: until the user\'s MFA is enforced, or never.' },
      appPasswords: {
        type: 'object',
        additionalProperties: false,
        properties: {
          allowed: { type: 'boolean' },
          keepExistingWhenOff: { type: 'boolean' },
          cap: { type: 'integer', minimum: 1, maximum: 200 },
          protocols: { type: 'array', items: { type: 'string', enum: ['imap', 'pop3', 'smtp', 'dav', 'http'] }, minItems: 1, uniqueItems: true },
          maxLifetimeDays: { type: 'integer', minimum: 1, maximum: 3650, nullable: true },
          revokeUnusedDays: { type: 'integer', minimum: 1, maximum: 3650, nullable: true },
          revokeOnPasswordChange: { type: 'boolean' },
        },
      },
    },
  } as const;
  const policyOut = (p: OrgPolicy) => ({ mfaDefault: p.mfaDefault, allowedMethods: p.allowedMethods, rememberDays: p.rememberDays, legacyMainPassword: p.legacyMainPassword, appPasswords: p.appPasswords });

  api.get('/policy', { schema: { tags: ['policy'], summary: "The admin's organization's MFA policy.", security: secured, response: { 200: policySchema, ...errors } } }, async (req) => {
    const { user, actor } = await authenticate(req);
    return policyOut(await ctx.mfaAdmin.getPolicy(actor, user.orgId));
  });

  api.put<{ Body: { mfaDefault?: string; allowedMethods?: string[]; rememberDays?: number; legacyMainPassword?: string; appPasswords?: Record<string, never> } }>(
    '/policy',
    { schema: { tags: ['policy'], summary: "Changes the organization's MFA policy (only the fields given).", security: secured, body: { ...policySchema, additionalProperties: false }, response: { 200: policySchema, ...errors } } },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return policyOut(await ctx.mfaAdmin.setPolicy(actor, user.orgId, req.body));
    },
  );

  const appPasswordSchema = {
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      protocols: { type: 'array', items: { type: 'string' } },
      createdAt: { type: 'string', format: 'date-time' },
      createdIp: { type: 'string' },
      expiresAt: { type: 'string', format: 'date-time', nullable: true },
      lastUsedAt: { type: 'string', format: 'date-time', nullable: true },
      lastUsedProtocol: { type: 'string', nullable: true },
      lastUsedIp: { type: 'string', nullable: true },
    },
  } as const;
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const appPasswordOut = (p: AppPassword) => ({ ...p, userId: undefined, createdAt: iso(p.createdAt), expiresAt: iso(p.expiresAt), lastUsedAt: iso(p.lastUsedAt) });
  const listOut = { 200: { type: 'object', properties: { appPasswords: { type: 'array', items: appPasswordSchema } } }, ...errors };

  api.get('/me/app-passwords', { schema: { tags: ['app passwords'], summary: 'Your app passwords (never the secrets).', security: secured, response: listOut } }, async (req) => {
    const { user } = await authenticate(req);
    return { appPasswords: (await ctx.appPasswords.list(user)).map(appPasswordOut) };
  });

  api.post<{ Body: { name: string } }>(
    '/me/app-passwords',
    {
      schema: {
        tags: ['app passwords'],
        summary: 'Creates an app password and returns it once. Needs a second factor proved in this session within 10 minutes.',
        security: secured,
        body: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 100 } }, required: ['name'], additionalProperties: false },
        response: { 201: { type: 'object', properties: { appPassword: appPasswordSchema, password: { type: 'string' } } }, ...errors },
      },
    },
    async (req, reply) => {
      const { user, session } = await authenticateWithSession(req);
      const made = await ctx.appPasswords.create(user, session, req.body.name, { ip: req.ip, locale: req.locale });
      return reply.code(201).header('cache-control', 'no-store').send({ appPassword: appPasswordOut(made.appPassword), password: made.password });
    },
  );

  api.delete<{ Params: { id: string } }>(
    '/me/app-passwords/:id',
    { schema: { tags: ['app passwords'], summary: 'Deletes one of your app passwords.', security: secured, params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] }, response: { 204: { type: 'null' }, ...errors } } },
    async (req, reply) => {
      const { user } = await authenticate(req);
      await ctx.appPasswords.remove(user, req.params.id);
      return reply.code(204).send();
    },
  );

  api.delete('/me/app-passwords', { schema: { tags: ['app passwords'], summary: 'Deletes all your app passwords.', security: secured, response: { 200: { type: 'object', properties: { deleted: { type: 'integer' } } }, ...errors } } }, async (req) => {
    const { user } = await authenticate(req);
    return { deleted: await ctx.appPasswords.removeAll(user) };
  });

  api.get<{ Params: { address: string } }>(
    '/users/:address/app-passwords',
    { schema: { tags: ['app passwords'], summary: "A user's app passwords (admins; never the secrets).", security: secured, params: addressParam, response: listOut } },
    async (req) => {
      const { actor } = await authenticate(req);
      return { appPasswords: (await ctx.appPasswords.listFor(actor, req.params.address)).appPasswords.map(appPasswordOut) };
    },
  );

  api.delete<{ Params: { address: string } }>(
    '/users/:address/app-passwords',
    { schema: { tags: ['app passwords'], summary: 'Deletes all existing app passwords of a user (admins).', security: secured, params: addressParam, response: { 200: { type: 'object', properties: { deleted: { type: 'integer' } } }, ...errors } } },
    async (req) => {
      const { actor } = await authenticate(req);
      return { deleted: await ctx.appPasswords.revokeAllFor(actor, req.params.address) };
    },
  );

  api.get<{ Querystring: RawSignInFilter & { limit?: number; offset?: number } }>(
    '/sign-ins',
    {
      schema: {
        tags: ['sign-in log'],
        summary: "The sign-in log of the admin's organization, newest first, filtered by any of user, outcome, protocol, ip, from and to. Never contains a secret.",
        security: secured,
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 }, offset: { type: 'integer', minimum: 0, default: 0 }, ...signInFilterQuery }, additionalProperties: false },
        response: { 200: { type: 'object', properties: { events: { type: 'array', items: signInEventSchema }, total: { type: 'integer' } } }, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const { limit, offset, ...filter } = req.query;
      const r = await ctx.reports.listSignIns(actor, user.orgId, filter, limit ?? 100, offset ?? 0);
      return { events: r.events.map(signInEventOut), total: r.total };
    },
  );
  registerReportApi(api, ctx, authenticate, errors);
}
