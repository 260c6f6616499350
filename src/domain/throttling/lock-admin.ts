/**
 * What an admin (or the operator's CLI) can see and lift of the locks: an account's main-password
 * locks (from familiar and from unfamiliar places; browser, API and mail apps share them) and its
 * second-factor lock, and a client IP's locks (browser and mail apps). A lock is temporary
 * protection against guessing; when it is in the way of the owner, an admin lifts it rather than
 * have them wait. Lifting also clears the failure counts, so the next lock needs a full run of
 * failures again; the count of earlier locks (which makes the next one longer) stays.
 *
 * An organization's admin may lift an IP's lock only when that IP was refused by a lock in their
 * organization's sign-in log within the last day: IP locks are shared by every organization, and an
 * admin of one has no business freeing an IP that only attacks another. The operator may lift any.
 */
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import type { AccountService } from '../accounts/account-service.js';
import { auditEvent, type AuditRepository, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import { LEGACY_IP_WINDOW_S, legacyIpKey } from '../legacy/lockout.js';
import {
  type Familiarity,
  lockAccount,
  mainPasswordKey,
  secondFactorKey,
  WEB_IP_WINDOW_S,
  webIpKey,
} from './locations.js';
import type { CounterStore } from './throttle.js';

const DAY_S = 86_400;

export interface AccountLocks {
  /** Seconds each lock still holds (0: not locked). */
  mainPassword: Record<Familiarity, number>;
  secondFactor: number;
}

export interface IpLock {
  ip: string;
  /** Seconds the longest of its locks (browser, mail apps) still holds. */
  seconds: number;
}

/** The IPs a lock refused in an organization's sign-in log since a time (newest first, at most `limit`). */
export interface LockedIpReads {
  throttledIps(orgId: string, since: number, limit: number): Promise<string[]>;
}

export class LockAdmin {
  constructor(
    private readonly counters: CounterStore,
    private readonly accounts: AccountService,
    private readonly reads: LockedIpReads,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
  ) {}

  async ofUser(actor: Actor, address: string): Promise<AccountLocks> {
    const user = await this.accounts.userForAdmin(actor, address);
    const account = lockAccount(user.address);
    const { lockMs } = await this.counters.peek(
      [mainPasswordKey(account, 'familiar'), mainPasswordKey(account, 'unfamiliar'), secondFactorKey(user.id)],
      [],
    );
    const s = (ms: number | undefined) => Math.ceil(Math.max(0, ms ?? 0) / 1000);
    return { mainPassword: { familiar: s(lockMs[0]), unfamiliar: s(lockMs[1]) }, secondFactor: s(lockMs[2]) };
  }

  /** Lifts every lock of a user's account (main password from anywhere, second factor) and clears their counts. */
  async liftForUser(actor: Actor, address: string): Promise<void> {
    const user = await this.accounts.userForAdmin(actor, address);
    const account = lockAccount(user.address);
    for (const key of [mainPasswordKey(account, 'familiar'), mainPasswordKey(account, 'unfamiliar')]) {
      await this.counters.unlock(key);
      await this.counters.clear(key, DAY_S);
    }
    await this.counters.unlock(secondFactorKey(user.id));
    await this.counters.clear(secondFactorKey(user.id), DAY_S);
    await this.audit.recordAudit(
      userAuditEvent(actor, this.clock.now(), user, 'user.locks_lifted', `${user.address}: sign-in locks lifted`),
    );
  }

  /** The IPs a lock refused in the organization's sign-in log within a day that are still locked. */
  async lockedIps(actor: Actor, orgId: string): Promise<IpLock[]> {
    requireAdminOf(actor, orgId);
    const ips = await this.reads.throttledIps(orgId, this.clock.now() - DAY_S * 1000, 50);
    const out: IpLock[] = [];
    for (const ip of ips) {
      const seconds = await this.ipLockSeconds(ip);
      if (seconds > 0) out.push({ ip, seconds });
    }
    return out;
  }

  /** Lifts a client IP's locks (browser and mail apps) and clears its failure counts. */
  async liftForIp(actor: Actor, orgId: string | null, ipRaw: string): Promise<void> {
    const ip = ipRaw.trim().slice(0, 64);
    if (!ip) throw new SesameError('invalid_input', 'no IP given');
    if (actor.kind !== 'operator') {
      if (!orgId) throw new SesameError('forbidden', 'an admin lifts IP locks of their organization');
      requireAdminOf(actor, orgId);
      const seen = await this.reads.throttledIps(orgId, this.clock.now() - DAY_S * 1000, 1000);
      if (!seen.includes(ip))
        throw new SesameError('ip_lock_not_found', `${ip} was not refused by a lock in this organization today`);
    }
    for (const [key, window] of [
      [webIpKey(ip), WEB_IP_WINDOW_S],
      [legacyIpKey(ip), LEGACY_IP_WINDOW_S],
    ] as const) {
      await this.counters.unlock(key);
      await this.counters.clear(key, window);
    }
    await this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), {
        orgId,
        action: 'ip.locks_lifted',
        targetUserId: null,
        detail: `${ip}: sign-in locks lifted`,
      }),
    );
  }

  private async ipLockSeconds(ip: string): Promise<number> {
    const { lockMs } = await this.counters.peek([webIpKey(ip), legacyIpKey(ip)], []);
    return Math.ceil(Math.max(0, ...lockMs) / 1000);
  }
}
