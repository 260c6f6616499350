/**
 * Smart lockout for mail and calendar apps (after Microsoft Entra's; the design is in
 * docs/security.md, "Smart lockout"). It protects the secret that can be guessed, not the account:
 * - an app password (≥ 72 random bits) is never locked out: a good one is accepted whatever anyone
 *   else did, so guesses from elsewhere cannot keep the owner's devices out;
 * - the main password has two failure counters per account, one for networks its owner has given
 *   it correctly from (familiar) and one for everywhere else, shared with the browser and the API
 *   (locations.ts); a guesser elsewhere locks only the second;
 * - every client IP has its own counter, which refuses everything but a good app password from
 *   that IP once locked: one source cannot go on guessing, across accounts either;
 * - a wrong password already seen wrong for the account within a day (a phone retrying a deleted
 *   app password) is answered without being counted again, whatever its shape;
 * - an app password's success clears nothing: it is never why a main password gets more tries.
 * Counters live in the store (shared by every instance); locks are temporary and grow.
 */
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { someKeyedHash } from '../../lib/crypto/tokens.js';
import type { Clock } from '../clock.js';
import type { DomainEvents } from '../events.js';
import type { CounterStore, CountKey, Peek } from '../throttling/throttle.js';
import {
  FAMILIAR_WINDOW_S,
  type Familiarity,
  familiarKey,
  lockAccount,
  ipRateKey,
  mainPasswordKey,
} from '../throttling/locations.js';

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
  /** Main-password checks per client IP per minute (the browser's counter: they cost the same Argon2 hash). */
  ipChecksPerMinute: number;
}

export interface LockoutKeys {
  /** The account part of the keys (lockAccount()). */
  account: string;
  /** The client IP's failure counter (and lock). */
  ip: string;
  ipAddress: string;
  familiar: string;
  mainPassword: Record<Familiarity, string>;
}

export interface LockoutState {
  /** Seconds the client IP stays locked (0: free). */
  ipLockedFor: number;
  /** Whether the client's network is familiar to this account. */
  familiarity: Familiarity;
  /** Seconds the main password stays locked from this kind of location (0: free). */
  accountLockedFor: number;
}

/** The points an attempt took before its password was checked (see reserve()): its place on each counter. */
export interface Reservation {
  account: number;
  ip: number;
}

