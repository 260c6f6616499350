/**
 * What follows what. Domain services publish facts (domain/events.ts: a user was disabled, a
 * password changed, a lock imposed...); this module alone decides what follows each one. To learn
 * what happens when X happens, read CONSEQUENCES below: nothing else in the code reacts to events.
 *
 * The handlers of an event run in the order of its row, each awaited before the next, and all
 * before publish() resolves; the services await publish(), so every consequence has happened when
 * the operation returns. An error in a handler stops the rest of its row and reaches the
 * operation's caller (Dovecot's and the SIEM's adapters log their own failures and never throw).
 *
 * Wiring: the services need the publisher in their constructors and the handlers need the services,
 * so the app context makes the publisher first (createConsequences), builds every service with it,
 * then binds the handlers to the services in one step (connect). Publishing before connect() is
 * an error, never a silent loss.
 *
 * Adding a rule: write the handler (a named function; its comment says why it follows) and put it
 * in its event's row. A new event type does not compile until it has a row here, and the unit test
 * (test/unit/consequences.test.ts) fails while a row is empty.
 */
import { forwardedLockout, type EventSink } from '../domain/audit/forwarding.js';
import type { AppPasswords } from '../domain/app-passwords/service.js';
import type { AccountService } from '../domain/accounts/account-service.js';
import type { Clock } from '../domain/clock.js';
import type { SignInFlows } from '../domain/flows/sign-in-flow.js';
import type { OidcPayloadStore } from '../domain/oidc/payloads.js';
import type { DomainEvent, DomainEventOf, DomainEvents, DomainEventType } from '../domain/events.js';
import type { PasswordAuthenticator } from '../domain/sign-in/password-authenticator.js';
import type { DovecotAdmin } from '../adapters/dovecot-admin.js';
import type { Metrics } from '../adapters/metrics.js';
import type { Notifier } from '../domain/mfa/notifier.js';

/** What the handlers act on: the other services and the outside world. */
export interface ConsequenceServices {
  clock: Clock;
  /** Prometheus metrics (/metrics). */
  metrics: Pick<Metrics, 'lock'>;
  /** The SIEM's event forwarder, when one is configured. */
  forwarder: EventSink | undefined;
  /** Dovecot's doveadm HTTP API (does nothing when it is not configured). */
  dovecot: DovecotAdmin;
  appPasswords: Pick<AppPasswords, 'afterMfaDisabled' | 'afterPasswordChange' | 'list'>;
  /** Notices to users (email). */
  notifier: Pick<Notifier, 'mfaTurnedOff'>;
  signIn: Pick<PasswordAuthenticator, 'unlockAccount'>;
  accounts: Pick<AccountService, 'revokePasswordLinks'>;
  flows: Pick<SignInFlows, 'endPendingFlows' | 'forgetDevices'>;
  /** What the OpenID Connect provider issued (sessions, grants, codes, tokens). */
  oidc: Pick<OidcPayloadStore, 'revokeByAccount'>;
}

export type Handler<T extends DomainEventType> = (
  event: DomainEventOf<T>,
  s: ConsequenceServices,
) => void | Promise<void>;

/** A row for every event type: the handlers that run, in order. */
export type ConsequenceTable = { readonly [T in DomainEventType]: readonly Handler<T>[] };

export const CONSEQUENCES: ConsequenceTable = {
  lock_imposed: [countLock, forwardLock],
  password_changed: [
    endPendingFlows,
    revokePasswordLinks,
    forgetRememberedDevices,
    endOidcGrants,
    liftSignInLock,
    revokeAppPasswordsByPolicy,
    dovecotForgetsUser,
  ],
  user_disabled: [endPendingFlows, revokePasswordLinks, forgetRememberedDevices, endOidcGrants, dovecotForgetsUser],
  user_enabled: [dovecotForgetsUser],
  // Verification reads the membership at every attempt; Dovecot's cache must not answer from before.
  group_member_removed: [dovecotForgetsUser],
  registration_required: [endPendingFlows, forgetRememberedDevices, endOidcGrants, dovecotForgetsUser],
  sessions_ended: [endPendingFlows, forgetRememberedDevices, endOidcGrants],
  method_removed: [endPendingFlows, forgetRememberedDevices],
  mfa_disabled: [tellUserMfaOff, revokeAppPasswords],
  mfa_state_changed: [forgetDevicesWhenOff, dovecotForgetsUser],
  policy_narrowed: [dovecotForgetsOrganization],
  app_passwords_revoked: [dovecotForgetsUser],
  app_passwords_expired: [dovecotForgetsUser],
  users_changed_in_bulk: [asEachUser],
};

/** Operators watch how often sign-ins are locked (sesame_locks_total), by scope and kind of key. */
function countLock(e: DomainEventOf<'lock_imposed'>, s: ConsequenceServices): void {
  s.metrics.lock(e.scope, e.target);
}

/** The SIEM sees every lock as it happens (a queue push: never waited for, never failing). */
function forwardLock(e: DomainEventOf<'lock_imposed'>, s: ConsequenceServices): void {
  s.forwarder?.publish(forwardedLockout(e, s.clock.now()));
}

/**
 * Pending flows end (sign-in, registration, adding a method, a step-up, a reset), and with them the
 * email, SMS and voice codes they sent. A new password: whoever phished the old one (or holds its
 * reset link) must not finish a sign-in, register their own authenticator or get an app password
 * afterwards; the flow that set it (a reset) goes on. A disabled user, signed-out sessions, methods
 * cleared or removed: a flow begun before must not end in a session the change meant to prevent.
 */
async function endPendingFlows(e: { userId: string; keepFlowId?: string }, s: ConsequenceServices): Promise<void> {
  await s.flows.endPendingFlows(e.userId, e.keepFlowId);
}

