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
}

export interface OneTimeTokensTable {
  token_hash: string;
  purpose: string;
  user_id: string;
  expires_at: number;
  used_at: number | null;
}

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

export interface Database {
  organizations: OrganizationsTable;
  users: UsersTable;
  sessions: SessionsTable;
  one_time_tokens: OneTimeTokensTable;
  sign_in_events: SignInEventsTable;
  audit_events: AuditEventsTable;
  rate_limits: RateLimitsTable;
}
