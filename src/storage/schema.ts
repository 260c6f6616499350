import type { Generated } from 'kysely';

/**
 * Table types for Kysely, shared by SQLite and PostgreSQL. Times are epoch milliseconds in
 * BIGINT columns (pg's int8 parser is set to return numbers; ms timestamps fit in 2^53).
 * Booleans are avoided; enumerations are TEXT checked by the domain.
 */
export interface OrganizationsTable {
  id: string;
  domain: string;
  name: string;
  created_at: number;
}

export interface UsersTable {
  id: string;
  org_id: string;
  address: string;
  name: string;
  status: string;
  role: string;
  password_hash: string | null;
  password_changed_at: number | null;
  created_at: number;
  mfa_state: Generated<string>;
  default_method_id: string | null;
  /** When a session last started for the user (browser or API sign-in); 0: never. */
  last_sign_in_at: Generated<number>;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  amr: string;
  ip: string;
  user_agent: string;
  mfa_at: number | null;
  /** When the password was last re-entered in this session (recent authentication; migration 13). */
  reauth_at: number | null;
  /** How the session was started: `web` (the pages) or `api` (POST /api/v1/sessions). */
  via: Generated<string>;
}

export interface OneTimeTokensTable {
  token_hash: string;
  purpose: string;
  user_id: string;
  expires_at: number;
  used_at: number | null;
}

/** Indexed by (org_id, at), and for the log's filters and the dashboard by (org_id, user_id | ip | protocol, at): migration 12. */
export interface SignInEventsTable {
  id: string;
  at: number;
  org_id: string | null;
  user_id: string | null;
  address_typed: string;
  outcome: string;
  reason: string;
  protocol: string;
  ip: string;
  user_agent: string;
  app_password_id: string | null;
  /** How many identical failures this row stands for (migration 17); 1 for every success. */
  attempts: Generated<number>;
  /** The last of them; null: the same as `at` (the first). */
  last_at: number | null;
  /** The aggregation window and fields of a failure row (unique); null for successes and older rows. */
  agg_key: string | null;
}

export interface AuditEventsTable {
  id: string;
  at: number;
  org_id: string | null;
  actor_id: string | null;
  actor_label: string;
  action: string;
  target_user_id: string | null;
  detail: string;
}

/** rate-limiter-flexible's table layout (key, points, expire); created by our migration, not by the library. */
export interface RateLimitsTable {
  key: string;
  points: number;
  expire: number | null;
}

export interface OrgPoliciesTable {
  org_id: string;
  mfa_default: string;
  /** Comma-separated method kinds. */
  allowed_methods: string;
  remember_days: number;
  updated_at: number;
  app_passwords_allowed: Generated<number>;
  app_passwords_keep_when_off: Generated<number>;
  app_password_cap: Generated<number>;
  app_password_protocols: Generated<string>;
  app_password_max_days: number | null;
  app_password_unused_days: number | null;
  revoke_on_password_change: Generated<number>;
  legacy_main_password: Generated<string>;
  /** Comma-separated ISO country codes for phone codes; null: the deployment's default. */
  phone_countries: string | null;
  /** IANA time zone the organization's pages show dates in; null: UTC. */
  time_zone: string | null;
  /** ISO country of phone numbers written without a country code; null: none. */
  default_country: string | null;
  /** 1: admins are mailed when an app password is used from a country its account never was. */
  notify_admins_new_country: Generated<number>;
}

export interface AppPasswordsTable {
  id: string;
  user_id: string;
  name: string;
  hash: string;
  protocols: string;
  created_at: number;
  created_ip: string;
  expires_at: number | null;
  last_used_at: number | null;
  last_used_protocol: string | null;
  last_used_ip: string | null;
  /** JSON array of named-location ids the app password is pinned to; null: none. */
  pinned_locations: string | null;
  /** Canonical CIDR the app password is pinned to; null: none. */
  pinned_network: string | null;
}

export interface MfaMethodsTable {
  id: string;
  user_id: string;
  kind: string;
  label: string;
  target: string | null;
  secret_enc: string | null;
  last_step: number | null;
  credential_id: string | null;
  public_key: string | null;
  sign_count: number | null;
  transports: string | null;
  created_at: number;
  last_used_at: number | null;
}

export interface RecoveryCodesTable {
  code_hash: string;
  user_id: string;
  created_at: number;
  used_at: number | null;
}

export interface FlowsTable {
  id: string;
  token_hash: string;
  kind: string;
  state: string;
  user_id: string;
  /** Optimistic concurrency: every save must name the version it read. */
  version: number;
  created_at: number;
  expires_at: number;
  data: string;
}