/**
 * Unused set-password and reset links stop working: after a new password, a link someone else holds
 * cannot set another; a disabled user's links must not work once they are enabled again.
 */
async function revokePasswordLinks(e: { userId: string }, s: ConsequenceServices): Promise<void> {
  await s.accounts.revokePasswordLinks(e.userId);
}

/**
 * "Don't ask again on this device" ends: such a device is asked for a second factor again. After a
 * new password, a disable, signing out everywhere or re-registration (each says "something may be
 * in the wrong hands"), and after a method is removed (devices do not record which method they
 * proved, so none may outlive the one it might have been).
 */
async function forgetRememberedDevices(e: { userId: string }, s: ConsequenceServices): Promise<void> {
  await s.flows.forgetDevices(e.userId);
}

/** With MFA off nothing is remembered: when it is turned on again, every device proves a second factor first. */
async function forgetDevicesWhenOff(e: DomainEventOf<'mfa_state_changed'>, s: ConsequenceServices): Promise<void> {
  if (e.state === 'disabled') await s.flows.forgetDevices(e.userId);
}

/**
 * What apps hold through OpenID Connect ends: refresh tokens (14 days), access tokens, codes and the
 * provider's sessions. An app signed in with the old password, before the user was disabled, before
 * their sessions were ended or their methods cleared, must sign the user in again (enabling the
 * user later brings none of it back).
 */
async function endOidcGrants(e: { userId: string }, s: ConsequenceServices): Promise<void> {
  await s.oidc.revokeByAccount(e.userId);
}

/** A new password, however it was set, lifts the password sign-in lock: a lock an attacker imposed must not keep the owner out (checklist 7). */
async function liftSignInLock(e: DomainEventOf<'password_changed'>, s: ConsequenceServices): Promise<void> {
  await s.signIn.unlockAccount(e.address);
}

/** The organization's policy may revoke app passwords when the main password changes (a first password replaced nothing). */
async function revokeAppPasswordsByPolicy(e: DomainEventOf<'password_changed'>, s: ConsequenceServices): Promise<void> {
  if (!e.first) await s.appPasswords.afterPasswordChange(e.userId, e.actor);
}

/**
 * The user learns that their MFA was turned off, and which app passwords went with it (read here,
 * just before the next handler deletes them; the mail is best effort and never fails the change).
 * A stolen admin session that weakens an account is then seen by its owner.
 */
async function tellUserMfaOff(e: DomainEventOf<'mfa_disabled'>, s: ConsequenceServices): Promise<void> {
  const names = (await s.appPasswords.list(e.user)).map((p) => p.name);
  await s.notifier.mfaTurnedOff(e.user.address, e.locale, names, s.clock.now());
}

/** App passwords exist only while MFA is on: turning it off revokes the user's. */
async function revokeAppPasswords(e: DomainEventOf<'mfa_disabled'>, s: ConsequenceServices): Promise<void> {
  await s.appPasswords.afterMfaDisabled(e.user, e.actor);
}

/**
 * What Dovecot cached about the user (a password it saw accepted, open IMAP/POP3 sessions) may be
 * wrong now: its auth cache entries for them are flushed and their sessions kicked, so the change
 * holds at once, not at the cache's TTL.
 */
async function dovecotForgetsUser(e: { address: string }, s: ConsequenceServices): Promise<void> {
  await s.dovecot.revoked(e.address);
}

/** Legacy sign-ins of the whole organization may do less now: Dovecot's cached answers for all its users may be wrong. */
async function dovecotForgetsOrganization(e: DomainEventOf<'policy_narrowed'>, s: ConsequenceServices): Promise<void> {
  await s.dovecot.policyNarrowed(e.org.domain);
}

/**
 * A bulk change is, for each of its users, the single change: the same row runs for each user
 * (8 users at a time; each user's handlers in order). What the transaction already did (sessions,
 * methods, app passwords of users whose MFA went off) is not done again.
 */
async function asEachUser(e: DomainEventOf<'users_changed_in_bulk'>, s: ConsequenceServices): Promise<void> {
  const single = (u: (typeof e.users)[number]): DomainEvent =>
    e.operation === 'disable'
      ? { type: 'user_disabled', userId: u.userId, address: u.address }
      : e.operation === 'reregister'
        ? { type: 'registration_required', userId: u.userId, address: u.address }
        : { type: 'mfa_state_changed', userId: u.userId, address: u.address, state: u.state ?? 'enabled' };
  let next = 0;
  const worker = async () => {
    while (next < e.users.length) {
      const user = e.users[next++]!;
      const event = single(user);
      for (const handle of CONSEQUENCES[event.type] as readonly Handler<DomainEventType>[])
        await handle(event as never, s);
      // What tellUserMfaOff does for one user (the names were read as the transaction deleted them).
      if (user.appPasswordsGone)
        await s.notifier.mfaTurnedOff(user.address, e.locale, user.appPasswordsGone, s.clock.now());
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, e.users.length) }, worker));
}

/** The publisher the services are built with, and the one step that binds its handlers. */
export interface Consequences extends DomainEvents {
  /** Binds the handlers to the services, once, after every service exists. */
  connect(services: ConsequenceServices): void;
}

export function createConsequences(table: ConsequenceTable = CONSEQUENCES): Consequences {
  let services: ConsequenceServices | undefined;
  return {
    connect(s) {
      if (services) throw new Error('consequences connected twice');
      services = s;
    },
    async publish(event: DomainEvent) {
      if (!services) throw new Error(`${event.type} published before the consequences were connected`);
      const row = table[event.type] as readonly Handler<DomainEventType>[];
      for (const handle of row) await handle(event as never, services);
    },
  };
}
