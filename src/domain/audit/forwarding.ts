/**
 * Events forwarded to a SIEM as they happen: every row the sign-in log and the audit log record
 * (sign-ins on every path, MFA changes, app passwords made and revoked, admin changes), and every
 * lock imposed. The shapes here are the whole contract: fields are picked one by one from the log
 * rows, which by design hold no secret (no password, code, token or hash), so nothing else can
 * slip into a forwarded event.
 *
 * Every sign-in attempt is forwarded, one event each, also when the sign-in log stores repeated
 * identical failures as one aggregated row (issue 15, item 4): a SIEM's detections want each
 * attempt's time (rate, bursts), and its own storage and retention are not Sesame's disk. The
 * event's `id` is the attempt's; an aggregated log row keeps the first attempt's id.
 *
 * Forwarding never blocks or fails what caused the event: the sink takes the event synchronously
 * (a queue push) after the row is written, and delivery happens later, elsewhere.
 */
import type { LockEvent } from '../throttling/throttle.js';
import { eventId } from './event-id.js';
import type { AuditEvent, AuditRepository, SignInEvent } from './events.js';

export type ForwardedEvent =
  | {
      type: 'sign_in';
      id: string;
      at: number;
      orgId: string | null;
      userId: string | null;
      /** The account name as typed. */
      address: string;
      outcome: SignInEvent['outcome'];
      reason: SignInEvent['reason'];
      protocol: string;
      ip: string;
      userAgent: string;
      appPasswordId: string | null;
    }
  | {
      type: 'audit';
      id: string;
      at: number;
      orgId: string | null;
      actorId: string | null;
      actor: string;
      action: string;
      targetUserId: string | null;
      detail: string;
    }
  | {
      /** A lock just imposed. The kind of key only: the attempts around it (sign_in events) name the account. */
      type: 'lockout';
      id: string;
      at: number;
      scope: LockEvent['scope'];
      target: LockEvent['target'];
    };

/** Takes events for delivery. Must return at once and never throw. */
export interface EventSink {
  publish(e: ForwardedEvent): void;
}

/** A sign-in log row as forwarded (its app password's name, a display detail, is left out). */
export function forwardedSignIn(e: SignInEvent): ForwardedEvent {
  return {
    type: 'sign_in',
    id: e.id,
    at: e.at,
    orgId: e.orgId,
    userId: e.userId,
    address: e.addressTyped,
    outcome: e.outcome,
    reason: e.reason,
    protocol: e.protocol,
    ip: e.ip,
    userAgent: e.userAgent,
    appPasswordId: e.appPasswordId ?? null,
  };
}

/** An audit-log row as forwarded. */
export function forwardedAudit(e: AuditEvent): ForwardedEvent {
  return {
    type: 'audit',
    id: e.id,
    at: e.at,
    orgId: e.orgId,
    actorId: e.actorId,
    actor: e.actorLabel,
    action: e.action,
    targetUserId: e.targetUserId,
    detail: e.detail,
  };
}

/** A lock just imposed, as forwarded; `at` from the caller's clock (the observer gets no time). */
export function forwardedLockout(e: LockEvent, at: number): ForwardedEvent {
  return { type: 'lockout', id: eventId(at), at, scope: e.scope, target: e.target };
}

/**
 * The audit repository, forwarding each row once it is written (a row the store refused is not
 * forwarded: the SIEM sees what the log holds). Reads pass through untouched.
 */
export function forwardingAudit(inner: AuditRepository, sink: EventSink): AuditRepository {
  return {
    async recordSignIn(e) {
      await inner.recordSignIn(e);
      sink.publish(forwardedSignIn(e));
    },
    async recordSignIns(events) {
      await inner.recordSignIns(events);
      for (const e of events) sink.publish(forwardedSignIn(e));
    },
    async recordAudit(e) {
      await inner.recordAudit(e);
      sink.publish(forwardedAudit(e));
    },
    listSignIns: (q) => inner.listSignIns(q),
    listAudit: (o, l) => inner.listAudit(o, l),
  };
}
