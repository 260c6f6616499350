/**
 * The admin console over JSON: users (list with filters and keyset pages, add, disable, enable,
 * bulk changes, MFA state, re-registration, end sessions, app passwords), the organization's
 * policy, the sign-in log, the dashboard and the log's export (report-api.ts). Every route needs an
 * admin's bearer token whose session proved a second factor; the domain checks that per call.
 */
import type { FastifyInstance } from 'fastify';
import { BULK_OPERATIONS, type BulkOperation } from '../../domain/accounts/bulk-changes.js';
import { type DirectoryEntry, type UserListRequest, USER_SORTS } from '../../domain/accounts/directory.js';
import type { RawSignInFilter } from '../../domain/audit/reports.js';
import { PROTOCOLS } from '../../domain/app-passwords/model.js';
import { MFA_STATES, METHOD_KINDS, type OrgPolicy } from '../../domain/mfa/model.js';
import {
  addressParam,
  appPasswordListOut as listOut,
  appPasswordOut,
  appPasswordSchema,
  errors,
  iso,
  isoOrNull,
  type PinBody,
  pageQuery,
  pinBody,
  pinInput,
  secured,
  userOut,
  userSchema,
} from '../../web/api.js';
import { bearerAuth } from '../../web/guards.js';
import { setPasswordUrl } from '../../web/links.js';
import type { Services } from '../../web/services.js';
import { registerMailSettingsApi } from './mail-settings-api.js';
import { registerGroupsApi } from './groups-api.js';
import { registerLocationsApi } from './locations-api.js';
import { registerReportApi, signInFilterQuery } from './report-api.js';
import { signInEventOut } from './sign-in-export.js';
import { countryLookup } from '../../web/countries.js';
import { WEB_BULK_MAX_ROWS } from './users-pages.js';

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
    count: {
      type: 'integer',
      minimum: 1,
      description:
        'How many identical attempts the row stands for: repeated failures (same account as typed, IP, protocol, outcome and reason) within the aggregation window are one row; `at` is the first of them.',
    },
    lastAt: { type: 'string', format: 'date-time', description: 'The last of those attempts (`at` when count is 1).' },
    country: {
      type: 'string',
      nullable: true,
      description:
        'The ISO 3166-1 alpha-2 country of `ip`, looked up when asked from the offline data (IP geolocation by DB-IP, CC BY 4.0); null for a private or unknown address.',
    },
  },
} as const;

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
  return {
    ...userOut(u),
    methods: u.methods,
    appPasswordCount: u.appPasswordCount,
    lastSignInAt: isoOrNull(u.lastSignInAt),
  };
}

