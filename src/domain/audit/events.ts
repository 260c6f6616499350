/**
 * The sign-in log (every authentication attempt, on every path) and the audit log (who changed
 * what). Neither ever holds a secret: no password, code or token, only what was typed as the
 * account name, the outcome and a stable reason code.
 */
import { randomUUID } from 'node:crypto';
import { type Actor, actorId, actorLabel } from '../accounts/actor.js';
import type { User } from '../accounts/model.js';

export type SignInOutcome = 'success' | 'failure' | 'throttled';

/** Why an attempt ended as it did. Stable: admins filter and alert on these. */
export const SIGN_IN_REASONS = [
  'ok',
  'unknown_user',
  'wrong_password',
  'no_password_set',
  'user_disabled',
  'account_locked',
  'account_locked_familiar',
  'ip_locked',
  'ip_rate_limited',
  'server_busy',
  'invalid_input',
  'wrong_second_factor',
  'app_password_refused',
  'protocol_not_allowed',
  'expired',
  'app_passwords_suspended',
  'main_password_refused',
  'mfa_off',
  'repeated_wrong_password',
  'mfa_locked',
  // An app password of a user outside the group the organization requires for app passwords (issue #19).
  'not_in_group',
  // The right app password (or main password) from an address the organization's location rules or
  // the app password's pin do not allow (issue #20): a refusal by policy, counted on no lock.
  'location_not_allowed',
] as const;

export type SignInReason = (typeof SIGN_IN_REASONS)[number];

export interface SignInEvent {
  id: string;
  at: number;
  orgId: string | null;
  userId: string | null;
  /** The account name exactly as typed (trimmed, at most 254 characters). */
  addressTyped: string;
  outcome: SignInOutcome;
  reason: SignInReason;
  /** `web`, `api`, later `imap`, `smtp`, ... */
  protocol: string;
  ip: string;
  userAgent: string;
  /** The app password used, for legacy-protocol attempts that named one. */
  appPasswordId?: string | null;
  /** Its name, when listed (and while it still exists). */
  appPasswordName?: string | null;
  /**
   * When listed: how many identical attempts the row stands for. Repeated identical failures
   * (same typed account, IP, protocol, outcome and reason within the aggregation window) are
   * stored as one row (issue 15, item 4); `at` is then the first and `lastAt` the last. 1 and `at`
   * for a single attempt.
   */
  count?: number;
  lastAt?: number;
}

export interface AuditEvent {
  id: string;
  at: number;
  orgId: string | null;
  /** User id of who did it, or null for the operator's CLI. */
  actorId: string | null;
  actorLabel: string;
  action: string;
  targetUserId: string | null;
  detail: string;
}

/** Who an audit entry names as having done it: an actor, or Sesame itself (a scheduled sweep). */
export type AuditActor = Actor | { kind: 'sesame' };

/** What an audit entry says besides who did it and when. */
export interface AuditFacts {
  orgId: string | null;
  action: string;
  targetUserId: string | null;
  detail: string;
}

/** A new audit entry: a fresh id, the time, and who did it as the audit log names them. */
export function auditEvent(by: AuditActor, at: number, what: AuditFacts): AuditEvent {
  return {
    id: randomUUID(),
    at,
    orgId: what.orgId,
    actorId: by.kind === 'sesame' ? null : actorId(by),
    actorLabel: by.kind === 'sesame' ? 'Sesame' : actorLabel(by),
    action: what.action,
    targetUserId: what.targetUserId,
    detail: what.detail,
  };
}

/** A new audit entry about `user`, in their organization: by an admin, the operator, or the user themself. */
export function userAuditEvent(by: Actor, at: number, user: User, action: string, detail: string): AuditEvent {
  return auditEvent(by, at, { orgId: user.orgId, action, targetUserId: user.id, detail });
}

export interface SignInQuery {
  orgId: string;
  /** Only this user's events ("My sign-ins"). */
  userId?: string;
  /** Only the event with this id (a row the user reports); with `userId`, only if it is theirs. */
  id?: string;
  limit: number;
  offset: number;
}

export interface AuditRepository {
  recordSignIn(e: SignInEvent): Promise<void>;
  /** Many events in one statement (the batched log of the legacy endpoints). */
  recordSignIns(events: SignInEvent[]): Promise<void>;
  listSignIns(q: SignInQuery): Promise<{ events: SignInEvent[]; total: number }>;
  recordAudit(e: AuditEvent): Promise<void>;
  listAudit(orgId: string, limit: number): Promise<AuditEvent[]>;
}

/** Strips control characters and bounds length, so that a user agent cannot forge log lines. */
export function sanitizeForLog(value: string, max = 500): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\uFFFD').slice(0, max);
}
