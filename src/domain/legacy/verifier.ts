/**
 * The legacy-protocol check: "is this password good for this user on this protocol?", asked by
 * mail servers and proxies on every connection. The hot path: an app password costs one keyed
 * hash and one indexed read (never an Argon2 hash); every rule still applies (owner active, MFA on,
 * protocol allowed, not expired, the organization's policy). Use is recorded after the answer,
 * and a client IP an app password has not been used from before is told to the user by email.
 *
 * The main password is accepted on legacy protocols only while the user's MFA is `disabled` or
 * `enabled` (not yet registered); once `enforced`, only app passwords work. Every outcome a client
 * can see is one of: ok, wrong (also for refused and unknown: they look identical), or temporary.
 */
import { eventId } from '../audit/event-id.js';
import { isSesameError } from '../errors.js';
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import type { PasswordHasher } from '../../lib/crypto/password-hasher.js';
import { normalizeAddress } from '../accounts/model.js';
import type { AccountRepository } from '../accounts/repository.js';
import { normalizeAppPassword } from '../app-passwords/format.js';
import {
  type AppPasswordRepository,
  type AppPasswordUse,
  isProtocol,
  type Protocol,
  type VerificationRow,
} from '../app-passwords/model.js';
import { APP_PASSWORD_HASH_PURPOSE } from '../app-passwords/service.js';
import { sanitizeForLog, type SignInEvent, type SignInReason } from '../audit/events.js';
import type { Clock } from '../clock.js';
import type { LockoutKeys, SmartLockout } from './lockout.js';
import type { FirstUse } from './country-watch.js';
import type { CountKey, Peek } from '../throttling/throttle.js';
import { policyOf } from '../mfa/model.js';
import type { MfaRepository } from '../mfa/repository.js';
import type { LocationGate } from '../locations/gate.js';
import type { AnswerCache } from './answer-cache.js';

/** Refused by a lock or a rate, without the password being checked: logged as `throttled`, as on the browser's paths. */
const LOCK_REASONS: ReadonlySet<SignInReason> = new Set([
  'account_locked',
  'account_locked_familiar',
  'ip_locked',
  'ip_rate_limited',
  'server_busy',
]);

export type LegacyOutcome = 'ok' | 'wrong' | 'refused';

export interface LegacyAttempt {
  user: string;
  password: string;
  protocol: string;
  ip: string;
  userAgent?: string;
}

export interface LegacyResult {
  outcome: LegacyOutcome;
  /** Seconds the client should wait (nginx Auth-Wait) when locked. */
  retryAfterSeconds?: number;
  /** The owner's id and organization when the app-password read already found them (saves a read for the log). */
  owner?: { id: string; orgId: string };
  /** For the log and the operator, never for the client. */
  reason: SignInReason;
  /** The canonical address of the account, when known. */
  address?: string;
  /** The account's display name, when the password was good (forward-auth passes it on). */
  name?: string;
  appPasswordId?: string;
}

/**
 * The verifier's hot read: the app password with this keyed hash (if any) together with the
 * lockout counters, in one read where the store can. `hash` undefined: the counters only.
 */
export interface VerificationReads {
  find(
    hash: string | undefined,
    locks: string[],
    counts: CountKey[],
  ): Promise<{ row: VerificationRow | undefined; peek: Peek }>;
}

/** Where the verifier puts what it writes after answering (batched by the caller). */
export interface LegacyWrites {
  /**
   * Queues a sign-in-log row. With `ownerOf`, the row's user and organization are left for the
   * writer to find from that address when it writes (after the answer): see log().
   */
  logSignIn(e: SignInEvent, ownerOf?: string): void;
  recordUse(u: AppPasswordUse): void;
  /**
   * Revokes an app password found unused for longer than its organization allows, as the hourly
   * sweep would (audit log, mail servers told): verification refuses it on the spot first.
   */
  revokeUnused(owner: { userId: string; orgId: string; address: string }, id: string): Promise<void>;
}

/**
 * After a good app password's first use from an address (on this instance): records the
 * address's country and tells whom it concerns (CountryWatch.firstUse); `newIp` says whether the
 * app password had never been used from it.
 */
export type NewIpNotice = (use: FirstUse) => Promise<void>;

