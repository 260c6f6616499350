/**
 * Pieces every part of the JSON API shares: the error body, the bearer-token security marker,
 * common parameters and the shapes of a user and an organization. The route schemas are the source
 * of the OpenAPI document at /api/v1/openapi.json.
 */
import type { Organization, User } from '../domain/accounts/model.js';
import type { AppPassword } from '../domain/app-passwords/model.js';

/** Every refusal: `{error: {code, message}}` with a stable code and the sentence in the caller's language. */
export const errorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
} as const;

/** The refusals most routes may answer. */
export const errors = {
  400: errorBody,
  401: errorBody,
  403: errorBody,
  404: errorBody,
  409: errorBody,
  429: errorBody,
};
/** ...and those that may also fail to send a message (502). */
export const errorsWithDelivery = { ...errors, 502: errorBody };

/** Marks a route as needing `Authorization: Bearer <session token>`. */
export const secured = [{ session: [] }];

export const addressParam = {
  type: 'object',
  properties: { address: { type: 'string', maxLength: 254 } },
  required: ['address'],
} as const;
export const idParam = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

/** The paging of a list (querystring properties): at most `limit` items (50 unless asked), from `offset`. */
export const pageQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
  offset: { type: 'integer', minimum: 0, default: 0 },
} as const;

/** A time as the API writes it (ISO 8601, UTC). */
export const iso = (ms: number) => new Date(ms).toISOString();
/** The same for a time that may be missing. */
export const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export const userSchema = {
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

export const orgSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, domain: { type: 'string' }, name: { type: 'string' } },
  required: ['id', 'domain', 'name'],
} as const;

export function userOut(u: User) {
  return {
    id: u.id,
    address: u.address,
    name: u.name,
    status: u.status,
    role: u.role,
    mfaState: u.mfaState,
    createdAt: iso(u.createdAt),
  };
}

export function orgOut(o: Organization) {
  return { id: o.id, domain: o.domain, name: o.name };
}

/** An app password as the API shows it: never the secret. */
export const appPasswordSchema = {
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
    pin: {
      type: 'object',
      nullable: true,
      description:
        'Where it may be used from, on top of the organization’s location rules: named locations (ids) and/or one network. Null: wherever the rules allow.',
      properties: {
        locations: { type: 'array', items: { type: 'string' } },
        network: { type: 'string', nullable: true },
      },
    },
  },
} as const;

/** A pin as a client sends it (creation, PUT …/pin): location ids and/or one network or address. */
export const pinIn = {
  type: 'object',
  nullable: true,
  additionalProperties: false,
  properties: {
    locations: { type: 'array', maxItems: 100, uniqueItems: true, items: { type: 'string', maxLength: 64 } },
    network: {
      type: 'string',
      nullable: true,
      maxLength: 64,
      description:
        'One address (10.0.4.17) or network in CIDR notation; host bits must be zero (400 `location_network_invalid`).',
    },
  },
} as const;

/** The body of PUT …/app-passwords/{id}/pin (the user's and the admin's). */
export const pinBody = {
  type: 'object',
  properties: { pin: pinIn },
  required: ['pin'],
  additionalProperties: false,
} as const;

export type PinBody = { locations?: string[]; network?: string | null } | null;

export const pinInput = (b: PinBody | undefined) =>
  b ? { locationIds: b.locations ?? [], network: b.network ?? null } : null;

export const appPasswordOut = (p: AppPassword) => ({
  ...p,
  userId: undefined,
  createdAt: isoOrNull(p.createdAt),
  expiresAt: isoOrNull(p.expiresAt),
  lastUsedAt: isoOrNull(p.lastUsedAt),
  pin: p.pin ? { locations: p.pin.locationIds, network: p.pin.network } : null,
});

/** A list of app passwords, or a refusal. */
export const appPasswordListOut = {
  200: { type: 'object', properties: { appPasswords: { type: 'array', items: appPasswordSchema } } },
  ...errors,
};
