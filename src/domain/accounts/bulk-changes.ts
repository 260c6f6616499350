/**
 * Bulk changes to users: set the MFA state, require re-registration, or disable, for users picked
 * on the admin Users page or listed in a CSV file (web upload or `sesame users import`).
 *
 * A bulk change is a small flow with explicit states, each step a call here:
 *
 *   rows ──plan()──> planned ──(any bad row)──> refused: per-row problems, nothing changes
 *                       │
 *                       └─(all rows good; shown as the preview, with its fingerprint)
 *                              ──apply(fingerprint)──> applied: per-row outcome
 *                              ──(users changed since the preview)──> stale: nothing changes
 *
 * Every row is checked before anything is written, and the changes are written in one store
 * transaction, so a change is never half applied. Apply plans again and compares fingerprints
 * (a digest of each target's current state and what would change), inside the transaction: a
 * preview that no longer describes the users, or a repeated submit, changes nothing.
 *
 * Rights are per organization: a row naming a user of another organization is a bad row (found by
 * the address's domain, so it says nothing about whether that user exists).
 */
import { createHash } from 'node:crypto';
import { type AuditEvent, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { Locale } from '../locale.js';
import { isMfaState, type MfaState } from '../mfa/model.js';
import { type Actor, actorLabel, requireAdminOf } from './actor.js';
import { normalizeAddress, type UserStatus } from './model.js';

export const BULK_OPERATIONS = ['mfa', 'reregister', 'disable'] as const;
export type BulkOperation = (typeof BULK_OPERATIONS)[number];

/** Upper bound of one change (the CLI's 50,000-user files fit; the web page has its own lower one). */
export const BULK_MAX_ROWS = 100_000;
/** Rows per statement: well under SQLite's and PostgreSQL's parameter limits. */
export const BULK_CHUNK = 2000;

export function isBulkOperation(v: unknown): v is BulkOperation {
  return typeof v === 'string' && (BULK_OPERATIONS as readonly string[]).includes(v);
}

/** One row asked for: `row` numbers it for the messages (the CSV row, or the place in the selection). */
export interface BulkRowInput {
  row: number;
  address: string;
  /** The MFA state to set (operation `mfa`). */
  state?: string;
}

export type RowProblem =
  | 'invalid_address'
  | 'unknown_address'
  | 'other_organization'
  | 'invalid_state'
  | 'duplicate'
  | 'own_account';

/** What a bulk change needs to know of a user. */
export interface BulkTarget {
  id: string;
  orgId: string;
  address: string;
  mfaState: MfaState;
  status: UserStatus;
  methodCount: number;
  /** App passwords: setting MFA to `disabled` deletes them (the preview says how many). */
  appPasswordCount: number;
}

export interface PlannedRow {
  row: number;
  /** The address as normalized (or as given, when it is not an address). */
  address: string;
  problem?: RowProblem;
  /** For `duplicate`: the row that named the user first. */
  duplicateOf?: number;
  target?: BulkTarget;
  /** The MFA state after the change (operations `mfa` and `reregister`). */
  mfaState?: MfaState;
  /** Whether the row changes anything (a state already set is left alone). */
  changes: boolean;
}

export interface BulkPlan {
  operation: BulkOperation;
  rows: PlannedRow[];
  /** Rows with a problem; the plan can be applied only when there are none. */
  problems: number;
  /** Digest of the plan and every target's current state: apply() refuses if it has moved on. */
  fingerprint: string;
}

export interface BulkResult {
  plan: BulkPlan;
  /** Users changed (rows that changed nothing are not counted). */
  changed: number;
}

export type BulkProgress = (phase: 'checking' | 'applying', done: number, total: number) => void;

/** Writes of one bulk change, all inside one store transaction. */
export interface BulkChangeWriter {
  findTargets(addresses: string[]): Promise<BulkTarget[]>;
  setMfaState(userIds: string[], state: MfaState): Promise<void>;
  /** Deletes the users' app passwords; returns the names each user lost (for the notice to them). */
  deleteAppPasswords(userIds: string[]): Promise<Map<string, string[]>>;
  /** Methods, recovery codes, remembered devices, flows and the default method go; the state becomes `enabled`. */
  clearMfa(userIds: string[]): Promise<void>;
  setStatus(userIds: string[], status: UserStatus): Promise<void>;
  endSessions(userIds: string[]): Promise<void>;
  recordAudit(events: AuditEvent[]): Promise<void>;
}

export interface BulkChangeRepository {
  /** The users at these (normalized) addresses; unknown addresses are simply absent. */
  findTargets(addresses: string[]): Promise<BulkTarget[]>;
  /** Runs `fn` in one transaction: all of its writes, or none when it throws. */
  transaction<T>(fn: (tx: BulkChangeWriter) => Promise<T>): Promise<T>;
}

const chunks = <T>(xs: T[], n = BULK_CHUNK): T[][] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));