export class LegacyVerifier {
  constructor(
    private readonly appPasswords: AppPasswordRepository,
    private readonly accounts: AccountRepository,
    private readonly mfa: MfaRepository,
    private readonly keyed: KeyedHasher,
    private readonly passwords: PasswordHasher,
    private readonly clock: Clock,
    private readonly newIpNotice: NewIpNotice,
    private readonly lockout: SmartLockout,
    private readonly reads: VerificationReads,
    private readonly writes: LegacyWrites,
    private readonly onBackgroundError: (e: unknown) => void = () => undefined,
    /** Whether the user may use this protocol by the organization's groups (LDAP, RADIUS); for main passwords. */
    private readonly mayUseProtocol: (
      user: { id: string; orgId: string },
      protocol: string,
    ) => Promise<boolean> = async () => true,
    /** Where the organization's rules and each app password's pin allow it to be used from (issue #20); absent: anywhere. */
    private readonly locations?: Pick<LocationGate, 'allows' | 'allowsNow'>,
    /** Good app passwords' rows kept in memory while the store announces no change (issue #21); absent: always read. */
    private readonly answers?: AnswerCache,
  ) {}

  /** (app password id, IP) pairs this instance has already recorded: the IP table is written once per pair. */
  private readonly knownIps = new Set<string>();

  /** The address owning an app password (introspection has a token but no user name), or undefined. */
  async ownerOf(password: string): Promise<string | undefined> {
    const canonical = normalizeAppPassword(password);
    if (!canonical) return undefined;
    const hash = this.keyed.digest(APP_PASSWORD_HASH_PURPOSE, canonical);
    const row = await this.appPasswords.findForVerification(hash);
    return (row ?? (this.keyed.rotating ? await this.findUnderPreviousKey(canonical, hash) : undefined))?.address;
  }

  /**
   * A good app password passes through one `await` (the read) and nothing else: on this machine
   * each further await on the hot path cost ~25 µs under load (measured with the legacy bench), as
   * much as the rules and the log together. Hence the synchronous rules and log below, and the
   * asynchronous work (failures, unknown users, main passwords) kept to the paths that need it.
   */
  async verify(a: LegacyAttempt): Promise<LegacyResult> {
    let r = this.prepare(a);
    if ('keys' in r) {
      const p = r;
      if (p.hash !== undefined && p.canonical !== undefined) {
        // The shape of an app password: no lock applies to a good one (nothing to guess in 72
        // random bits), so the hot path reads the app password and nothing else.
        // A phone polling with the same app password is answered from memory while the store has
        // announced no change that could alter the answer (answer-cache.ts).
        const token = this.answers?.token();
        let row = this.answers?.get(p.hash, token);
        if (!row) {
          const { row: found } = await this.reads.find(p.hash, [], []);
          if (found) this.answers?.put(p.hash, found, token);
          row = found ?? (this.keyed.rotating ? await this.findUnderPreviousKey(p.canonical, p.hash) : undefined);
        }
        const checked =
          row && row.address === p.address
            ? this.checkAppPassword(a, p.address, p.protocol, row)
            : this.wrongAppPassword(a, p.address, p.keys);
        // Awaited only when it is a promise: the common case (no rules, or rules compiled) stays on one await.
        r = checked instanceof Promise ? await checked : checked;
      } else r = await this.checkMainPassword(a, p.address, p.keys);
    }
    this.log(a, r);
    const { owner: _owner, ...answer } = r;
    return answer;
  }

  /**
   * Well-formed (the check letter holds) but not this user's: a deleted or revoked app password a
   * device retries, or a guess. Answered without an Argon2 hash; counted on the client IP once a
   * day per distinct value, never on the account (a main password of exactly this shape, 20 of
   * these 23 letters with a valid check letter, is not accepted on legacy protocols).
   */
  private async wrongAppPassword(a: LegacyAttempt, address: string, keys: LockoutKeys): Promise<LegacyResult> {
    const state = await this.lockout.state(keys);
    if (state.ipLockedFor > 0)
      return { outcome: 'wrong', reason: 'ip_locked', address, retryAfterSeconds: state.ipLockedFor };
    if (await this.lockout.isRepeat(keys, a.password))
      return { outcome: 'wrong', reason: 'repeated_wrong_password', address };
    const lock = await this.lockout.failedAppPassword(keys, a.password);
    return { outcome: 'wrong', reason: 'wrong_password', address, ...(lock ? { retryAfterSeconds: lock } : {}) };
  }

