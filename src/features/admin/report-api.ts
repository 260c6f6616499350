/**
 * JSON API of the admin dashboard (GET /dashboard) and the sign-in log export
 * (GET /sign-ins/export?format=csv|jsonl, with the same filter as GET /sign-ins). Both are for
 * admins of their own organization, from a session that proved a second factor; the reports
 * service checks that on every call.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RawSignInFilter } from '../../domain/audit/reports.js';
import { errors, iso, secured } from '../../web/api.js';
import type { ApiCaller } from '../../web/guards.js';
import type { Services } from '../../web/services.js';
import { sendSignInExport } from './sign-in-export.js';
import { countryLookup } from '../../web/countries.js';

/** The sign-in log filter's query fields; checked by the domain (`invalid_filter`), so the rules live in one place. */
export const signInFilterQuery = {
  user: {
    type: 'string',
    maxLength: 254,
    description: "An address: that user's rows, and attempts that typed it (case-insensitive).",
  },
  outcome: {
    type: 'string',
    maxLength: 20,
    description: '`success`, `failure` or `throttled` (refused while locked).',
  },
  protocol: {
    type: 'string',
    maxLength: 40,
    description: '`web`, `api`, `imap`, `pop3`, `smtp`, `dav`, `http`, `radius`, ...',
  },
  ip: { type: 'string', maxLength: 64, description: 'The client IP exactly as logged.' },
  from: {
    type: 'string',
    maxLength: 40,
    description: 'ISO 8601 date or date-time, inclusive; without a zone it is UTC.',
  },
  to: { type: 'string', maxLength: 40, description: 'ISO 8601 date or date-time, exclusive; after `from`.' },
} as const;

const counts = { success: { type: 'integer' }, failure: { type: 'integer' }, throttled: { type: 'integer' } } as const;

const dashboardSchema = {
  type: 'object',
  properties: {
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    hourly: {
      type: 'array',
      description: '24 entries, oldest first: attempts per hour (UTC) by outcome.',
      items: { type: 'object', properties: { hour: { type: 'string', format: 'date-time' }, ...counts } },
    },
    legacy: {
      type: 'array',
      description: 'Attempts over legacy protocols (app passwords) in the window, by protocol and outcome.',
      items: { type: 'object', properties: { protocol: { type: 'string' }, ...counts } },
    },
    legacyByCountry: {
      type: 'array',
      description:
        'The same attempts by the country of their client address (ISO 3166-1 alpha-2; null: private or unknown), most attempts first. Countries are looked up when asked from the offline data (IP geolocation by DB-IP, CC BY 4.0).',
      items: { type: 'object', properties: { country: { type: 'string', nullable: true }, ...counts } },
    },
    locked: {
      type: 'array',
      description: 'Attempts refused while locked, by lock reason.',
      items: { type: 'object', properties: { reason: { type: 'string' }, count: { type: 'integer' } } },
    },
    lockedAccounts: { type: 'integer', description: 'Different account names in those refused attempts.' },
    mfa: {
      type: 'object',
      description: 'Active users by MFA state.',
      properties: { disabled: { type: 'integer' }, enabled: { type: 'integer' }, enforced: { type: 'integer' } },
    },
    appPasswords: {
      type: 'object',
      properties: { total: { type: 'integer' }, unused: { type: 'integer' }, unusedDays: { type: 'integer' } },
    },
  },
} as const;

/** GET /api/v1/dashboard and GET /api/v1/sign-ins/export; `authenticate` is the API's bearer-token check. */
export function registerReportApi(
  api: FastifyInstance,
  ctx: Services,
  authenticate: (req: FastifyRequest) => Promise<ApiCaller>,
) {
  api.get(
    '/dashboard',
    {
      schema: {
        tags: ['sign-in log'],
        summary:
          "The admin dashboard's numbers for the admin's organization: the last 24 hours of sign-ins, lockouts, MFA registration and unused app passwords.",
        security: secured,
        response: { 200: dashboardSchema, ...errors },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      const d = await ctx.reports.dashboard(actor, user.orgId);
      return reply.header('cache-control', 'no-store').send({
        ...d,
        since: iso(d.since),
        until: iso(d.until),
        hourly: d.hourly.map((h) => ({ ...h, hour: iso(h.hour) })),
      });
    },
  );

  api.get<{ Querystring: RawSignInFilter & { format?: 'csv' | 'jsonl' } }>(
    '/sign-ins/export',
    {
      schema: {
        tags: ['sign-in log'],
        summary:
          "Downloads the admin's organization's sign-in log, filtered as GET /sign-ins, newest first: CSV (cells a spreadsheet would run as formulas get a leading ') or JSON lines. Streamed.",
        security: secured,
        querystring: {
          type: 'object',
          properties: { format: { type: 'string', enum: ['csv', 'jsonl'], default: 'csv' }, ...signInFilterQuery },
          additionalProperties: false,
        },
        response: {
          200: {
            description: 'The rows, streamed.',
            content: {
              'text/csv': { schema: { type: 'string' } },
              'application/x-ndjson': { schema: { type: 'string' } },
            },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      const { format, ...raw } = req.query;
      return sendSignInExport(
        reply,
        ctx.reports.exportSignIns(actor, user.orgId, raw),
        format ?? 'csv',
        ctx.clock.now(),
        await countryLookup(ctx.geoip),
      );
    },
  );
}