export function registerAdminApi(api: FastifyInstance, ctx: Services) {
  const authenticate = bearerAuth(ctx);

  api.get<{ Querystring: UserListRequest }>(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary:
          "Lists the users of the admin's organization a page at a time, filtered and sorted. Follow `next` / `prev` (keyset cursors, as fast on the last page as on the first); `offset` is kept for older clients.",
        security: secured,
        querystring: {
          type: 'object',
          properties: {
            q: { type: 'string', maxLength: 100, description: 'Part of the address or name.' },
            mfa: { type: 'string', enum: [...MFA_STATES] },
            method: {
              type: 'string',
              enum: ['any', 'none', ...METHOD_KINDS],
              description: 'Methods registered: any (at least one), none, or at least one of a kind.',
            },
            appPasswords: { type: 'string', enum: ['yes', 'no'], description: 'Whether the user has app passwords.' },
            status: { type: 'string', enum: ['active', 'disabled'] },
            lastSignIn: {
              type: 'string',
              pattern: '^(never|(within|over):[0-9]{1,4})$',
              description: 'within:N = signed in during the last N days; over:N = not (never included); never.',
            },
            sort: { type: 'string', enum: [...USER_SORTS], default: 'address' },
            order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
            cursor: {
              type: 'string',
              maxLength: 500,
              description: 'The `next` or `prev` of a page with the same sort and order.',
            },
            ...pageQuery,
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
        summary:
          "Adds a user to the admin's organization and returns a one-time link with which they set their password.",
        security: secured,
        body: {
          type: 'object',
          properties: {
            address: { type: 'string', maxLength: 254 },
            name: { type: 'string', maxLength: 200 },
            role: { type: 'string', enum: ['user', 'admin'] },
          },
          required: ['address'],
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: {
              user: userSchema,
              setPasswordUrl: { type: 'string' },
              setPasswordUrlExpiresAt: { type: 'string', format: 'date-time' },
            },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { actor } = await authenticate(req);
      const user = await ctx.accounts.addUser(actor, req.body);
      const link = await ctx.accounts.issueSetPasswordToken(actor, user.address);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({
          user: userOut(user),
          setPasswordUrl: setPasswordUrl(ctx.config.publicUrl, link.token),
          setPasswordUrlExpiresAt: iso(link.expiresAt),
        });
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
        const user =
          action === 'disable'
            ? await ctx.accounts.disableUser(actor, req.params.address)
            : await ctx.accounts.enableUser(actor, req.params.address);
        return { user: userOut(user) };
      },
    );
  }

  const bulkRowOut = {
    type: 'object',
    properties: {
      row: { type: 'integer' },
      address: { type: 'string' },
      problem: {
        type: 'string',
        nullable: true,
        enum: [
          'invalid_address',
          'unknown_address',
          'other_organization',
          'invalid_state',
          'duplicate',
          'own_account',
          null,
        ],
      },
      duplicateOf: { type: 'integer', nullable: true },
      mfaStateBefore: { type: 'string', nullable: true },
      mfaStateAfter: { type: 'string', nullable: true },
      changes: { type: 'boolean' },
    },
  } as const;
  const bulkOut = {
    type: 'object',
    properties: {
      applied: { type: 'boolean' },
      changed: { type: 'integer' },
      problems: { type: 'integer' },
      fingerprint: { type: 'string' },
      rows: { type: 'array', items: bulkRowOut },
    },
  } as const;
  api.post<{
    Body: {
      operation: BulkOperation;
      rows: { address: string; state?: string }[];
      dryRun?: boolean;
      fingerprint?: string;
    };
  }>(
    '/users/bulk',
    {
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ['users'],
        summary:
          'A bulk change: set the MFA state of, require re-registration of, or disable up to 5,000 users. Every row is checked first; with any bad row nothing changes (422, each row says why). `dryRun` only checks and returns the fingerprint; sent back with the same rows, it makes the change refuse with 409 `bulk_stale` if the users changed in between.',
        security: secured,
        body: {
          type: 'object',
          properties: {
            operation: { type: 'string', enum: [...BULK_OPERATIONS] },
            rows: {
              type: 'array',
              minItems: 1,
              maxItems: WEB_BULK_MAX_ROWS,
              items: {
                type: 'object',
                properties: { address: { type: 'string', maxLength: 254 }, state: { type: 'string', maxLength: 20 } },
                required: ['address'],
                additionalProperties: false,
              },
            },
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
        : await ctx.bulkChanges.apply(
            actor,
            user.orgId,
            req.body.operation,
            rows,
            req.body.fingerprint,
            undefined,
            req.locale,
          );
      const out = {
        applied: !req.body.dryRun && r.plan.problems === 0,
        changed: r.changed,
        problems: r.plan.problems,
        fingerprint: r.plan.fingerprint,
        rows: r.plan.rows.map((x) => ({
          row: x.row,
          address: x.address,
          problem: x.problem ?? null,
          duplicateOf: x.duplicateOf ?? null,
          mfaStateBefore: x.target?.mfaState ?? null,
          mfaStateAfter: x.mfaState ?? null,
          changes: x.changes,
        })),
      };
      return reply.code(r.plan.problems ? 422 : 200).send(out);
    },
  );

  api.put<{ Params: { address: string }; Body: { state: string } }>(
    '/users/:address/mfa',
    {
      schema: {
        tags: ['users'],
        summary:
          "Sets a user's MFA state: disabled, enabled (register at next sign-in) or enforced. Acts at once (no confirmation step, unlike the console): turning it off deletes the user's app passwords (GET /users/{address}/app-passwords lists them beforehand) and mails the user, in the caller's language.",
        security: secured,
        params: addressParam,
        body: {
          type: 'object',
          properties: { state: { type: 'string', enum: [...MFA_STATES] } },
          required: ['state'],
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { user: userSchema } }, ...errors },
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return { user: userOut(await ctx.mfaAdmin.setUserState(actor, req.params.address, req.body.state, req.locale)) };
    },
  );

  api.post<{ Params: { address: string } }>(
    '/users/:address/require-reregistration',
    {
      schema: {
        tags: ['users'],
        summary:
          'Clears all MFA methods, recovery codes and remembered devices; the user registers again at next sign-in; sessions end.',
        security: secured,
        params: addressParam,
        response: { 200: { type: 'object', properties: { user: userSchema } }, ...errors },
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return { user: userOut(await ctx.mfaAdmin.requireReRegistration(actor, req.params.address)) };
    },
  );

  api.post<{ Params: { address: string } }>(
    '/users/:address/end-sessions',
    {
      schema: {
        tags: ['users'],
        summary: "Ends all of a user's sessions.",
        security: secured,
        params: addressParam,
        response: { 200: { type: 'object', properties: { ended: { type: 'integer' } } }, ...errors },
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return { ended: await ctx.mfaAdmin.endSessions(actor, req.params.address) };
    },
  );

  const seconds = { type: 'integer', minimum: 0, description: 'Seconds the lock still holds; 0: not locked.' };
  api.get<{ Params: { address: string } }>(
    '/users/:address/locks',
    {
      schema: {
        tags: ['users'],
        summary:
          "A user's sign-in locks: the main password's, from familiar and from unfamiliar networks (browser, API and mail apps share them), and the second step's.",
        security: secured,
        params: addressParam,
        response: {
          200: {
            type: 'object',
            properties: {
              mainPassword: { type: 'object', properties: { familiar: seconds, unfamiliar: seconds } },
              secondFactor: seconds,
            },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return ctx.locks.ofUser(actor, req.params.address);
    },
  );

  api.post<{ Params: { address: string } }>(
    '/users/:address/lift-locks',
    {
      schema: {
        tags: ['users'],
        summary:
          "Lifts a user's sign-in locks (main password from anywhere, second step) and clears their failure counts. Audited.",
        security: secured,
        params: addressParam,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      const { actor } = await authenticate(req);
      await ctx.locks.liftForUser(actor, req.params.address);
      return reply.code(204).send();
    },
  );

  api.get(
    '/locks/ips',
    {
      schema: {
        tags: ['sign-ins'],
        summary: 'Client IPs a lock refused in your organization today that are still locked.',
        security: secured,
        response: {
          200: {
            type: 'object',
            properties: {
              ips: {
                type: 'array',
                items: { type: 'object', properties: { ip: { type: 'string' }, seconds } },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { actor, user } = await authenticate(req);
      return { ips: await ctx.locks.lockedIps(actor, user.orgId) };
    },
  );

  api.post<{ Body: { ip: string } }>(
    '/locks/ips/lift',
    {
      schema: {
        tags: ['sign-ins'],
        summary:
          "Lifts a client IP's locks (browser and mail apps) and clears its failure counts; only an IP a lock refused in your organization today. Audited.",
        security: secured,
        body: {
          type: 'object',
          required: ['ip'],
          additionalProperties: false,
          properties: { ip: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      const { actor, user } = await authenticate(req);
      await ctx.locks.liftForIp(actor, user.orgId, req.body.ip);
      return reply.code(204).send();
    },
  );

  const policySchema = {
    type: 'object',
    properties: {
      mfaDefault: { type: 'string', enum: [...MFA_STATES] },
      allowedMethods: {
        type: 'array',
        items: { type: 'string', enum: [...METHOD_KINDS] },
        minItems: 1,
        uniqueItems: true,
      },
      rememberDays: { type: 'integer', minimum: 0, maximum: 365 },
      legacyMainPassword: {
        type: 'string',
        enum: ['until_enforced', 'never'],
        description: "Main passwords on IMAP/POP3/SMTP/DAV/HTTP Basic: until the user's MFA is enforced, or never.",
      },
      phoneCountries: {
        type: 'array',
        items: { type: 'string', pattern: '^[A-Za-z]{2}$' },
        maxItems: 300,
        nullable: true,
        description:
          "Countries (ISO 3166-1 alpha-2) whose phone numbers may get text and voice codes; null or empty: the deployment's default (SESAME_PHONE_COUNTRIES).",
      },
      timeZone: {
        type: 'string',
        maxLength: 64,
        nullable: true,
        description: 'IANA time zone in which pages show dates and times (Europe/Amsterdam); null or empty: UTC.',
      },
      defaultCountry: {
        type: 'string',
        pattern: '^([A-Za-z]{2})?$',
        nullable: true,
        description:
          'Country (ISO 3166-1 alpha-2) of phone numbers typed without a country code; null or empty: none (numbers need their country code).',
      },
      appPasswords: {
        type: 'object',
        additionalProperties: false,
        properties: {
          allowed: { type: 'boolean' },
          keepExistingWhenOff: { type: 'boolean' },
          cap: { type: 'integer', minimum: 1, maximum: 200 },
          protocols: {
            type: 'array',
            items: { type: 'string', enum: [...PROTOCOLS] },
            minItems: 1,
            uniqueItems: true,
          },
          maxLifetimeDays: { type: 'integer', minimum: 1, maximum: 3650, nullable: true },
          revokeUnusedDays: { type: 'integer', minimum: 1, maximum: 3650, nullable: true },
          revokeOnPasswordChange: { type: 'boolean' },
          notifyAdminsNewCountry: {
            type: 'boolean',
            description:
              "Email every admin of the organization when an app password is used from a country its account has never been used from (the account's first country is its baseline). Default false.",
          },
        },
      },
    },
  } as const;
  const policyOut = (p: OrgPolicy) => ({
    mfaDefault: p.mfaDefault,
    allowedMethods: p.allowedMethods,
    rememberDays: p.rememberDays,
    legacyMainPassword: p.legacyMainPassword,
    phoneCountries: p.phoneCountries,
    timeZone: p.timeZone,
    defaultCountry: p.defaultCountry,
    appPasswords: p.appPasswords,
  });

  api.get(
    '/policy',
    {
      schema: {
        tags: ['policy'],
        summary: "The admin's organization's MFA policy.",
        security: secured,
        response: { 200: policySchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return policyOut(await ctx.mfaAdmin.getPolicy(actor, user.orgId));
    },
  );

  api.put<{
    Body: {
      mfaDefault?: string;
      allowedMethods?: string[];
      rememberDays?: number;
      legacyMainPassword?: string;
      phoneCountries?: string[] | null;
      timeZone?: string | null;
      defaultCountry?: string | null;
      appPasswords?: Record<string, never>;
    };
  }>(
    '/policy',
    {
      schema: {
        tags: ['policy'],
        summary: "Changes the organization's MFA policy (only the fields given).",
        security: secured,
        body: { ...policySchema, additionalProperties: false },
        response: { 200: policySchema, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return policyOut(await ctx.mfaAdmin.setPolicy(actor, user.orgId, req.body));
    },
  );

  api.get<{ Params: { address: string } }>(
    '/users/:address/app-passwords',
    {
      schema: {
        tags: ['app passwords'],
        summary: "A user's app passwords (admins; never the secrets).",
        security: secured,
        params: addressParam,
        response: listOut,
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return {
        appPasswords: (await ctx.appPasswords.listFor(actor, req.params.address)).appPasswords.map(appPasswordOut),
      };
    },
  );

  api.put<{ Params: { address: string; id: string }; Body: { pin: PinBody } }>(
    '/users/:address/app-passwords/:id/pin',
    {
      schema: {
        tags: ['app passwords'],
        summary:
          "Pins one of a user's app passwords to named locations and/or one network (admins: a device they hand out, such as a scanner), or (null) unpins it.",
        security: secured,
        params: {
          type: 'object',
          required: ['address', 'id'],
          properties: { ...addressParam.properties, id: { type: 'string', maxLength: 100 } },
        },
        body: pinBody,
        response: { 200: { type: 'object', properties: { appPassword: appPasswordSchema } }, ...errors },
      },
    },
    async (req) => {
      const { actor } = await authenticate(req);
      return {
        appPassword: appPasswordOut(
          await ctx.appPasswords.setPinFor(actor, req.params.address, req.params.id, pinInput(req.body.pin)),
        ),
      };
    },
  );

  api.delete<{ Params: { address: string } }>(
    '/users/:address/app-passwords',
    {
      schema: {
        tags: ['app passwords'],
        summary: 'Deletes all existing app passwords of a user (admins).',
        security: secured,
        params: addressParam,
        response: { 200: { type: 'object', properties: { deleted: { type: 'integer' } } }, ...errors },
      },
    },
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
        summary:
          "The sign-in log of the admin's organization, newest first, filtered by any of user, outcome, protocol, ip, from and to. Never contains a secret.",
        security: secured,
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
            offset: { type: 'integer', minimum: 0, default: 0 },
            ...signInFilterQuery,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { events: { type: 'array', items: signInEventSchema }, total: { type: 'integer' } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const { limit, offset, ...filter } = req.query;
      const r = await ctx.reports.listSignIns(actor, user.orgId, filter, limit ?? 100, offset ?? 0);
      const country = await countryLookup(ctx.geoip);
      return { events: r.events.map((e) => signInEventOut(e, country)), total: r.total };
    },
  );
  registerReportApi(api, ctx, authenticate);
  registerMailSettingsApi(api, ctx, authenticate);
  registerGroupsApi(api, ctx, authenticate);
  registerLocationsApi(api, ctx, authenticate);
}
