/**
 * Multi-step interactions are stored flows with explicit states, not flags on a session. A flow
 * has a random token (the browser keeps it in a cookie, API clients send it back), an expiry,
 * the user it is for, what has been proved so far, and server-only data (a pending TOTP seed,
 * sealed; the hash of a code sent; a WebAuthn challenge). Pages and the JSON API drive the same
 * flows. Saves are optimistic: each names the version it read, so two tabs cannot both win.
 *
 * Sign-in flow states (kind `sign_in`):
 *
 *   password ok ──(MFA disabled, or device remembered; never for an admin)──────────> session
 *        │
 *        ├─(has methods)──> second_factor ──(code / key / recovery code ok)───────────> session
 *        │                      └─ "Sign in another way": same state, another method
 *        │
 *        └─(must register)─> more_info_required ──"Set it up now"──> choose_method
 *                                 choose_method ──(authenticator app, security key)──> verify_enrolment
 *                                 choose_method ──(text, call, email)──> contact_details
 *                                 contact_details ──(number or address)──> verify_enrolment
 *                                 verify_enrolment ──(code / QR code / key confirmed)──> enrolled
 *                                 enrolled ──"Next"──> app_password ──"Next"──> recovery_codes ──"Done"──> session
 *                                 (app_password only when the organization allows app passwords)
 *
 * The method is chosen first and its number or address asked for on its own page after (#17, task
 * A1), so a page never shows the fields of methods the user did not choose; a refused number leaves
 * the flow at contact_details with the method still chosen. "Use another method" goes back to
 * choose_method from contact_details and verify_enrolment. (The JSON API may still send method and
 * number together, straight from choose_method.)
 *
 * Security-info flows (kind `add_method`) reuse choose_method -> contact_details -> verify_enrolment
 * -> enrolled and end there, for a user who is already signed in.
 *
 * Password-reset flows (kind `password_reset`, domain/self-service/password-reset.ts), begun by
 * opening a reset link (which is used up by that):
 *
 *   link opened ──> second_factor ──(a registered factor other than email, or a recovery code)──>
 *                   new_password ──(a password the policy accepts)──> session (every other session ended)
 */
import type { Locale } from '../locale.js';
import type { MethodKind } from '../mfa/model.js';

export type FlowKind = 'sign_in' | 'add_method' | 'step_up' | 'password_reset';

export type FlowState =
  | 'more_info_required'
  | 'choose_method'
  | 'contact_details'
  | 'verify_enrolment'
  | 'enrolled'
  | 'app_password'
  | 'recovery_codes'
  | 'second_factor'
  | 'new_password'
  | 'done';

/** A method being registered. */
export interface PendingEnrolment {
  kind: MethodKind;
  /** Chosen before the method exists, so a sealed seed can be bound to its final row. */
  methodId: string;
  target?: string;
  /** TOTP seed sealed with AAD `totp:<methodId>`. */
  secretEnc?: string;
  code?: SentCode;
  /** WebAuthn registration challenge (base64url). */
  webauthnChallenge?: string;
}

/** A code sent by text, voice or email: only its keyed hash is kept. */
export interface SentCode {
  hash: string;
  expiresAt: number;
  sends: number;
  lastSentAt: number;
}

/** The second factor being asked for at sign-in. */
export interface Challenge {
  /** A method id, or `recovery` for a recovery code. */
  methodId: string;
  code?: SentCode;
  webauthnChallenge?: string;
}

export interface FlowData {
  /** Where to go when the flow is done (a path on this site). */
  next: string;
  /** What has been proved so far, as RFC 8176 values ("pwd", "otp", ...). */
  amr: string[];
  ip: string;
  userAgent: string;
  protocol: string;
  locale: Locale;
  /** The method last chosen (contact_details asks for its number or address; choose_method preselects it). */
  chosen?: MethodKind;
  pending?: PendingEnrolment;
  challenge?: Challenge;
  /** The app password made at the end of registration, shown once, sealed with AAD `ap:<flowId>`. */
  appPasswordEnc?: string;
  appPasswordName?: string;
  /** Its id: the page that shows it offers a configuration profile for it (#18, item 2). */
  appPasswordId?: string;
  /** Recovery codes to show once, sealed with AAD `rc:<flowId>`. */
  recoveryCodesEnc?: string;
  /** Whether the user was already told (by email) that their password was right but the second factor failed. */
  failureNoticeSent?: boolean;
  /**
   * Codes sent in this flow, whatever the method or target: choosing a method again, or "Sign in
   * another way" back to the same one, must not start the send limits over (checklist 16).
   */
  codesSent?: { count: number; lastAt: number };
}

export interface Flow {
  id: string;
  kind: FlowKind;
  state: FlowState;
  userId: string;
  version: number;
  createdAt: number;
  expiresAt: number;
  data: FlowData;
}

export interface FlowRepository {
  create(f: Flow, tokenHash: string): Promise<void>;
  findByTokenHash(tokenHash: string): Promise<Flow | undefined>;
  /** Saves `f` if its stored version is still `f.version`; then increments it. False if another save came first. */
  save(f: Flow): Promise<boolean>;
  delete(id: string): Promise<void>;
  /** Deletes every flow of the user, but the one `exceptId` names (it goes on). */
  deleteForUser(userId: string, exceptId?: string): Promise<void>;
}