export interface TrustedDevicesTable {
  token_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

export interface AppPasswordIpsTable {
  app_password_id: string;
  ip: string;
  first_seen_at: number;
}

/** The countries an account has been used from on legacy protocols (domain/legacy/country-watch.ts). */
export interface AccountCountriesTable {
  user_id: string;
  /** ISO 3166-1 alpha-2, upper case. */
  country: string;
  first_seen_at: number;
}

export interface IntegrationsTable {
  id: string;
  name: string;
  key_hash: string;
  created_at: number;
  /** The last configuration error its calls showed (an unknown service name), and when; null: none. */
  last_config_error: string | null;
  last_config_error_at: number | null;
  /** When its good key was last seen (written at most every ~10 s), and what that request sent (JSON, no user name). */
  last_seen_at: number | null;
  last_seen: string | null;
}

/** The last requests that came with an unknown, revoked or missing integration key (the newest few kept). */
export interface IntegrationBadKeysTable {
  id: string;
  at: number;
  endpoint: string;
  peer: string;
  /** 1: a key was sent but is unknown or revoked; 0: no key at all. */
  key_sent: number;
}

export interface RecentBadPasswordsTable {
  key: string;
  hash: string;
  at: number;
}

export interface Database {
  organizations: OrganizationsTable;
  users: UsersTable;
  sessions: SessionsTable;
  one_time_tokens: OneTimeTokensTable;
  sign_in_events: SignInEventsTable;
  audit_events: AuditEventsTable;
  rate_limits: RateLimitsTable;
  org_policies: OrgPoliciesTable;
  mfa_methods: MfaMethodsTable;
  recovery_codes: RecoveryCodesTable;
  flows: FlowsTable;
  trusted_devices: TrustedDevicesTable;
  app_passwords: AppPasswordsTable;
  app_password_ips: AppPasswordIpsTable;
  account_countries: AccountCountriesTable;
  integrations: IntegrationsTable;
  integration_bad_keys: IntegrationBadKeysTable;
  recent_bad_passwords: RecentBadPasswordsTable;
  oidc_clients: OidcClientsTable;
  oidc_signing_keys: OidcSigningKeysTable;
  oidc_payloads: OidcPayloadsTable;
  mail_settings: MailSettingsTable;
  profile_links: ProfileLinksTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  group_limits: GroupLimitsTable;
  oidc_client_groups: OidcClientGroupsTable;
  posix_ids: PosixIdsTable;
  named_locations: NamedLocationsTable;
  location_policies: LocationPoliciesTable;
  verify_epoch: VerifyEpochTable;
}

/** A named location (domain/locations): networks and countries as JSON arrays; `name_key` unique per organization. */
export interface NamedLocationsTable {
  id: string;
  org_id: string;
  name: string;
  name_key: string;
  networks: Generated<string>;
  countries: Generated<string>;
  created_at: number;
  updated_at: number;
}

/** One row: raised by triggers at every change that can alter a verification's answer (migration 29). */
export interface VerifyEpochTable {
  id: number;
  n: number;
}

/** An organization's location rules (domain/locations/rules.ts) as JSON, and the version every change raises. */
export interface LocationPoliciesTable {
  org_id: string;
  rules: Generated<string>;
  version: Generated<number>;
  updated_at: number;
}

/** The POSIX number of a user or group (its id), given once and never again (storage/posix-ids.ts). */
export interface PosixIdsTable {
  entity_id: string;
  number: number;
  created_at: number;
}

/** The group an OIDC app requires of who signs in to it; no row: everyone of its organization. */
export interface OidcClientGroupsTable {
  client_id: string;
  group_id: string;
  updated_at: number;
}

/** A group of users of one organization (domain/groups); `name_key` is the lower-cased name, unique per organization. */
export interface GroupsTable {
  id: string;
  org_id: string;
  name: string;
  name_key: string;
  description: Generated<string>;
  created_at: number;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
  added_at: number;
}

/** The group an organization requires for a use (`app_passwords`, `ldap`, `radius`); no row: everyone. */
export interface GroupLimitsTable {
  org_id: string;
  use: string;
  group_id: string;
  updated_at: number;
}

/** An organization's mail servers (domain/mail-settings): JSON of `{ servers, userName }`. */
export interface MailSettingsTable {
  org_id: string;
  settings: string;
  updated_at: number;
}

/** A client application of the OpenID Connect provider, registered by an admin of its organization. */
export interface OidcClientsTable {
  id: string;
  org_id: string;
  name: string;
  /** JSON array of the registered redirect URIs. */
  redirect_uris: string;
  /** `confidential` (has a secret) or `public` (PKCE only). */
  kind: string;
  /** Keyed hash of a confidential client's secret; null for a public client. */
  secret_hash: string | null;
  require_mfa: number;
  created_at: number;
}

/** A signing key of the OpenID Connect provider; the newest signs, the others still verify. */
export interface OidcSigningKeysTable {
  kid: string;
  /** The private JWK, sealed with AAD `oidc-key:<kid>`. */
  private_jwk_enc: string;
  created_at: number;
}

/** What oidc-provider keeps between requests, one row per model and id (its adapter interface). */
export interface OidcPayloadsTable {
  model: string;
  id: string;
  /** The payload as JSON. */
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: number | null;
  consumed_at: number | null;
}

/** One-time links to an Apple configuration profile (domain/device-setup/profile-links.ts). */
export interface ProfileLinksTable {
  id_hash: string;
  user_id: string;
  app_password_id: string;
  session_id: string | null;
  /** The app password, sealed under a key derived from the link's token (never stored). */
  sealed: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}