const DAY_S = 86_400;
export const LEGACY_IP_WINDOW_S = 900;

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

  /** `protocol` is kept for the log only: the counters are the secret's, not the protocol's. */
  keys(address: string, _protocol: string, ip: string): LockoutKeys {
    const account = lockAccount(address);
    return {
      account,
      ip: legacyIpKey(ip),
      ipAddress: ip,
      familiar: familiarKey(account, ip),
      mainPassword: {
        familiar: mainPasswordKey(account, 'familiar'),
        unfamiliar: mainPasswordKey(account, 'unfamiliar'),
      },
    };
  }

  /** The counters state() reads, in one statement. */
  counterKeys(k: LockoutKeys): { locks: string[]; counts: CountKey[] } {
    return {
      locks: [k.ip, k.mainPassword.familiar, k.mainPassword.unfamiliar],
      counts: [{ key: k.familiar, windowSeconds: FAMILIAR_WINDOW_S }],
    };
  }

  stateOf(p: Peek): LockoutState {
    const familiarity: Familiarity = (p.counts[0] ?? 0) > 0 ? 'familiar' : 'unfamiliar';
    const s = (ms: number | undefined) => Math.ceil(Math.max(0, ms ?? 0) / 1000);
    return {
      ipLockedFor: s(p.lockMs[0]),
      familiarity,
      accountLockedFor: s(familiarity === 'familiar' ? p.lockMs[1] : p.lockMs[2]),
    };
  }

  async state(k: LockoutKeys): Promise<LockoutState> {
    const c = this.counterKeys(k);
    return this.stateOf(await this.counters.peek(c.locks, c.counts));
  }

  private memoryKey(k: LockoutKeys): string {
    return `pw:${k.account}`;
  }

  private badHash(k: LockoutKeys, password: string) {
    return this.hasher.digest('bad-password', `${this.memoryKey(k)}\0${password}`);
  }

  /** Whether this exact password was already wrong for this account within a day (any protocol, any shape). */
  async isRepeat(k: LockoutKeys, password: string): Promise<boolean> {
    // Remembered under a previous hash key (before a rotation) counts too, for the day it is kept.
    const since = this.clock.now() - DAY_S * 1000;
    return someKeyedHash(this.hasher, 'bad-password', `${this.memoryKey(k)}\0${password}`, (h) =>
      this.memory.seen(this.memoryKey(k), h, since),
    );
  }

  /**
   * Takes a main-password attempt's point from the IP's counter and from the account's counter for
   * this kind of location *before* the password is checked, atomically in the store, so that a burst
   * of parallel guesses is counted in full and at most the limit of them is ever checked
   * (checklist 11). The locks are read after the points are taken: a lock imposed between the
   * caller's first read and this take is still seen. Undefined, with nothing taken, when either
   * has no point left or is locked.
   */
  async reserve(k: LockoutKeys, f: Familiarity): Promise<Reservation | 'locked' | 'rate'> {
    // Every check costs an Argon2 hash, right or wrong: one IP gets a bounded share of the CPU.
    const rateKey = ipRateKey(k.ipAddress);
    if ((await this.counters.take(rateKey, 60)) > this.settings.ipChecksPerMinute) {
      await this.counters.giveBack(rateKey, 60);
      return 'rate';
    }
    const key = k.mainPassword[f];
    const account = await this.counters.take(key, DAY_S);
    const ip = await this.counters.take(k.ip, LEGACY_IP_WINDOW_S);
    const lockMs = (await this.counters.peek([k.ip, key], [])).lockMs;
    const locked = account > this.settings.accountLimit || ip > this.settings.ipLimit || lockMs.some((ms) => ms > 0);
    if (!locked) return { account, ip };
    await this.counters.giveBack(key, DAY_S);
    await this.counters.giveBack(k.ip, LEGACY_IP_WINDOW_S);
    return 'locked';
  }

  /** A reserved attempt that was never checked (no CPU for its hash: `busy`): its points go back. */
  async unreserve(k: LockoutKeys, f: Familiarity): Promise<void> {
    await this.counters.giveBack(ipRateKey(k.ipAddress), 60);
    await this.counters.giveBack(k.mainPassword[f], DAY_S);
    await this.counters.giveBack(k.ip, LEGACY_IP_WINDOW_S);
  }

  /**
   * A reserved attempt whose main password was right: the IP's point goes back (it counts failures
   * only), the counter for this kind of location starts over, and the network becomes familiar.
   */
  async release(k: LockoutKeys, f: Familiarity): Promise<void> {
    await this.counters.giveBack(k.ip, LEGACY_IP_WINDOW_S);
    await this.counters.clear(k.mainPassword[f], DAY_S);
    if (f === 'unfamiliar') await this.counters.take(k.familiar, FAMILIAR_WINDOW_S);
  }

  /** A new wrong main password: remembered, and a counter at its limit is locked. Returns the lock length if any. */
  async failed(k: LockoutKeys, password: string, f: Familiarity, reserved: Reservation): Promise<number | undefined> {
    await this.memory.remember(this.memoryKey(k), this.badHash(k, password), this.clock.now());
    return this.count(k, f, reserved);
  }

  /**
   * The right main password, refused (MFA enforced, an admin, a disabled account, the policy): counted
   * like a wrong one the first time in a day, so the counters never tell a guesser it was right,
   * and not again after that (a phone still set up with the main password locks nothing). It is not
   * remembered as wrong: once the admin allows it again, it works at once.
   */
  async refused(k: LockoutKeys, password: string, f: Familiarity, reserved: Reservation): Promise<number | undefined> {
    const hash = this.hasher.digest('refused-password', `${this.memoryKey(k)}\0${password}`);
    if (await this.memory.seen(`refused:${k.account}`, hash, this.clock.now() - DAY_S * 1000)) {
      await this.counters.giveBack(k.mainPassword[f], DAY_S);
      await this.counters.giveBack(k.ip, LEGACY_IP_WINDOW_S);
      return undefined;
    }
    await this.memory.remember(`refused:${k.account}`, hash, this.clock.now());
    return this.count(k, f, reserved);
  }

  private async count(k: LockoutKeys, f: Familiarity, reserved: Reservation): Promise<number | undefined> {
    let longest: number | undefined;
    for (const [key, n, limit, window, target] of [
      [k.mainPassword[f], reserved.account, this.settings.accountLimit, DAY_S, 'account'],
      [k.ip, reserved.ip, this.settings.ipLimit, LEGACY_IP_WINDOW_S, 'ip'],
    ] as const) {
      if (n >= limit) longest = Math.max(longest ?? 0, await this.lock(key, window, target));
    }
    return longest;
  }

  /**
   * A new wrong password with the shape of an app password (a deleted one, or a guess at 72 random
   * bits): remembered, and counted on the client IP only. It cannot be anyone's main password on
   * these protocols, so it says nothing about the main password's counters.
   */
  async failedAppPassword(k: LockoutKeys, password: string): Promise<number | undefined> {
    await this.memory.remember(this.memoryKey(k), this.badHash(k, password), this.clock.now());
    const n = await this.counters.take(k.ip, LEGACY_IP_WINDOW_S);
    return n >= this.settings.ipLimit ? this.lock(k.ip, LEGACY_IP_WINDOW_S, 'ip') : undefined;
  }

  private async lock(key: string, window: number, target: 'account' | 'ip'): Promise<number> {
    let seconds = 0;
    await this.counters.lock(
      key,
      (i) => (seconds = Math.min(this.settings.lockMaxSeconds, this.settings.lockBaseSeconds * 2 ** (i - 1))),
    );
    await this.counters.clear(key, window);
    await this.events.publish({ type: 'lock_imposed', scope: 'legacy', target });
    return seconds;
  }
}

/** The mail protocols' counter (and lock) for one client IP. */
export function legacyIpKey(ip: string): string {
  return `legacy:ip:${ip}`;
}
