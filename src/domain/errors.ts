/**
 * Typed domain errors. Each carries a stable wire code (what API clients and logs match on),
 * the id of a translated, user-safe message, and an operator-only detail for the log line.
 * Domain code throws these; only delivery/ maps them to HTTP statuses or CLI exit codes.
 */
export const ERROR_CODES = [
  'invalid_input',
  'invalid_address',
  'invalid_domain',
  'invalid_name',
  'password_too_short',
  'password_too_long',
  'password_common',
  'password_contains_identity',
  'organization_exists',
  'organization_not_found',
  'user_exists',
  'user_not_found',
  'sign_in_failed',
  'throttled',
  'session_required',
  'forbidden',
  'admin_mfa_required',
  'token_invalid',
  'csrf_invalid',
  'store_unavailable',
  'store_busy',
  'store_full',
  // Too much password hashing queued: refused at once rather than made to wait (issue #15, item 3).
  'busy',
  'flow_expired',
  'flow_step',
  'code_invalid',
  'method_not_allowed',
  'invalid_phone',
  // A national number ("06 12345678") where the organization has no default country (#17, task A4).
  'phone_country_code_required',
  // The alternate email of the email method must be another address than the account's own (#17, item 2).
  'alt_email_is_work_address',
  'resend_too_soon',
  // Budgets on codes sent, and which phone numbers may get them (issue #15, item 3).
  'code_budget_exceeded',
  'phone_country_not_allowed',
  'phone_type_not_allowed',
  'delivery_failed',
  'fresh_mfa_required',
  'password_reauth_required',
  'method_not_found',
  // The user's last method, while their sign-ins need a second factor (Security info).
  'last_method_required',
  'invalid_policy',
  'webauthn_failed',
  'app_passwords_off',
  'app_password_cap',
  'app_passwords_need_mfa',
  'app_password_not_found',
  // Asked for no protocol, or for one the organization does not allow, for a new app password.
  'app_password_protocols_invalid',
  // Bulk changes and CSV files (admin Users page, `sesame users import`).
  'bulk_empty',
  'bulk_too_large',
  'bulk_stale',
  'csv_encoding',
  'csv_invalid',
  'csv_columns',
  'password_mismatch',
  'current_password_wrong',
  'no_recovery_address',
  'session_not_found',
  'sign_in_not_found',
  'invalid_filter',
  'invalid_redirect_uri',
  'oidc_client_not_found',
  'oidc_wrong_organization',
  // Lifting an IP's lock that no lock refused in the admin's organization today.
  'ip_lock_not_found',
  // The organization's mail servers (issue #18, item 1); each names the field it is about.
  'mail_host_invalid',
  'mail_port_invalid',
  'mail_security_invalid',
  'mail_starttls_not_for_dav',
  'mail_path_invalid',
  'mail_user_name_invalid',
  'mail_servers_none',
  'mail_settings_not_found',
  // One-time links to an Apple configuration profile (issue #18, item 2).
  'profile_link_gone',
  'profile_link_other_session',
  // Groups (issue #19, item 1): a member must be of the group's organization; a group a limit requires cannot go.
  'group_not_found',
  'group_exists',
  'group_wrong_organization',
  'group_in_use',
  // An OIDC app that requires a group the user is not in.
  'oidc_group_required',
  // Named locations (issue #20, item 1): each bad field has its own code, so a client can point at it.
  'location_not_found',
  'location_exists',
  'location_network_invalid',
  'location_country_invalid',
  'location_empty',
  // Location rules and pins (issue #20, item 2).
  'location_rule_invalid',
  'location_in_use',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SesameError extends Error {
  readonly code: ErrorCode;
  /** Message-catalogue id of the sentence shown to the user. */
  readonly messageId: string;
  /** Values substituted into the user message, e.g. `{ min: 8 }`. Never secrets. */
  readonly params: Record<string, string | number>;
  /** What the operator needs to know; goes to the log only. */
  readonly detail: string;
  /** Seconds the caller should wait before trying again (throttling). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    detail: string,
    opts: {
      params?: Record<string, string | number>;
      retryAfterSeconds?: number;
      /**
       * A more helpful sentence than `error.<code>` for this case, under the same code (what clients
       * match on stays): `error.<code>.<variant>`.
       */
      variant?: string;
    } = {},
  ) {
    super(`${code}: ${detail}`);
    this.name = 'SesameError';
    this.code = code;
    this.messageId = opts.variant ? `error.${code}.${opts.variant}` : `error.${code}`;
    this.params = opts.params ?? {};
    this.detail = detail;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export function isSesameError(e: unknown): e is SesameError {
  return e instanceof SesameError;
}
