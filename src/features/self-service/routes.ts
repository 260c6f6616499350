/**
 * Self-service pages: the one-time set-password link, "Forgot your password?" and the reset link's
 * first page (no session), and, for a signed-in user, My account, Change password, My sessions and
 * My sign-ins. The reset flow's own steps (second factor, new password) are served with the other
 * flows by the sign-in feature (flow-routes.ts) under /reset-password/flow. Every POST is CSRF-checked; handlers only translate
 * between HTTP and domain/self-service.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isSesameError } from '../../domain/errors.js';
import { sessionCookieOptions, type WebSettings } from '../../web/cookies.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { clientMeta, field } from '../../web/forms.js';
import { requireUser } from '../../web/guards.js';
import { messagePage } from '../../web/layout.js';
import { setPasswordPath } from '../../web/links.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import { withCountries } from '../../web/countries.js';
import type { Services } from '../../web/services.js';
import {
  accountPage,
  changePasswordPage,
  forgotPasswordPage,
  mySessionsPage,
  mySignInsPage,
  resetStartPage,
  setPasswordPage,
} from './pages.js';

const PAGE = 50;

export function registerSelfServiceRoutes(app: FastifyInstance, ctx: Services, web: WebSettings) {
  const cookieOpts = sessionCookieOptions(web);
  const csrf = { preHandler: app.csrfProtection, ...PAGE_ROUTE };
  const meta = (req: FastifyRequest) => ({ ...clientMeta(req), protocol: 'web', locale: req.locale });
  // A signed-in user, or the sign-in page and back here afterwards.
  const signedIn = requireUser(web);
  const mine = { ...PAGE_ROUTE, preHandler: signedIn };
  const myForm = { ...PAGE_ROUTE, preHandler: [app.csrfProtection, signedIn] };

  // ---- My account ----
  app.get('/account', { ...PAGE_ROUTE, preHandler: requireUser(web, { expiredNotice: true }) }, async (req, reply) => {
    const org = await ctx.accounts.getOrganization(req.user!.orgId);
    return send(reply, accountPage(pageContext(req, reply), req.user!, org));
  });

  // ---- The one-time set-password link (new users, and `sesame user link`) ----
  app.get<{ Querystring: { token?: string } }>('/set-password', PAGE_ROUTE, async (req, reply) => {
    const token = String(req.query.token ?? '').slice(0, 100);
    try {
      const user = await ctx.accounts.peekSetPasswordToken(token);
      // The token is in this page's URL: keep it out of Referer headers and caches.
      reply.header('referrer-policy', 'no-referrer');
      return send(reply, setPasswordPage(pageContext(req, reply), { token, address: user.address }));
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return send(reply, messagePage(pageContext(req, reply), 'setpw.title', userMessage(req, e), 'error'), 400);
    }
  });

  app.post('/set-password', csrf, async (req, reply) => {
    const token = field(req.body, 'token', 100);
    const password = field(req.body, 'password');
    let address = '';
    try {
      address = (await ctx.accounts.peekSetPasswordToken(token)).address;
      if (password !== field(req.body, 'confirm')) {
        return send(
          reply,
          setPasswordPage(pageContext(req, reply, setPasswordPath(token)), {
            token,
            address,
            error: req.t('setpw.mismatch'),
          }),
          400,
        );
      }
      await ctx.accounts.setPasswordWithToken(token, password);
      return reply.redirect('/signin?m=password', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      const pc = pageContext(req, reply, address ? setPasswordPath(token) : '/signin');
      if (!address || e.code === 'token_invalid')
        return send(reply, messagePage(pc, 'setpw.title', userMessage(req, e), 'error'), 400);
      return send(reply, setPasswordPage(pc, { token, address, error: userMessage(req, e) }), HTTP_STATUS[e.code]);
    }
  });

  // ---- Forgot your password? ----
  app.get('/forgot-password', PAGE_ROUTE, async (req, reply) =>
    send(reply, forgotPasswordPage(pageContext(req, reply), {})),
  );

  app.post('/forgot-password', csrf, async (req, reply) => {
    const email = field(req.body, 'email', 254);
    try {
      await ctx.passwordReset.request(email, { ip: req.ip, locale: req.locale });
    } catch (e) {
      if (!isSesameError(e)) throw e;
      if (e.retryAfterSeconds) reply.header('retry-after', String(e.retryAfterSeconds));
      return send(
        reply,
        forgotPasswordPage(pageContext(req, reply, '/forgot-password'), { email, error: userMessage(req, e) }),
        HTTP_STATUS[e.code],
      );
    }
    // The same page whether or not the address exists; the address typed is not shown back.
    return send(
      reply,
      forgotPasswordPage(pageContext(req, reply, '/forgot-password'), { notice: req.t('forgot.sent') }),
    );
  });

  // ---- The reset link ----
  app.get<{ Querystring: { token?: string } }>('/reset-password', PAGE_ROUTE, async (req, reply) => {
    const token = String(req.query.token ?? '').slice(0, 100);
    // The token is in this page's URL: keep it out of Referer headers.
    reply.header('referrer-policy', 'no-referrer');
    try {
      const user = await ctx.passwordReset.peek(token);
      return send(reply, resetStartPage(pageContext(req, reply), { token, address: user.address }));
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return send(
        reply,
        messagePage(pageContext(req, reply, '/forgot-password'), 'reset.title', req.t('reset.invalid'), 'error'),
        400,
      );
    }
  });

  app.post('/reset-password', csrf, async (req, reply) => {
    try {
      const { flowToken } = await ctx.passwordReset.open(field(req.body, 'token', 100), meta(req));
      reply.setCookie(web.cookies.reset, flowToken, cookieOpts);
      return reply.redirect('/reset-password/flow', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      req.log.info({ code: e.code, detail: e.detail }, 'reset link refused');
      const message = e.code === 'token_invalid' ? req.t('reset.invalid') : userMessage(req, e);
      return send(
        reply,
        messagePage(pageContext(req, reply, '/forgot-password'), 'reset.title', message, 'error'),
        HTTP_STATUS[e.code],
      );
    }
  });

  // ---- Change password ----
  const passwordPage = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { notice?: string; error?: string } = {},
    status = 200,
  ) => {
    const effects = await ctx.selfService.passwordChangeEffects(req.user!);
    // A user with a method needs it proved recently; for one without, the current password on the form is the re-authentication.
    const confirmFirst =
      (await ctx.recentAuth.proofFor(req.user!)) === 'second_factor' &&
      !(await ctx.recentAuth.isRecent(req.user!, req.session!));
    return send(
      reply,
      changePasswordPage(pageContext(req, reply, '/account/password'), {
        address: req.user!.address,
        effects,
        confirmFirst,
        ...extra,
      }),
      status,
    );
  };

  app.get<{ Querystring: { m?: string; n?: string; r?: string } }>('/account/password', mine, async (req, reply) => {
    const notice =
      req.query.m === 'changed'
        ? req.t('pw.changed', { sessions: Number(req.query.n ?? 0) || 0, appPasswords: Number(req.query.r ?? 0) || 0 })
        : undefined;
    return passwordPage(req, reply, { notice });
  });

  app.post('/account/password', myForm, async (req, reply) => {
    try {
      const r = await ctx.selfService.changePassword(
        req.user!,
        req.session!,
        {
          current: field(req.body, 'current'),
          password: field(req.body, 'password'),
          confirm: field(req.body, 'confirm'),
        },
        meta(req),
      );
      return reply.redirect(
        `/account/password?${new URLSearchParams({ m: 'changed', n: String(r.endedSessions), r: String(r.revokedAppPasswords) })}`,
        303,
      );
    } catch (e) {
      if (!isSesameError(e)) throw e;
      if (e.retryAfterSeconds) reply.header('retry-after', String(e.retryAfterSeconds));
      return passwordPage(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  // ---- My sessions ----
  const sessionsPage = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { notice?: string; error?: string } = {},
    status = 200,
  ) => {
    const sessions = await ctx.selfService.sessions(req.user!);
    return send(
      reply,
      mySessionsPage(await withCountries(pageContext(req, reply, '/account/sessions'), ctx.geoip), {
        sessions,
        currentId: req.session!.id,
        ...extra,
      }),
      status,
    );
  };

  app.get<{ Querystring: { m?: string; n?: string } }>('/account/sessions', mine, async (req, reply) => {
    const notices: Record<string, string> = {
      ended: req.t('sessions.ended'),
      others: req.t('sessions.ended_others', { count: Number(req.query.n ?? 0) || 0 }),
    };
    return sessionsPage(req, reply, { notice: notices[req.query.m ?? ''] });
  });

  app.post('/account/sessions/end', myForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    try {
      await ctx.selfService.endSession(req.user!, id);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return sessionsPage(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
    // Ending this very session is signing out.
    if (id === req.session!.id) {
      reply.clearCookie(web.cookies.session, cookieOpts);
      return reply.redirect('/signin?m=signedout', 303);
    }
    return reply.redirect('/account/sessions?m=ended', 303);
  });

  app.post('/account/sessions/end-others', myForm, async (req, reply) => {
    const n = await ctx.selfService.endOtherSessions(req.user!, req.session!);
    return reply.redirect(`/account/sessions?m=others&n=${n}`, 303);
  });

  // ---- My sign-ins ----
  const signInsPage = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { notice?: string; error?: string } = {},
    status = 200,
  ) => {
    const offset = Math.max(
      0,
      Number.parseInt(String((req.query as { offset?: string } | undefined)?.offset ?? '0'), 10) || 0,
    );
    const { events, total } = await ctx.selfService.signIns(req.user!, { limit: PAGE, offset });
    return send(
      reply,
      mySignInsPage(await withCountries(pageContext(req, reply, '/account/sign-ins'), ctx.geoip), {
        events,
        total,
        offset,
        limit: PAGE,
        ...extra,
      }),
      status,
    );
  };

  app.get<{ Querystring: { m?: string; offset?: string } }>('/account/sign-ins', mine, async (req, reply) => {
    const notices: Record<string, string> = {
      reported: req.t('mysignins.reported'),
      reported_gone: req.t('mysignins.reported_gone'),
    };
    return signInsPage(req, reply, { notice: notices[req.query.m ?? ''] });
  });

  app.post('/account/sign-ins/not-me', myForm, async (req, reply) => {
    try {
      const r = await ctx.selfService.reportSignIn(req.user!, field(req.body, 'id', 64), req.locale);
      return reply.redirect(`/account/sign-ins?m=${r.revoked ? 'reported' : 'reported_gone'}`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return signInsPage(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });
}
