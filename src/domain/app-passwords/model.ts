/**
 * App passwords: generated codes with which one app or device (Outlook 2016, Apple Mail, a phone's
 * mail app, a printer) reaches the account over a legacy protocol while the account itself stays
 * MFA-protected. Each has a name, the protocols it may be used on, an optional expiry, and what is
 * known of its last use. The secret itself is never stored, only its keyed hash.
 */
export const PROTOCOLS = ['imap', 'pop3', 'smtp', 'dav', 'http', 'ldap', 'radius'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * What an organization allows until an admin says otherwise: not `ldap`, which reads the
 * organization's directory rather than one mailbox, nor `radius`, which opens the network (Wi-Fi,
 * VPN); an admin turns them on (the policy page) for app passwords made from then on. Also the
 * stored policy's column default (migration 2026-11-27-04), which is frozen.
 */
export const DEFAULT_PROTOCOLS: readonly Protocol[] = ['imap', 'pop3', 'smtp', 'dav', 'http'];

export interface AppPasswordPolicy {
  /** Whether users may create new app passwords. */
  allowed: boolean;
  /** When creation is off: whether existing app passwords keep working (true) or are suspended. */
  keepExistingWhenOff: boolean;
  /** At most this many per user (Microsoft's cap is 40). */
  cap: number;
  protocols: Protocol[];
  /** Expire this many days after creation; null: never. */
  maxLifetimeDays: number | null;
  /** Revoke after this many days without use; null: never. */
  revokeUnusedDays: number | null;
  /** A change of the main password revokes them all. */
  revokeOnPasswordChange: boolean;
  /** Every admin is mailed when an app password is used from a country its account never was (domain/legacy/country-watch.ts). */
  notifyAdminsNewCountry: boolean;
}

export const DEFAULT_APP_PASSWORD_POLICY: AppPasswordPolicy = {
  allowed: true,
  keepExistingWhenOff: true,
  cap: 40,
  protocols: [...DEFAULT_PROTOCOLS],
  maxLifetimeDays: null,
  revokeUnusedDays: null,
  revokeOnPasswordChange: true,
  notifyAdminsNewCountry: false,
};

export const CAP_MAX = 200;
export const DAYS_MAX = 3650;

/**
 * Where one app password may be used from (issue #20): named locations of its organization and/or
 * one network (`10.0.4.17/32`: the scanner). Null: wherever the organization's rules allow.
 */
export interface AppPasswordPin {
  locationIds: string[];
  network: string | null;
}

export interface AppPassword {
  id: string;
  userId: string;
  name: string;
  protocols: Protocol[];
  createdAt: number;
  createdIp: string;
  expiresAt: number | null;
  lastUsedAt: number | null;
  lastUsedProtocol: string | null;
  lastUsedIp: string | null;
  pin: AppPasswordPin | null;
}

export function isProtocol(v: unknown): v is Protocol {
  return typeof v === 'string' && (PROTOCOLS as readonly string[]).includes(v);
}

export interface NewAppPassword {
  id: string;
  userId: string;
  name: string;
  hash: string;
  protocols: Protocol[];
  createdAt: number;
  createdIp: string;
  expiresAt: number | null;
  pin?: AppPasswordPin | null;
}

export interface AppPasswordRepository {
  /**
   * Inserts unless the user already has `cap` app passwords (false), in one transaction (no race
   * past the cap); `'exists'` when a row with this id is already there (the same form sent twice:
   * the id is derived from its one-time nonce) and nothing was inserted.
   */
  createWithinCap(p: NewAppPassword, cap: number): Promise<boolean | 'exists'>;
  list(userId: string): Promise<AppPassword[]>;
  delete(userId: string, id: string): Promise<boolean>;
  /** Gives the user's app password `id` a new name (the secret stays); false when the user has no such app password. */
  rename(userId: string, id: string, name: string): Promise<boolean>;
  /** Replaces one of the user's app passwords' pin (null: none); false when the user has no such app password. */
  setPin(userId: string, id: string, pin: AppPasswordPin | null): Promise<boolean>;
  deleteAll(userId: string): Promise<number>;
  /** Whose app password has this keyed hash (one indexed read), or undefined. */
  findOwner(hash: string): Promise<string | undefined>;
  /** Everything a verification needs, in one indexed read (app password joined with its owner). */
  findForVerification(hash: string): Promise<VerificationRow | undefined>;
  /**
   * findForVerification for any of these hashes (the current key's and the previous keys'), in one
   * statement: a row moved to the current key between two separate lookups would be missed by both.
   * Returns the hash the row holds.
   */
  findForVerificationAmong(hashes: string[]): Promise<{ row: VerificationRow; hash: string } | undefined>;
  /** Moves an app password's hash from `from` to `to` (after a rotation of the hash key); false if it no longer holds `from`. */
  rehash(id: string, from: string, to: string): Promise<boolean>;
  /** Records uses (last one per app password wins). */
  recordUses(uses: AppPasswordUse[]): Promise<void>;
  /** Remembers a client IP for an app password; true when it is new. */
  recordIp(id: string, ip: string, at: number): Promise<boolean>;
  /**
   * Deletes the app passwords of an organization's users unused since `before` (never used:
   * created before); returns how many, and the addresses of their owners, each once.
   */
  deleteUnusedSince(orgId: string, before: number): Promise<{ deleted: number; owners: string[] }>;
  /** The addresses of the owners of app passwords whose expiry is after `since` and at or before `until`, each once. */
  ownersExpiredBetween(since: number, until: number): Promise<string[]>;
}

export interface AppPasswordUse {
  id: string;
  protocol: string;
  ip: string;
  at: number;
}

export interface VerificationRow extends AppPassword {
  address: string;
  userName: string;
  userStatus: string;
  mfaState: string;
  orgId: string;
  /** The group the organization requires for app passwords and whether the owner is in it, read in the same query; null: no group required. */
  requiredGroup: { id: string; member: boolean } | null;
  /** The groups the organization requires for LDAP and RADIUS (absent: everyone), and whether the owner is in each. */
  protocolGroups?: Partial<Record<'ldap' | 'radius', { id: string; member: boolean }>>;
  /** The parts of the organization's policy a verification needs (defaults when none is saved), read in the same query. */
  /** The version of the organization's location rules (0: none written), read in the same query (domain/locations/gate.ts). */
  locationVersion: number;
  policy: Pick<
    AppPasswordPolicy,
    'allowed' | 'keepExistingWhenOff' | 'revokeUnusedDays' | 'protocols' | 'maxLifetimeDays'
  >;
}
