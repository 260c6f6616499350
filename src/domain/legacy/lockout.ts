/**
 * Smart lockout for devices (after Microsoft Entra's): failures are counted per account *and
 * protocol* and per client IP; the same wrong password sent again and again (a phone retrying a
 * stale app password) counts once, because only passwords not seen wrong in the last day add to
 * the count; success clears only that account-and-protocol counter, never the web password's or
 * another protocol's; locks are temporary and grow. Counters live in the store (shared by every
 * instance). Checks before an app password cost reads only, and writes happen on its failures; a
 * main password, which costs an Argon2 hash anyway, takes its points before it is checked (reserve()).
 */
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { someKeyedHash } from '../../lib/crypto/tokens.js';
import type { Clock } from '../clock.js';
import type { DomainEvents } from '../events.js';
import type { CounterStore, CountKey, Peek } from '../throttling/throttle.js';

export interface BadPasswordMemory {
  seen(key: string, hash: string, since: number): Promise<boolean>;
  remember(key: string, hash: string, at: number): Promise<void>;
  forget(key: string): Promise<void>;
}

export interface LockoutSettings {
  accountLimit: number;
  ipLimit: number;
  lockBaseSeconds: number;
  lockMaxSeconds: number;
}

export interface LockoutState {
  lockedFor: number;
  accountFailures: number;
}

export interface LockoutKeys {
  account: string;
  ip: string;
}

/** The points an attempt took before its password was checked (see reserve()): its place on each counter. */
export interface Reservation {
  account: number;
  ip: number;
}

const DAY_S = 86_400;
const IP_WINDOW_S = 900;

export class SmartLockout {
  constructor(
    private readonly counters: CounterStore,
    private readonly memory: BadPasswordMemory,
    private readonly hasher: KeyedHasher,
    private readonly settings: LockoutSettings,
    private readonly clock: Clock,
    /** Told of every lock imposed (`lock_imposed`); the lockout itself keeps no metrics. */
    private readonly events: DomainEvents,
  ) {}

  keys(address: string, protocol: string, ip: string): LockoutKeys {
    return { account: `legacy:acct:${address}:${protocol}`, ip: `legacy:ip:${ip}` };
  }

  /** The counters state() reads (the verifier may read them together with the app password). */
  counterKeys(k: LockoutKeys): { locks: string[]; counts: CountKey[] } {
    return { locks: [k.account, k.ip], counts: [{ key: k.account, windowSeconds: DAY_S }] };
  }

  /** Seconds until both keys are free again (0 when neither is locked), and the account's failure count, from a peek of counterKeys(). */
  stateOf(p: Peek): LockoutState {
    return { lockedFor: Math.ceil(Math.max(0, ...p.lockMs) / 1000), accountFailures: p.counts[0] ?? 0 };
  }

  /** state() in one read of the counters. */
  async state(k: LockoutKeys): Promise<LockoutState> {
    const c = this.counterKeys(k);
    return this.stateOf(await this.counters.peek(c.locks, c.counts));
  }

  private badHash(k: LockoutKeys, password: string) {
    return this.hasher.digest('bad-password', `${k.account}\0${password}`);
  }

  /** Whether this exact password was already wrong for this account and protocol within a day. */
  async isRepeat(k: LockoutKeys, password: string): Promise<boolean> {
    // Remembered under a previous hash key (before a rotation) counts too, for the day it is kept.
    const since = this.clock.now() - DAY_S * 1000;
    return someKeyedHash(this.hasher, 'bad-password', `${k.account}\0${password}`, (h) =>
      this.memory.seen(k.account, h, since),
    );
  }

  /**
   * Takes the attempt's point from both counters *before* its password is checked, atomically in
   * the store, so that a burst of parallel guesses is counted in full and at most the limit of them
   * is ever checked (checklist 11); counting only after the check let all of a burst through. The
   * lock is read after the points are taken: a lock imposed (and its counter cleared) between the
   * caller's first read and this take is still seen. Undefined, with nothing taken, when the
   * account or the IP has no point left or is locked.
   */
  async reserve(k: LockoutKeys): Promise<Reservation | undefined> {
    const account = await this.counters.take(k.account, DAY_S);
    const ip = await this.counters.take(k.ip, IP_WINDOW_S);
    const locked =
      account > this.settings.accountLimit ||
      ip > this.settings.ipLimit ||
      this.stateOf(await this.counters.peek([k.account, k.ip], [])).lockedFor > 0;
    if (!locked) return { account, ip };
    await this.counters.giveBack(k.account, DAY_S);
    await this.counters.giveBack(k.ip, IP_WINDOW_S);
    return undefined;
  }

  /** A reserved attempt whose password was right: the IP's point goes back (it counts failures only), and the account's counter starts over. */
  async release(k: LockoutKeys, failuresBefore: number): Promise<void> {
    await this.counters.giveBack(k.ip, IP_WINDOW_S);
    await this.counters.clear(k.account, DAY_S);
    if (failuresBefore > 0) await this.memory.forget(k.account);
  }

  /**
   * A new wrong password: remembered, counted on both keys (unless `reserved` already took its
   * points), and a key at its limit is locked. Returns the lock length if any.
   */
  async failed(k: LockoutKeys, password: string, reserved?: Reservation): Promise<number | undefined> {
    await this.memory.remember(k.account, this.badHash(k, password), this.clock.now());
    let longest: number | undefined;
    for (const [key, limit, window, target] of [
      [k.account, this.settings.accountLimit, DAY_S, 'account'],
      [k.ip, this.settings.ipLimit, IP_WINDOW_S, 'ip'],
    ] as const) {
      const n = reserved ? reserved[target] : await this.counters.take(key, window);
      if (n >= limit) {
        let seconds = 0;
        await this.counters.lock(
          key,
          (i) => (seconds = Math.min(this.settings.lockMaxSeconds, this.settings.lockBaseSeconds * 2 ** (i - 1))),
        );
        await this.counters.clear(key, window);
        await this.events.publish({ type: 'lock_imposed', scope: 'legacy', target });
        longest = Math.max(longest ?? 0, seconds);
      }
    }
    return longest;
  }

  /** Success with this account and protocol: its counter (only) starts over. `failures` is what state() read. */
  async succeeded(k: LockoutKeys, failures: number): Promise<void> {
    if (failures > 0) {
      await this.counters.clear(k.account, DAY_S);
      await this.memory.forget(k.account);
    }
  }
}
