/**
 * The organization's mail settings over JSON (issue #18, item 1): GET, PUT (replaces them whole),
 * DELETE, and POST /mail-settings/check. The body schema says the types only: the domain refuses
 * bad values with their own codes (`mail_host_invalid`, `mail_port_invalid`, ...), as on the page
 * and in the CLI.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SesameError } from '../../domain/errors.js';
import {
  CHECK_STAGES,
  DAV_SERVICES,
  type EndpointInput,
  isDav,
  MAIL_SERVICES,
  type MailSettings,
  type MailSettingsInput,
  SECURITIES,
  type ServiceCheck,
  USER_NAME_FORMS,
} from '../../domain/mail-settings/model.js';
import { errors, iso, secured } from '../../web/api.js';
import type { Services } from '../../web/services.js';
import type { ApiCaller } from '../../web/guards.js';

const endpointIn = (dav: boolean) =>
  ({
    type: 'object',
    nullable: true,
    additionalProperties: false,
    required: ['host', 'port'],
    properties: {
      host: { type: 'string', maxLength: 300, description: 'Host name (LDH labels; IDN accepted) or IP address.' },
      port: { type: 'integer', description: '1 to 65535.' },
      security: {
        type: 'string',
        description: dav ? '`tls` (the default; DAV is HTTPS).' : '`tls` (implicit) or `starttls`.',
      },
      ...(dav ? { path: { type: 'string', maxLength: 300, description: 'Starts with `/`; default `/`.' } } : {}),
    },
  }) as const;

const endpointOut = (dav: boolean) =>
  ({
    type: 'object',
    nullable: true,
    required: ['host', 'port', 'security', ...(dav ? ['path'] : [])],
    properties: {
      host: { type: 'string' },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      security: { type: 'string', enum: dav ? ['tls'] : [...SECURITIES] },
      ...(dav ? { path: { type: 'string' } } : {}),
    },
  }) as const;

const settingsIn = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(MAIL_SERVICES.map((s) => [s, endpointIn(isDav(s))])),
    userName: { type: 'string', description: '`address` (the default) or `localpart`: what apps sign in with.' },
  },
} as const;

const settingsOut = {
  type: 'object',
  required: [...MAIL_SERVICES, 'userName', 'updatedAt'],
  properties: {
    ...Object.fromEntries(MAIL_SERVICES.map((s) => [s, endpointOut(isDav(s))])),
    userName: { type: 'string', enum: [...USER_NAME_FORMS] },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

const checkOut = {
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['service', 'host', 'port', 'security', 'ok', 'failed', 'detail', 'certificate', 'ms'],
        properties: {
          service: { type: 'string', enum: [...MAIL_SERVICES] },
          host: { type: 'string' },
          port: { type: 'integer' },
          security: { type: 'string', enum: [...SECURITIES] },
          path: { type: 'string' },
          ok: { type: 'boolean' },
          failed: {
            type: 'string',
            nullable: true,
            enum: [...CHECK_STAGES, null],
            description:
              'Where the check stopped: `connect`, `greeting`, `starttls`, `tls` (handshake), `certificate_untrusted`, `certificate_name` (not for this host), `certificate_expired` (or not yet valid). Null when ok.',
          },
          detail: { type: 'string', nullable: true, description: 'Technical detail of the failure, in English.' },
          certificate: {
            type: 'object',
            nullable: true,
            properties: {
              subject: { type: 'string', description: 'Common name.' },
              names: { type: 'array', items: { type: 'string' }, description: 'subjectAltName entries.' },
              validTo: { type: 'string', format: 'date-time', nullable: true },
            },
          },
          ms: { type: 'integer', description: 'How long the check of this service took.' },
        },
      },
    },
  },
} as const;

function settingsResponse(s: MailSettings) {
  return {
    ...Object.fromEntries(MAIL_SERVICES.map((k) => [k, s.servers[k] ?? null])),
    userName: s.userName,
    updatedAt: iso(s.updatedAt),
  };
}

const checkResponse = (r: ServiceCheck) => ({
  service: r.service,
  ...r.endpoint,
  ok: r.ok,
  failed: r.failed ?? null,
  detail: r.detail ?? null,
  certificate: r.certificate
    ? {
        ...r.certificate,
        validTo: Number.isFinite(r.certificate.validTo) ? iso(r.certificate.validTo) : null,
      }
    : null,
  ms: r.ms,
});

type Body = Partial<Record<(typeof MAIL_SERVICES)[number], Partial<EndpointInput> | null>> & { userName?: string };

export function registerMailSettingsApi(
  api: FastifyInstance,
  ctx: Services,
  authenticate: (req: FastifyRequest) => Promise<ApiCaller>,
) {
  const tags = ['mail settings'];
  api.get(
    '/mail-settings',
    {
      schema: {
        tags,
        summary:
          "The organization's mail, calendar and contacts servers as apps are told them (404 `mail_settings_not_found` while none are saved).",
        security: secured,
        response: { 200: settingsOut, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const s = await ctx.mailSettings.get(actor, user.orgId);
      if (!s) throw new SesameError('mail_settings_not_found', `organization ${user.orgId} has no mail settings`);
      return settingsResponse(s);
    },
  );

  api.put<{ Body: Body }>(
    '/mail-settings',
    {
      schema: {
        tags,
        summary:
          'Replaces the mail settings: a service left out or null is not offered. Bad values are refused with their code and nothing changes.',
        security: secured,
        body: settingsIn,
        response: { 200: settingsOut, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      const b = req.body;
      const input: MailSettingsInput = { ...(b.userName !== undefined ? { userName: b.userName } : {}) };
      for (const s of MAIL_SERVICES) {
        const e = b[s];
        if (!e) continue;
        input[s] = {
          host: e.host ?? '',
          port: e.port ?? Number.NaN,
          security: e.security ?? (DAV_SERVICES.includes(s) ? 'tls' : ''),
          ...(e.path !== undefined ? { path: e.path } : {}),
        };
      }
      return settingsResponse(await ctx.mailSettings.set(actor, user.orgId, input));
    },
  );

  api.delete(
    '/mail-settings',
    {
      schema: {
        tags,
        summary: 'Removes the mail settings; whether there were any.',
        security: secured,
        response: {
          200: { type: 'object', required: ['removed'], properties: { removed: { type: 'boolean' } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { removed: await ctx.mailSettings.clear(actor, user.orgId) };
    },
  );

  api.post(
    '/mail-settings/check',
    {
      schema: {
        tags,
        summary:
          'Connects to every saved server as an app would (TCP, STARTTLS where set, TLS handshake) and says per service whether an app would trust its certificate for that host.',
        security: secured,
        response: { 200: checkOut, ...errors },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return { results: (await ctx.mailSettings.check(actor, user.orgId)).map(checkResponse) };
    },
  );
}
