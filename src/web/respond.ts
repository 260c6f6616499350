/** Answering a browser: the page context every template needs, sending a page, a domain error's sentence. */
import { timeFormat } from '../i18n/format.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SesameError } from '../domain/errors.js';
import type { MessageId } from '../i18n/en.js';
import type { Html } from './html.js';
import type { PageContext } from './layout.js';

/**
 * What every page needs. `path` is where the language switch comes back to: the URL itself for a
 * GET, and for a page rendered in answer to a form, the page that form lives on (the POST target
 * usually has no page of its own).
 */
export function pageContext(req: FastifyRequest, reply: FastifyReply, formPage?: string): PageContext {
  const path = req.method === 'GET' ? req.url : (formPage ?? '/');
  return {
    t: req.t,
    locale: req.locale,
    csrf: reply.generateCsrf(),
    path,
    user: req.user,
    time: timeFormat(req.locale, req.timeZone, req.clockNow ?? Date.now()),
  };
}

/** Sends a page, never cached (pages carry CSRF tokens and personal data). */
export function send(reply: FastifyReply, page: Html, status = 200) {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
}

/** The user's sentence for a domain error, in their language. */
export function userMessage(req: FastifyRequest, err: SesameError): string {
  return req.t(err.messageId as MessageId, err.params);
}

/** Route options of a page (GET): not part of the OpenAPI document. */
export const PAGE_ROUTE = { schema: { hide: true } } as const;
