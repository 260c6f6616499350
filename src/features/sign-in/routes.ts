/**
 * Sign-in pages: the address and password step, signing out, and the language switch. What follows
 * the password (a second factor, a registration) is the flow's, in flow-routes.ts. Every POST
 * carries a CSRF token (checked in preHandler, after the form body is parsed).
 */
import type { FastifyInstance } from 'fastify';
import { isSesameError } from '../../domain/errors.js';
import { isLocale } from '../../i18n/i18n.js';
import { languageCookieOptions, sessionCookieOptions, type WebSettings } from '../../web/cookies.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { clientMeta, field } from '../../web/forms.js';
import { safeNext } from '../../web/links.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { signInPage } from './pages.js';

export function registerSignInRoutes(app: FastifyInstance, s: Services, web: WebSettings) {
  const sessionCookie = sessionCookieOptions(web);
  const csrf = { preHandler: app.csrfProtection, ...PAGE_ROUTE };

  app.get('/', PAGE_ROUTE, async (req, reply) => reply.redirect(req.user ? '/account' : '/signin', 303));

  app.get<{ Querystring: { next?: string; m?: string; reauth?: string } }>(
    '/signin',
    PAGE_ROUTE,
    async (req, reply) => {
      // `reauth`: an app asked for a new sign-in (OIDC prompt=login, max_age); the form is shown to a
      // signed-in user too, and signing in replaces the session (POST below).
      const reauth = req.query.reauth === '1';
      if (req.user && !reauth) return reply.redirect(safeNext(req.query.next), 303);
      const m = req.query.m;
      const notice =
        m === 'signedout'
          ? req.t('signin.signedout')
          : m === 'expired'
            ? req.t('signin.expired')
            : m === 'password'
              ? req.t('setpw.done')
              : reauth
                ? req.t('signin.reauth')
                : undefined;
      const next = req.query.next ? safeNext(req.query.next) : undefined;
      return send(reply, signInPage(pageContext(req, reply), { next, notice, email: req.user?.address }));
    },
  );

  app.post('/signin', csrf, async (req, reply) => {
    const email = field(req.body, 'email', 254);
    const password = field(req.body, 'password');
    const next = safeNext(field(req.body, 'next', 500));
    try {
      const user = await s.signIn.authenticate(email, password, { ...clientMeta(req), protocol: 'web' });
      // Always a fresh session id at sign-in; a planted or older cookie's session is ended.
      if (req.session) await s.sessions.end(req.session.id);
      reply.clearCookie(web.cookies.session, sessionCookie);
      const step = await s.flows.afterPassword(
        user,
        { ...clientMeta(req), protocol: 'web', locale: req.locale },
        next,
        req.cookies[web.cookies.trust],
      );
      if (step.done) {
        reply.setCookie(web.cookies.session, step.token, sessionCookie);
        return reply.redirect(step.next, 303);
      }
      // A second factor or a registration is needed: no session yet, only the flow.
      reply.setCookie(web.cookies.flow, step.flowToken!, sessionCookie);
      return reply.redirect('/signin/mfa', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      req.log.info({ code: e.code, detail: e.detail }, 'web sign-in refused');
      if (e.retryAfterSeconds) reply.header('retry-after', String(e.retryAfterSeconds));
      req.user = undefined;
      return send(
        reply,
        signInPage(pageContext(req, reply, '/signin'), {
          email,
          next: next === '/account' ? undefined : next,
          error: userMessage(req, e),
        }),
        HTTP_STATUS[e.code],
      );
    }
  });

  app.post('/signout', csrf, async (req, reply) => {
    if (req.session) await s.sessions.end(req.session.id);
    reply.clearCookie(web.cookies.session, sessionCookie);
    return reply.redirect('/signin?m=signedout', 303);
  });

  app.post('/lang', csrf, async (req, reply) => {
    const lang = field(req.body, 'lang', 5);
    if (isLocale(lang)) reply.setCookie(web.cookies.lang, lang, languageCookieOptions(web));
    return reply.redirect(safeNext(field(req.body, 'back', 500), '/'), 303);
  });
}
