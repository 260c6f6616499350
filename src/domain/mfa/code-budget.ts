/**
 * Budgets on one-time codes sent by text, voice call and email (issue #15, item 3): every code
 * costs money (text and voice) or reputation (email), and a stranger who can make Sesame send
 * codes can pump texts to premium numbers or bomb a victim's phone. So each code, in every flow
 * that sends one (sign-in, registering or re-verifying a method, a fresh second factor, a password
 * reset), is counted before it goes out against four budgets, each per hour and per day:
 *
 *   user          the account the code is for
 *   destination   the phone number or email address it goes to (normalized), whoever asks
 *   organization  the account's organization
 *   total         everything this deployment sends
 *
 * The counters live in the store (the `rate_limits` table, shared by every instance) and are
 * taken atomically *before* sending, so a burst of parallel requests is counted in full and
 * cannot overshoot: a request whose take lands over any limit sends nothing, gives its points
 * back and is refused with `code_budget_exceeded`; an audit row says which budget was hit (the
 * destination masked, never in clear). Counter keys name a destination only by its keyed hash.
 */
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { auditEvent, type AuditRepository } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { CountKey } from '../throttling/throttle.js';
import { type OrgPolicy, policyOf } from './model.js';
import type { CodeChannel } from './notifier.js';
import { checkPhone } from './phone-policy.js';

export const BUDGET_SCOPES = ['user', 'destination', 'organization', 'total'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];
export type BudgetWindow = 'hour' | 'day';

/** Codes allowed per scope and window. */
export type CodeBudgetLimits = Record<BudgetScope, Record<BudgetWindow, number>>;

const WINDOW_SECONDS: Record<BudgetWindow, number> = { hour: 3600, day: 86_400 };

/** The part of the throttle's CounterStore the budgets use (storage/throttle-store.ts). */
export interface BudgetCounters {
  /** Atomically adds one to `key` within `windowSeconds`; returns the new count. */
  take(key: string, windowSeconds: number): Promise<number>;
  giveBack(key: string, windowSeconds: number): Promise<void>;
}

export interface CodeSend {
  channel: CodeChannel;
  userId: string;
  orgId: string;
  /** Normalized: E.164 for a phone, the normalized address for email. */
  destination: string;
  /** The destination as logs may show it ("+31 •••• 5678", "a•••@example.org"). */
  masked: string;
}

export class CodeBudget {
  constructor(
    private readonly counters: BudgetCounters,
    private readonly hasher: KeyedHasher,
    private readonly limits: CodeBudgetLimits,
    private readonly audit: Pick<AuditRepository, 'recordAudit'>,
    private readonly clock: Clock,
  ) {}

  private keys(s: CodeSend): Record<BudgetScope, string> {
    return {
      user: `budget:user:${s.userId}`,
      // Keyed hash: the rate_limits table never holds a phone number or address in clear.
      destination: `budget:dest:${this.hasher.digest('code-destination', s.destination)}`,
      organization: `budget:org:${s.orgId}`,
      total: 'budget:total',
    };
  }

  /**
   * Counts one code against every budget; throws `code_budget_exceeded` (and writes the audit
   * row) when any is spent, in which case nothing is counted and the caller must send nothing.
   */
  async spend(s: CodeSend): Promise<void> {
    const keys = this.keys(s);
    const taken: { scope: BudgetScope; window: BudgetWindow; key: CountKey; count: number }[] = await Promise.all(
      BUDGET_SCOPES.flatMap((scope) =>
        (['hour', 'day'] as const).map(async (window) => {
          const key = { key: keys[scope], windowSeconds: WINDOW_SECONDS[window] };
          return { scope, window, key, count: await this.counters.take(key.key, key.windowSeconds) };
        }),
      ),
    );
    const over = taken.find((t) => t.count > this.limits[t.scope][t.window]);
    if (!over) return;
    // Refused: this code is not sent, so it does not count (the counts stay at or over the limit).
    await Promise.all(taken.map((t) => this.counters.giveBack(t.key.key, t.key.windowSeconds)));
    const limit = this.limits[over.scope][over.window];
    await this.audit.recordAudit(
      auditEvent({ kind: 'sesame' }, this.clock.now(), {
        orgId: s.orgId,
        action: 'code_budget.exceeded',
        targetUserId: s.userId,
        detail: `${s.channel} code to ${s.masked} not sent: ${over.scope} budget of ${limit} per ${over.window} reached`,
      }),
    );
    throw new SesameError(
      'code_budget_exceeded',
      `${over.scope} budget of ${limit} codes per ${over.window} reached (${s.channel} to ${s.masked})`,
      { retryAfterSeconds: WINDOW_SECONDS[over.window] },
    );
  }
}

/** What a CodeFactor asks before it registers a destination and before it sends each code. */
export interface CodeSendGuard {
  /** Refuses a destination the user's organization does not allow (phones: country and type, see phone-policy.ts). */
  checkDestination(channel: CodeChannel, destination: string, orgId: string): Promise<void>;
  /** Counts one code against the budgets; throws `code_budget_exceeded` when one is spent. */
  spend(s: CodeSend): Promise<void>;
}

/** The guard: the organization's phone countries (or the deployment's default list), then the budgets. */
export function codeSendGuard(
  policies: { getPolicy(orgId: string): Promise<OrgPolicy | undefined> },
  defaultCountries: readonly string[],
  budget: CodeBudget,
): CodeSendGuard {
  return {
    async checkDestination(channel, destination, orgId) {
      if (channel === 'email') return;
      const policy = await policyOf(policies, orgId);
      checkPhone(channel, destination, policy.phoneCountries ?? defaultCountries);
    },
    spend: (s) => budget.spend(s),
  };
}