  /** The attempt's address, protocol, lockout keys and (for an app password's shape) keyed hash; or the answer to bad input. */
  private prepare(a: LegacyAttempt):
    | LegacyResult
    | {
        address: string;
        protocol: Protocol;
        keys: LockoutKeys;
        canonical: string | undefined;
        hash: string | undefined;
      } {
    let address: string;
    try {
      address = normalizeAddress(a.user).address;
    } catch {
      return { outcome: 'wrong', reason: 'invalid_input' };
    }
    if (!isProtocol(a.protocol)) return { outcome: 'wrong', reason: 'invalid_input', address };
    const canonical = normalizeAppPassword(a.password);
    return {
      address,
      protocol: a.protocol,
      keys: this.lockout.keys(address, a.protocol, a.ip),
      canonical,
      hash: canonical ? this.keyed.digest(APP_PASSWORD_HASH_PURPOSE, canonical) : undefined,
    };
  }

  /**
   * After a miss while previous hash keys are configured: the app password may be stored under one
   * of them (made before the rotation). Found so, its hash moves to the current key after the
   * answer, once per app password, so that the previous key can later be dropped without it.
   * The current key's hash is asked again, in the same statement: another request may have moved
   * the row since the first read missed.
   */
  private async findUnderPreviousKey(canonical: string, current: string): Promise<VerificationRow | undefined> {
    const hit = await this.appPasswords.findForVerificationAmong(
      this.keyed.digests(APP_PASSWORD_HASH_PURPOSE, canonical),
    );
    if (hit && hit.hash !== current) this.rehashLater(hit.row.id, hit.hash, current);
    return hit?.row;
  }

  /** Replaces a stored hash by the current key's, after the answer has gone (the caller is not kept waiting for the write). */
  private rehashLater(id: string, from: string, to: string): void {
    setImmediate(() => void this.appPasswords.rehash(id, from, to).catch(this.onBackgroundError));
  }

  /**
   * A password with the shape of an app password; `row` is what the store holds for its hash.
   * Synchronous unless the location rules must be read or compiled first, or ask for groups: see verify().
   */
  private checkAppPassword(
    a: LegacyAttempt,
    address: string,
    protocol: Protocol,
    row: VerificationRow,
  ): LegacyResult | Promise<LegacyResult> {
    const now = this.clock.now();
    const base = { address, appPasswordId: row.id, owner: { id: row.userId, orgId: row.orgId } };
    if (row.userStatus !== 'active') return { ...base, outcome: 'refused', reason: 'user_disabled' };
    if (row.mfaState === 'disabled') return { ...base, outcome: 'refused', reason: 'mfa_off' };
    // Membership as it is now: a member removed from the group is refused at the next attempt.
    if (row.requiredGroup && !row.requiredGroup.member) return { ...base, outcome: 'refused', reason: 'not_in_group' };
    const named: string = protocol;
    const protocolGroup = named === 'ldap' || named === 'radius' ? row.protocolGroups?.[named] : undefined;
    if (protocolGroup && !protocolGroup.member) return { ...base, outcome: 'refused', reason: 'not_in_group' };
    // The app password's own protocols and expiry, and the organization's policy as it is now:
    // an admin who removes a protocol or shortens the lifetime narrows existing app passwords too.
    const policy = row.policy;
    if (!row.protocols.includes(protocol) || !policy.protocols.includes(protocol))
      return { ...base, outcome: 'refused', reason: 'protocol_not_allowed' };
    if (row.expiresAt !== null && now >= row.expiresAt) return { ...base, outcome: 'refused', reason: 'expired' };
    if (policy.maxLifetimeDays !== null && now >= row.createdAt + policy.maxLifetimeDays * 86_400_000)
      return { ...base, outcome: 'refused', reason: 'expired' };
    if (!policy.allowed && !policy.keepExistingWhenOff)
      return { ...base, outcome: 'refused', reason: 'app_passwords_suspended' };
    if (
      policy.revokeUnusedDays !== null &&
      (row.lastUsedAt ?? row.createdAt) < now - policy.revokeUnusedDays * 86_400_000
    ) {
      // Refused now whatever happens next; the deletion need not hold up the answer.
      void this.writes
        .revokeUnused({ userId: row.userId, orgId: row.orgId, address }, row.id)
        .catch(this.onBackgroundError);
      return { ...base, outcome: 'refused', reason: 'expired' };
    }
    // Last: where it is used from. Refused here is a refusal by policy (the password was right),
    // which no lock counts: a phone that keeps trying from abroad locks nothing.
    const place = this.locations?.allows({
      orgId: row.orgId,
      version: row.locationVersion,
      userId: row.userId,
      protocol,
      ip: a.ip,
      pin: row.pin,
    });
    if (place === false) return { ...base, outcome: 'refused', reason: 'location_not_allowed' };
    if (place === undefined || place === true) return this.accepted(a, row, base, address, protocol, now);
    return place.then((ok) =>
      ok
        ? this.accepted(a, row, base, address, protocol, now)
        : { ...base, outcome: 'refused', reason: 'location_not_allowed' },
    );
  }

