/** Maps domain error codes to HTTP statuses: the only place that knows both. */
import type { ErrorCode } from '../../domain/errors.js';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  invalid_address: 400,
  invalid_domain: 400,
  invalid_name: 400,
  password_too_short: 400,
  password_too_long: 400,
  password_common: 400,
  password_contains_identity: 400,
  organization_exists: 409,
  organization_not_found: 404,
  user_exists: 409,
  user_not_found: 404,
  sign_in_failed: 401,
  throttled: 429,
  session_required: 401,
  forbidden: 403,
  token_invalid: 400,
  csrf_invalid: 403,
  store_unavailable: 503,
};
