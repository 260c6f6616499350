/**
 * Domain events: facts a domain service states after it changed something, in the past tense.
 * A service does its own work (store, audit log, sessions it ends, counts it returns) and then
 * publishes what happened; what *follows* from each fact elsewhere (other services, Dovecot,
 * metrics, the SIEM) is decided in one place, app/consequences.ts, not by the service.
 *
 * Services get a DomainEvents in their constructor and await publish() where the consequences
 * must have happened before the operation returns (all of them, today). An error in a
 * consequence reaches the caller of the operation, as an error in the operation would.
 *
 * Each event carries what its handlers need, no more: add a field when a new consequence needs it.
 * Adding an event type: add it here, then give it its row in app/consequences.ts (the table does
 * not compile without one).
 */
import type { Actor } from './accounts/actor.js';
import type { Organization, User } from './accounts/model.js';
import type { Locale } from './locale.js';
import type { MfaState } from './mfa/model.js';

export type DomainEvent =
  /**
   * A lock was imposed on a key that counts failures: an account or a client IP (never the key
   * itself: it names an account or an address). `browser`: sign-ins through the pages and the
   * JSON API (password, second factor); `legacy`: the endpoints mail servers ask.
   */
  | { type: 'lock_imposed'; scope: 'browser' | 'legacy'; target: 'account' | 'ip' }
  /**
   * A user's main password was set or changed, whoever did it: the user (`change`), a one-time
   * set-password link (`set_password_link`), the end of a password reset (`reset`), an operator or
   * admin directly (`direct`). `first`: the account had no password before. `keepFlowId`: the flow
   * that set it (a password reset), which goes on to its end; every other pending flow is stale.
   */
  | {
      type: 'password_changed';
      userId: string;
      address: string;
      via: 'change' | 'set_password_link' | 'reset' | 'direct';
      /** Who set it (the audit log names them for what follows too). */
      actor: Actor;
      first: boolean;
      keepFlowId?: string;
    }
  /** An admin or the operator disabled a user (their sessions have ended). */
  | { type: 'user_disabled'; userId: string; address: string }
  /** An admin or the operator enabled a disabled user again. */
  | { type: 'user_enabled'; userId: string; address: string }
  /** An admin or the operator removed a user from a group (domain/groups): what the group gave them ends. */
  | { type: 'group_member_removed'; userId: string; address: string; groupId: string }
  /**
   * An admin required the user to register their methods again: the methods and recovery codes are
   * gone and the user's sessions have ended.
   */
  | { type: 'registration_required'; userId: string; address: string }
  /**
   * Sessions of the user were ended on purpose: by the user ("Sign out everywhere else", `owner`;
   * their current session goes on) or by an admin or the operator ("End sessions", `admin`; all).
   */
  | { type: 'sessions_ended'; userId: string; address: string; by: 'owner' | 'admin' }
  /**
   * One of the user's methods was removed: by the user, or replaced by a newer authenticator app
   * (`keepFlowId`: the flow that replaced it, which goes on). `last`: none is left.
   */
  | { type: 'method_removed'; userId: string; address: string; last: boolean; keepFlowId?: string }
  /**
   * A user's MFA was turned off (published before mfa_state_changed for the same change); `locale`:
   * the language of whoever turned it off, which the notice to the user is worded in.
   */
  | { type: 'mfa_disabled'; user: User; actor: Actor; locale: Locale }
  /** A user's MFA state was set (to `state`; possibly the state it already had). */
  | { type: 'mfa_state_changed'; userId: string; address: string; state: MfaState }
  /** An organization's policy changed so that legacy sign-ins may do less (mfa/mfa-admin.ts narrowsLegacySignIns). */
  | { type: 'policy_narrowed'; org: Organization }
  /** Some or all of a user's app passwords were revoked (deleted): by the user, an admin, a policy or the unused sweep. */
  | { type: 'app_passwords_revoked'; address: string }
  /** Some of a user's app passwords reached their expiry (they are kept, and refused from then on). */
  | { type: 'app_passwords_expired'; address: string }
  /**
   * A bulk change was applied to these users, in one transaction: each user's MFA state set to
   * their `state` (`mfa`), their methods cleared and sessions ended (`reregister`), or the user
   * disabled and their sessions ended (`disable`). What follows for each user is what follows the
   * single change (app/consequences.ts runs that row for each).
   */
  | {
      type: 'users_changed_in_bulk';
      operation: 'mfa' | 'reregister' | 'disable';
      /** The admin's language (the notice to users whose MFA went off is worded in it). */
      locale: Locale;
      /** `appPasswordsGone`: for a user whose MFA went off, the names of the app passwords deleted with it. */
      users: { userId: string; address: string; state?: MfaState; appPasswordsGone?: string[] }[];
    };

export type DomainEventType = DomainEvent['type'];

/** The event of type `T`. */
export type DomainEventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/** Where domain services state what happened. Resolves once every consequence of the event has run. */
export interface DomainEvents {
  publish(event: DomainEvent): Promise<void>;
}