  /** A good app password, allowed from here: bookkeeping after the answer (the caller is not kept waiting for it). */
  private accepted(
    a: LegacyAttempt,
    row: VerificationRow,
    base: Pick<LegacyResult, 'address' | 'appPasswordId' | 'owner'>,
    address: string,
    protocol: Protocol,
    now: number,
  ): LegacyResult {
    this.afterUse(row.id, row.name, address, protocol, a.ip, now);
    // The row may be kept in memory: its last use is what "revoke after N days unused" reads.
    row.lastUsedAt = now;
    return { ...base, outcome: 'ok', reason: 'ok', name: row.userName };
  }

  /** Any other password: the account's main password, accepted on legacy protocols only while MFA is not enforced. */
  private async checkMainPassword(a: LegacyAttempt, address: string, keys: LockoutKeys): Promise<LegacyResult> {
    const state = await this.lockout.state(keys);
    if (state.ipLockedFor > 0)
      return { outcome: 'wrong', reason: 'ip_locked', address, retryAfterSeconds: state.ipLockedFor };
    const lockedReason = state.familiarity === 'familiar' ? 'account_locked_familiar' : 'account_locked';
    if (state.accountLockedFor > 0)
      return { outcome: 'wrong', reason: lockedReason, address, retryAfterSeconds: state.accountLockedFor };
    // A password already wrong for this account today: answered without an Argon2 hash and not
    // counted again (a phone retrying a stale password locks nothing).
    if (await this.lockout.isRepeat(keys, a.password))
      return { outcome: 'wrong', reason: 'repeated_wrong_password', address };
    // Counted before it is checked: of a burst of parallel guesses, only the limit reach the hash.
    const reserved = await this.lockout.reserve(keys, state.familiarity);
    if (reserved === 'rate') return { outcome: 'wrong', reason: 'ip_rate_limited', address, retryAfterSeconds: 60 };
    if (reserved === 'locked') return { outcome: 'wrong', reason: lockedReason, address };
    let r: LegacyResult;
    try {
      r = await this.mainPasswordResult(a, address);
    } catch (e) {
      // Not checked (the hash queue refused it, `busy`, or the store failed): not a failure of the owner's.
      await this.lockout.unreserve(keys, state.familiarity);
      // A budget hit is in the sign-in log (the client gets a temporary failure and retries).
      if (isSesameError(e) && e.code === 'busy') this.log(a, { outcome: 'wrong', reason: 'server_busy', address });
      throw e;
    }
    if (r.outcome === 'ok') await this.lockout.release(keys, state.familiarity);
    else {
      // `refused` means the password was right (mainPasswordResult checks it first).
      const lock =
        r.outcome === 'refused'
          ? await this.lockout.refused(keys, a.password, state.familiarity, reserved)
          : await this.lockout.failed(keys, a.password, state.familiarity, reserved);
      if (lock) r.retryAfterSeconds = lock;
    }
    return r;
  }

