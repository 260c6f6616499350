/**
 * Who may see a page or call the API: the browser session resolved once per request, guards as
 * preHandlers (a signed-in user; an admin of their organization whose session proved a second
 * factor), and the JSON API's bearer token.
 */
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { type Actor, requireAdminOf, sessionActor } from '../domain/accounts/actor.js';
import { isSesameError, SesameError } from '../domain/errors.js';
import type { WebSettings } from './cookies.js';
import { messagePage } from './layout.js';
import { pageContext, send, userMessage } from './respond.js';
import type { Services } from './services.js';

/**
 * Resolves the session cookie into req.session and req.user (active users only). Browser sessions
 * matter to pages only: the API uses bearer tokens, and the mail-server endpoints (a hot path)
 * never look at cookies.
 */
export function sessionLoader(
  services: Pick<Services, 'sessions' | 'accounts' | 'clock' | 'mfaAdmin'>,
  web: WebSettings,
): preHandlerAsyncHookHandler {
  return async (req) => {
    const u = req.url;
    if (u.startsWith('/api/') || u.startsWith('/static/') || u.startsWith('/auth/') || u.startsWith('/oauth2/')) return;
    req.clockNow = services.clock.now();
    const s = await services.sessions.resume(req.cookies[web.cookies.session]);
    if (!s) return;
    const user = await services.accounts.findUserById(s.userId);
    if (user?.status !== 'active') {
      await services.sessions.end(s.id);
      return;
    }
    req.session = s;
    req.user = user;
    req.timeZone = (await services.mfaAdmin.regionalSettings(user.orgId)).timeZone;
  };
}

export interface SignedInOptions {
  /** Where to come back after signing in; by default this URL. */
  back?: string;
  /** Say "your session expired" on the sign-in page when the browser still sent a session cookie. */
  expiredNotice?: boolean;
}

/** The redirect to sign in (and back) unless a user is signed in; true when the request may go on. */
function signedIn(req: FastifyRequest, reply: FastifyReply, web: WebSettings, o: SignedInOptions): boolean {
  if (req.user && req.session) return true;
  const expired = o.expiredNotice && req.cookies[web.cookies.session] ? '&m=expired' : '';
  void reply.redirect(`/signin?next=${encodeURIComponent(o.back ?? req.url)}${expired}`, 303);
  return false;
}

/** preHandler: a signed-in user, or the sign-in page. */
export function requireUser(web: WebSettings, o: SignedInOptions = {}): preHandlerAsyncHookHandler {
  return async (req, reply) => {
    if (!signedIn(req, reply, web, o)) return reply;
  };
}

/** The signed-in user as an actor: admin rights need what their session proved (checklist 36). */
export const actorOf = (req: FastifyRequest): Actor => sessionActor(req.user!, req.session!);

/**
 * preHandler: an admin of their organization, from a session that proved a second factor. A plain
 * user gets "not allowed"; an admin signed in without a second factor is told to sign in again.
 */
export function requireAdmin(web: WebSettings): preHandlerAsyncHookHandler {
  return async (req, reply) => {
    if (!signedIn(req, reply, web, { expiredNotice: true })) return reply;
    try {
      requireAdminOf(actorOf(req), req.user!.orgId);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      req.log.info({ code: e.code, detail: e.detail }, 'admin page refused');
      return send(
        reply,
        messagePage(
          pageContext(req, reply),
          e.code === 'admin_mfa_required' ? 'page.admin_mfa.title' : 'page.forbidden.title',
          userMessage(req, e),
          'error',
        ),
        403,
      );
    }
  };
}

/** The signed-in API caller: who, their session, and what the session proved (as an actor). */
export interface ApiCaller {
  user: NonNullable<FastifyRequest['user']>;
  session: NonNullable<FastifyRequest['session']>;
  sessionId: string;
  actor: Actor;
}

/** The JSON API's check of the bearer token: the caller, or a `session_required` error. */
export function bearerAuth(
  services: Pick<Services, 'sessions' | 'accounts'>,
): (req: FastifyRequest) => Promise<ApiCaller> {
  return async (req) => {
    const h = req.headers.authorization;
    const token = h && /^Bearer [A-Za-z0-9_-]{1,100}$/.test(h) ? h.slice(7) : undefined;
    const session = await services.sessions.resume(token);
    const user = session ? await services.accounts.findUserById(session.userId) : undefined;
    if (!session || !user || user.status !== 'active')
      throw new SesameError('session_required', 'missing, unknown or expired bearer token');
    return { user, session, sessionId: session.id, actor: sessionActor(user, session) };
  };
}