export class BulkChanges {
  constructor(
    private readonly repo: BulkChangeRepository,
    private readonly orgDomain: (orgId: string) => Promise<string>,
    private readonly clock: Clock,
    /** Told `users_changed_in_bulk` after a change was applied (what follows: app/consequences.ts). */
    private readonly events: DomainEvents,
  ) {}

  /**
   * Checks every row and says what each would change. `orgId` is the organization the change is
   * limited to: always the admin's own for a signed-in admin; the operator may leave it out (any
   * organization). Throws only for the request as a whole (no rows, too many, no rights).
   */
  async plan(
    actor: Actor,
    orgId: string | undefined,
    operation: BulkOperation,
    input: BulkRowInput[],
    progress?: BulkProgress,
  ): Promise<BulkPlan> {
    return this.planWith(this.repo, actor, orgId, await this.domainOf(orgId), operation, input, progress);
  }

  private async domainOf(orgId: string | undefined): Promise<string | undefined> {
    return orgId === undefined ? undefined : this.orgDomain(orgId);
  }

  /**
   * Applies a change whose every row is good, in one transaction. With `fingerprint` (the
   * preview's), refuses with `bulk_stale` when the plan is no longer what was previewed. With a
   * bad row nothing is written and `changed` is 0: the plan says which rows and why.
   */
  async apply(
    actor: Actor,
    orgId: string | undefined,
    operation: BulkOperation,
    input: BulkRowInput[],
    fingerprint?: string,
    progress?: BulkProgress,
    /** The admin's language: users whose MFA goes off are told in it, as for a single change. */
    locale: Locale = 'en',
  ): Promise<BulkResult> {
    const first = await this.plan(actor, orgId, operation, input, progress);
    if (first.problems) return { plan: first, changed: 0 };
    if (fingerprint !== undefined && fingerprint !== first.fingerprint) throw stale();
    const at = this.clock.now();
    // Read before the transaction: on SQLite a read outside it would wait for it forever.
    const domain = await this.domainOf(orgId);
    const gone = new Map<string, string[]>();
    const done = await this.repo.transaction(async (tx) => {
      // Checked again inside the transaction: nothing may move between the check and the writes.
      const plan = await this.planWith(tx, actor, orgId, domain, operation, input);
      if (plan.fingerprint !== first.fingerprint) throw stale();
      const rows = plan.rows.filter((r) => r.changes);
      const ids = (rs: PlannedRow[]) => rs.map((r) => r.target!.id);
      let written = 0;
      gone.clear();
      for (const part of chunks(rows)) {
        if (operation === 'mfa') {
          for (const state of new Set(part.map((r) => r.mfaState!))) {
            const these = part.filter((r) => r.mfaState === state);
            await tx.setMfaState(ids(these), state);
            // As for one user (MfaAdmin.setUserState): app passwords go with MFA, and each user
            // is told which (the names are read in the same transaction as the deletion).
            if (state === 'disabled')
              for (const [userId, names] of await tx.deleteAppPasswords(ids(these))) gone.set(userId, names);
          }
        } else if (operation === 'reregister') {
          await tx.clearMfa(ids(part));
          await tx.endSessions(ids(part));
        } else {
          await tx.setStatus(ids(part), 'disabled');
          await tx.endSessions(ids(part));
        }
        await tx.recordAudit(part.map((r) => this.auditRow(actor, at, operation, r)));
        written += part.length;
        progress?.('applying', written, rows.length);
      }
      await tx.recordAudit([
        auditEvent(actor, at, {
          orgId: orgId ?? null,
          action: 'users.bulk',
          targetUserId: null,
          detail: `${operation}: ${rows.length} of ${plan.rows.length} user(s) changed`,
        }),
      ]);
      return rows;
    });
    if (done.length)
      await this.events.publish({
        type: 'users_changed_in_bulk',
        operation,
        locale,
        users: done.map((r) => ({
          userId: r.target!.id,
          address: r.address,
          state: r.mfaState,
          ...(r.mfaState === 'disabled' ? { appPasswordsGone: gone.get(r.target!.id) ?? [] } : {}),
        })),
      });
    return { plan: first, changed: done.length };
  }