  private async mainPasswordResult(a: LegacyAttempt, address: string): Promise<LegacyResult> {
    const creds = await this.accounts.findCredentialsByAddress(address);
    if (!creds?.passwordHash) {
      await this.passwords.burn(a.password.slice(0, 1024));
      return { outcome: 'wrong', reason: creds ? 'no_password_set' : 'unknown_user', address };
    }
    if (!(await this.passwords.verify(creds.passwordHash, a.password.slice(0, 1024))))
      return { outcome: 'wrong', reason: 'wrong_password', address };
    if (creds.status !== 'active') return { outcome: 'refused', reason: 'user_disabled', address };
    // An admin's main password never works on a mail protocol, whatever their MFA state was set to
    // later: whoever holds it could administer the organization (admins sign in with MFA, checklist 36).
    if (creds.mfaState === 'enforced' || creds.role === 'admin')
      return { outcome: 'refused', reason: 'main_password_refused', address };
    // An organization may refuse main passwords on legacy protocols always.
    if ((await policyOf(this.mfa, creds.orgId)).legacyMainPassword === 'never')
      return { outcome: 'refused', reason: 'main_password_refused', address };
    // A group the organization requires for this protocol (LDAP, RADIUS) binds main passwords too.
    if (!(await this.mayUseProtocol(creds, a.protocol))) return { outcome: 'refused', reason: 'not_in_group', address };
    // The location rules bind main passwords too (no pin: that is an app password's). Counted like
    // the other refusals of a right main password (once a day; see SmartLockout.refused): not
    // counting would tell a guesser that this password was the right one.
    if (
      this.locations &&
      isProtocol(a.protocol) &&
      !(await this.locations.allowsNow({ orgId: creds.orgId, userId: creds.id, protocol: a.protocol, ip: a.ip }))
    )
      return { outcome: 'refused', reason: 'location_not_allowed', address };
    return { outcome: 'ok', reason: 'ok', address, name: creds.name, owner: { id: creds.id, orgId: creds.orgId } };
  }

  /** Logs an attempt refused before any check (malformed input), so the sign-in log still shows it. */
  async logRejected(a: Omit<LegacyAttempt, 'password'>): Promise<void> {
    this.log({ ...a, password: '' }, { outcome: 'wrong', reason: 'invalid_input' });
  }

  private afterUse(id: string, name: string, address: string, protocol: string, ip: string, at: number): void {
    this.writes.recordUse({ id, protocol, ip, at });
    const pair = `${id}\0${ip}`;
    if (this.knownIps.has(pair)) return;
    if (this.knownIps.size >= 100_000) this.knownIps.clear();
    this.knownIps.add(pair);
    void (async () => {
      const newIp = await this.appPasswords.recordIp(id, ip, at);
      await this.newIpNotice({ appPasswordId: id, appPasswordName: name, address, ip, protocol, at, newIp });
    })().catch(this.onBackgroundError);
  }

  /**
   * Logs an attempt. When the owner is not known yet (an unknown address, or a known one whose
   * password was not found), the writer looks it up from the address when it writes the batch,
   * after the answer: any read on the answer's path costs a few microseconds more for an address
   * that exists (the row is read, not only the index), measurable from outside with enough samples
   * (test/security/probes-timing.test.ts; once two reads, ~30 µs, then one read, ~10 µs).
   */
  private log(a: LegacyAttempt, r: LegacyResult) {
    if (r.owner || !r.address) this.logFor(a, r, r.owner?.id ?? null, r.owner?.orgId ?? null);
    else this.logFor(a, r, null, null, r.address);
  }

  private logFor(a: LegacyAttempt, r: LegacyResult, userId: string | null, orgId: string | null, ownerOf?: string) {
    const at = this.clock.now();
    this.writes.logSignIn(
      {
        id: eventId(at),
        at,
        orgId,
        userId,
        addressTyped: sanitizeForLog(a.user.trim(), 254),
        outcome: r.outcome === 'ok' ? 'success' : LOCK_REASONS.has(r.reason) ? 'throttled' : 'failure',
        reason: r.reason,
        appPasswordId: r.appPasswordId ?? null,
        protocol: sanitizeForLog(a.protocol, 16),
        ip: sanitizeForLog(a.ip, 64),
        userAgent: sanitizeForLog(a.userAgent ?? '', 500),
      },
      ownerOf,
    );
  }
}
