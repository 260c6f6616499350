/**
 * Errors as answers: the HTTP status of each domain error code (the only place that knows both),
 * the one error handler that turns any failure into a response and a log line, and the not-found answer.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, isSesameError } from '../domain/errors.js';
import type { MessageId } from '../i18n/en.js';
import { translator } from '../i18n/i18n.js';
import { STORE_FAULT_LOG, storeFault, type StoreFaultCode } from '../storage/store-faults.js';
import { messagePage } from './layout.js';
import { pageContext, send, userMessage } from './respond.js';

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
  admin_mfa_required: 403,
  token_invalid: 400,
  csrf_invalid: 403,
  store_unavailable: 503,
  store_busy: 503,
  // 507 Insufficient Storage: the server cannot store what is needed to finish the request.
  store_full: 507,
  busy: 503,
  flow_expired: 400,
  flow_step: 409,
  code_invalid: 400,
  method_not_allowed: 400,
  invalid_phone: 400,
  phone_country_code_required: 400,
  alt_email_is_work_address: 400,
  resend_too_soon: 429,
  code_budget_exceeded: 429,
  phone_country_not_allowed: 400,
  phone_type_not_allowed: 400,
  delivery_failed: 502,
  fresh_mfa_required: 403,
  password_reauth_required: 403,
  method_not_found: 404,
  last_method_required: 409,
  invalid_policy: 400,
  webauthn_failed: 400,
  app_passwords_off: 403,
  app_password_cap: 409,
  app_passwords_need_mfa: 403,
  app_password_not_found: 404,
  app_password_protocols_invalid: 400,
  bulk_empty: 400,
  bulk_too_large: 413,
  // The users changed between the preview and Apply: the client must look again.
  bulk_stale: 409,
  csv_encoding: 400,
  csv_invalid: 400,
  csv_columns: 400,
  password_mismatch: 400,
  current_password_wrong: 400,
  // The user exists but Sesame has nowhere to send their reset link (admins only ever see this).
  no_recovery_address: 409,
  session_not_found: 404,
  sign_in_not_found: 404,
  ip_lock_not_found: 404,
  invalid_filter: 400,
  invalid_redirect_uri: 400,
  oidc_client_not_found: 404,
  oidc_wrong_organization: 403,
  mail_host_invalid: 400,
  mail_port_invalid: 400,
  mail_security_invalid: 400,
  mail_starttls_not_for_dav: 400,
  mail_path_invalid: 400,
  mail_user_name_invalid: 400,
  mail_servers_none: 400,
  mail_settings_not_found: 404,
  profile_link_gone: 410,
  profile_link_other_session: 403,
  group_not_found: 404,
  group_exists: 409,
  group_wrong_organization: 400,
  group_in_use: 409,
  oidc_group_required: 403,
  location_not_found: 404,
  location_exists: 409,
  location_network_invalid: 400,
  location_country_invalid: 400,
  location_empty: 400,
  location_rule_invalid: 400,
  location_in_use: 409,
};

/** No such page: JSON under /api/, a page otherwise. */
export async function notFound(req: FastifyRequest, reply: FastifyReply) {
  if (req.url.startsWith('/api/'))
    return reply.code(404).send({ error: { code: 'not_found', message: req.t('page.notfound.body') } });
  return reply
    .code(404)
    .type('text/html; charset=utf-8')
    .send(messagePage(pageContext(req, reply), 'page.notfound.title', req.t('page.notfound.body')).value);
}

/** The client closed the connection while its request body was still arriving. */
function clientAborted(err: FastifyError, req: FastifyRequest): boolean {
  // Node's IncomingMessage reports it as an ECONNRESET error whose message is "aborted" (a store's
  // own ECONNRESET reads "read ECONNRESET" or "Connection terminated" and stays a store fault).
  return req.raw.aborted || (err.code === 'ECONNRESET' && err.message === 'aborted');
}

/**
 * One place where errors become responses: domain errors keep their code and translated message;
 * CSRF and validation failures get theirs; anything else is logged in full and shown as a generic 500.
 */
export function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  // Machine-facing routes have no language, cookies or CSRF (see buildApp): they get JSON in English.
  const machine = !req.t;
  if (machine) req.t = translator('en');
  const api = machine || req.url.startsWith('/api/');
  let status: number;
  let code: string;
  let message: string;
  // The store failing (PostgreSQL away, SQLite locked too long, a full disk) is not a bug of this
  // request: the user is told what it is (503/507, translated, a stable code), the operator gets
  // the line that says where to look, and Sesame carries on and recovers when the store does.
  // A client that goes away while sending its body (the socket reset: ECONNRESET "aborted") is not
  // a store fault, whatever its error code says: nothing is wrong here, and the answer reaches no one.
  if (clientAborted(err, req)) {
    req.log.info({ code: 'client_aborted' }, 'client aborted its request before the body was complete');
    return reply.code(400).send();
  }
  const fault = storeFault(err);
  if (fault) {
    status = HTTP_STATUS[fault.code];
    code = fault.code;
    message = req.t(fault.messageId as MessageId);
    req.log.error({ code, detail: fault.detail }, STORE_FAULT_LOG[fault.code as StoreFaultCode]);
    if (fault.retryAfterSeconds) reply.header('retry-after', String(fault.retryAfterSeconds));
  } else if (isSesameError(err)) {
    status = HTTP_STATUS[err.code];
    code = err.code;
    message = userMessage(req, err);
    req.log.info({ code, detail: err.detail }, 'request refused');
    if (err.retryAfterSeconds) reply.header('retry-after', String(err.retryAfterSeconds));
  } else if (err.code?.startsWith('FST_CSRF')) {
    status = 403;
    code = 'csrf_invalid';
    message = req.t('error.csrf_invalid');
    req.log.warn({ code }, 'CSRF token missing or invalid');
  } else if (err.validation) {
    status = 400;
    code = 'invalid_input';
    message = req.t('error.invalid_input');
    req.log.info({ code, detail: err.message }, 'request failed validation');
  } else if (err.statusCode && err.statusCode < 500) {
    status = err.statusCode;
    code = 'invalid_input';
    message = req.t('error.invalid_input');
    req.log.info({ code, detail: err.message }, 'bad request');
  } else {
    status = 500;
    code = 'internal';
    message = req.t('page.error.body');
    req.log.error({ err }, 'request failed');
  }
  if (api) return reply.code(status).send({ error: { code, message } });
  const pc = pageContext(req, reply);
  const page =
    status === 500
      ? messagePage(pc, 'page.error.title', message, 'error')
      : messagePage(pc, status === 403 ? 'page.forbidden.title' : 'page.error.title', message, 'error');
  return send(reply, page, status);
}