  private async planWith(
    reader: { findTargets(a: string[]): Promise<BulkTarget[]> },
    actor: Actor,
    orgId: string | undefined,
    domain: string | undefined,
    operation: BulkOperation,
    input: BulkRowInput[],
    progress?: BulkProgress,
  ): Promise<BulkPlan> {
    if (actor.kind !== 'operator' && orgId === undefined)
      throw new SesameError('forbidden', `${actorLabel(actor)} asked for a bulk change without an organization`);
    if (orgId !== undefined) requireAdminOf(actor, orgId);
    if (!isBulkOperation(operation))
      throw new SesameError('invalid_input', `bulk operation ${String(operation).slice(0, 40)}`);
    if (input.length === 0) throw new SesameError('bulk_empty', 'bulk change with no rows');
    if (input.length > BULK_MAX_ROWS)
      throw new SesameError('bulk_too_large', `bulk change of ${input.length} rows`, {
        params: { max: BULK_MAX_ROWS },
      });
    const seen = new Map<string, number>();
    const rows: PlannedRow[] = input.map((r) => {
      const out: PlannedRow = { row: r.row, address: r.address.trim().slice(0, 254), changes: false };
      try {
        const n = normalizeAddress(r.address);
        out.address = n.address;
        if (domain !== undefined && n.domain !== domain) out.problem = 'other_organization';
      } catch {
        out.problem = 'invalid_address';
      }
      if (!out.problem && operation === 'mfa' && !isMfaState(r.state?.trim().toLowerCase()))
        out.problem = 'invalid_state';
      if (!out.problem) {
        const first = seen.get(out.address);
        if (first !== undefined) {
          out.problem = 'duplicate';
          out.duplicateOf = first;
        } else seen.set(out.address, r.row);
      }
      if (operation === 'mfa') out.mfaState = r.state?.trim().toLowerCase() as MfaState;
      return out;
    });
    const wanted = rows.filter((r) => !r.problem);
    const targets = new Map<string, BulkTarget>();
    let checked = 0;
    for (const part of chunks(wanted)) {
      for (const t of await reader.findTargets(part.map((r) => r.address))) targets.set(t.address, t);
      checked += part.length;
      progress?.('checking', checked, wanted.length);
    }
    for (const r of wanted) {
      const t = targets.get(r.address);
      if (!t) r.problem = 'unknown_address';
      else if (orgId !== undefined && t.orgId !== orgId) r.problem = 'other_organization';
      else if (operation === 'disable' && actor.kind === 'user' && actor.user.id === t.id) r.problem = 'own_account';
      else {
        r.target = t;
        if (operation === 'reregister') r.mfaState = 'enabled';
        r.changes =
          operation === 'mfa' ? t.mfaState !== r.mfaState : operation === 'disable' ? t.status !== 'disabled' : true;
      }
    }
    for (const r of rows) if (r.problem) r.mfaState = undefined;
    const problems = rows.filter((r) => r.problem).length;
    const digest = createHash('sha256').update(
      JSON.stringify([
        operation,
        orgId ?? '',
        rows.map((r) => [
          r.row,
          r.address,
          r.problem ?? '',
          r.mfaState ?? '',
          r.target
            ? [r.target.id, r.target.mfaState, r.target.status, r.target.methodCount, r.target.appPasswordCount]
            : 0,
        ]),
      ]),
    );
    return { operation, rows, problems, fingerprint: digest.digest('base64url') };
  }

  private auditRow(actor: Actor, at: number, operation: BulkOperation, r: PlannedRow): AuditEvent {
    const t = r.target!;
    const [action, what] =
      operation === 'mfa'
        ? ['mfa.state', `${t.mfaState} -> ${r.mfaState}`]
        : operation === 'reregister'
          ? ['mfa.require_reregistration', `${t.methodCount} method(s) removed, sessions ended`]
          : ['user.disable', 'sessions ended'];
    return auditEvent(actor, at, {
      orgId: t.orgId,
      action,
      targetUserId: t.id,
      detail: `${t.address}: ${what} (bulk change)`,
    });
  }
}

function stale(): SesameError {
  return new SesameError('bulk_stale', 'the users changed since the bulk change was previewed');
}
