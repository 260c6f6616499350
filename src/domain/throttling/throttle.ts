/**
 * Throttling of guessable things. Every attempt takes a point from each of its counters *before*
 * the secret is checked, so a burst of parallel guesses is counted in full (50 in, 50 counted)
 * and can never outrun the lock. A failure that reaches a counter's limit locks that key for a
 * while; each further lock within a day doubles the length (60 s, 120 s, ... up to the maximum).
 * A success refunds the attempt and clears that account's consecutive-failure count only for the
 * authenticator it proved (checklist 9), never the IP's failures.
 *
 * Counters live in the store (see storage/throttle-store.ts), so several instances share them.
 */
import type { DomainEventOf, DomainEvents } from '../events.js';

export interface CounterStore {
  /** Milliseconds `key` stays locked, or 0. (A duration, not a time: the store keeps its own clock.) */
  lockRemainingMs(key: string): Promise<number>;
  /** Atomically adds one to `key`'s failure count within `windowSeconds`; returns the new count. */
  take(key: string, windowSeconds: number): Promise<number>;
  /**
   * In one read: milliseconds each of `locks` stays locked, and the failure count of each of
   * `counts` (the hot path of the legacy endpoints asks for all three at once).
   */
  peek(locks: string[], counts: CountKey[]): Promise<Peek>;
  /** Gives one point back (a successful attempt). */
  giveBack(key: string, windowSeconds: number): Promise<void>;
  /** Clears the failure count of `key`. */
  clear(key: string, windowSeconds: number): Promise<void>;
  /** Records one more lock of `key` within a day and returns how many there were; locks it for `seconds(n)`. */
  lock(key: string, seconds: (lockNumber: number) => number): Promise<number>;
  /** Ends a lock of `key` now (the count of locks, which makes the next one longer, stays). */
  unlock(key: string): Promise<void>;
}

export interface CountKey {
  key: string;
  windowSeconds: number;
}

/** What peek() found: milliseconds each lock key stays locked (0: free), and each count key's failures. */
export interface Peek {
  lockMs: number[];
  counts: number[];
}

/** A lock just imposed: the kind of key only, never the key (it names an account or an address). See DomainEvent `lock_imposed`. */
export type LockEvent = Omit<DomainEventOf<'lock_imposed'>, 'type'>;

export interface ThrottleRule {
  /** Failures that trigger a lock. */
  limit: number;
  /** Window in which failures are counted. */
  windowSeconds: number;
}

export interface ThrottleSettings {
  lockBaseSeconds: number;
  lockMaxSeconds: number;
}

export interface ThrottleKey {
  key: string;
  rule: ThrottleRule;
  /** Whether a success clears this key's failures (accounts: yes; client IPs: no). */
  clearOnSuccess: boolean;
  /**
   * A rate, not a failure count: every attempt counts, success or not, and one over the limit is
   * refused until the window ends, without a lock (checks that cost an Argon2 hash, per client IP).
   */
  rate?: boolean;
}

export type AttemptGate =
  | { allowed: true; ticket: AttemptTicket }
  /** `blockedBy`: the key that refused (the first locked or exhausted one), so the log can say which lock it was. */
  | { allowed: false; retryAfterSeconds: number; blockedBy: ThrottleKey };

export interface AttemptTicket {
  keys: { key: ThrottleKey; count: number }[];
}

export class Throttle {
  constructor(
    private readonly store: CounterStore,
    private readonly settings: ThrottleSettings,
    /** Told of every lock imposed (`lock_imposed`); the throttle itself keeps no metrics. */
    private readonly events: DomainEvents,
  ) {}

  /** Asks to make one attempt under all `keys`; refused while any of them is locked or over its limit. */
  async begin(keys: ThrottleKey[]): Promise<AttemptGate> {
    const remainingMs = await Promise.all(keys.map((k) => this.store.lockRemainingMs(k.key)));
    const blocked = remainingMs.findIndex((ms) => ms > 0);
    if (blocked >= 0)
      return {
        allowed: false,
        retryAfterSeconds: Math.ceil(Math.max(...remainingMs) / 1000),
        blockedBy: keys[blocked]!,
      };
    const taken: AttemptTicket['keys'] = [];
    for (const key of keys) {
      const count = await this.store.take(key.key, key.rule.windowSeconds);
      taken.push({ key, count });
      if (count > key.rule.limit) {
        // Another attempt got the last point: this one is refused and the key is (being) locked.
        for (const t of taken) await this.store.giveBack(t.key.key, t.key.rule.windowSeconds);
        return {
          allowed: false,
          retryAfterSeconds: key.rate ? key.rule.windowSeconds : this.settings.lockBaseSeconds,
          blockedBy: key,
        };
      }
    }
    // Another attempt may have reached the limit between the lock check above and the takes: it
    // locks the key and clears its counter, so this attempt's take saw a fresh count. Looking at
    // the locks again, now that the points are taken, closes that gap (as the legacy lockout does).
    const lockedSince = await Promise.all(keys.map((k) => this.store.lockRemainingMs(k.key)));
    const late = lockedSince.findIndex((ms) => ms > 0);
    if (late >= 0) {
      for (const t of taken) await this.store.giveBack(t.key.key, t.key.rule.windowSeconds);
      return { allowed: false, retryAfterSeconds: Math.ceil(Math.max(...lockedSince) / 1000), blockedBy: keys[late]! };
    }
    return { allowed: true, ticket: { keys: taken } };
  }

  /** The attempt failed: keys that reached their limit are locked; returns the lock length if any. */
  async failed(ticket: AttemptTicket): Promise<number | undefined> {
    let longest: number | undefined;
    for (const { key, count } of ticket.keys) {
      if (!key.rate && count >= key.rule.limit) {
        let seconds = 0;
        await this.store.lock(
          key.key,
          (n) => (seconds = Math.min(this.settings.lockMaxSeconds, this.settings.lockBaseSeconds * 2 ** (n - 1))),
        );
        await this.store.clear(key.key, key.rule.windowSeconds);
        // Keys cleared by a success are the accounts' (password, second factor); the others are client IPs.
        await this.events.publish({
          type: 'lock_imposed',
          scope: 'browser',
          target: key.clearOnSuccess ? 'account' : 'ip',
        });
        longest = Math.max(longest ?? 0, seconds);
      }
    }
    return longest;
  }

  /**
   * Lifts `key`'s lock and clears its failures: the account was recovered by other means (a
   * one-time set-password link), so a lock an attacker imposed must not keep its owner out.
   */
  async reset(key: ThrottleKey): Promise<void> {
    await this.store.unlock(key.key);
    await this.store.clear(key.key, key.rule.windowSeconds);
  }

  /** The attempt was never checked (no CPU for its hash: `busy`): every point it took goes back. */
  async cancel(ticket: AttemptTicket): Promise<void> {
    for (const { key } of ticket.keys) await this.store.giveBack(key.key, key.rule.windowSeconds);
  }

  /** The attempt succeeded. */
  async succeeded(ticket: AttemptTicket): Promise<void> {
    for (const { key } of ticket.keys) {
      if (key.rate) continue;
      if (key.clearOnSuccess) await this.store.clear(key.key, key.rule.windowSeconds);
      else await this.store.giveBack(key.key, key.rule.windowSeconds);
    }
  }
}
