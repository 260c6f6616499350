/**
 * Web pages: sign-in, sign-out, language switch, My account, set-password link, and the admin
 * console (Users, Sign-in log). Handlers only translate between HTTP and the domain services.
 * Every POST carries a CSRF token (checked in preHandler, after the form body is parsed).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import { isSesameError, SesameError } from '../../domain/errors.js';
import type { WebSettings } from '../../app/server.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { safeNext } from '../../web/redirects.js';
import { isLocale } from '../../i18n/i18n.js';
import type { Html } from '../../web/html.js';
import type { PageContext } from '../../web/layout.js';
import { adminAppPasswordsPage } from '../security-info/pages.js';
import { accountPage, messagePage, policyPage, setPasswordPage, signInPage, signInsPage } from '../../web/pages.js';
import { usersPage, type UsersQuery } from './users-pages.js';
import { registerUserBulkRoutes } from './user-bulk-routes.js';
import type { DirectoryPage } from '../../domain/accounts/directory.js';
import { type Actor, requireAdminOf, sessionActor } from '../../domain/accounts/actor.js';
import { isMfaState } from '../../domain/mfa/model.js';
import { filterParams, type RawSignInFilter } from '../../domain/audit/reports.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { signInFilterForm } from './dashboard-pages.js';

type Form = Record<string, string | undefined>;

/**
 * What every page needs. `path` is where the language switch comes back to: the URL itself for a
 * GET, and for a page rendered in answer to a form, the page that form lives on (the POST target
 * usually has no page of its own).
 */
export function pageContext(req: FastifyRequest, reply: FastifyReply, formPage?: string): PageContext {
  const path = req.method === 'GET' ? req.url : (formPage ?? '/');
  return { t: req.t, locale: req.locale, csrf: reply.generateCsrf(), path, user: req.user };
}

/** Sends a page, never cached (pages carry CSRF tokens and personal data). */
export function send(reply: FastifyReply, page: Html, status = 200) {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
}

export function clientMeta(req: FastifyRequest) {
  return { ip: req.ip, userAgent: String(req.headers['user-agent'] ?? '') };
}

/** A text field of a parsed form, cut to `max` characters; '' when missing or not text. */
export function field(body: unknown, name: string, max = 1024): string {
  const v = (body as Form | undefined)?.[name];
  return typeof v === 'string' ? v.slice(0, max) : '';
}

/** The user's sentence for a domain error, in their language. */
export function userMessage(req: FastifyRequest, err: SesameError): string {
  return req.t(err.messageId as Parameters<Translate>[0], err.params);
}
type Translate = FastifyRequest['t'];

export function registerWebRoutes(app: FastifyInstance, ctx: AppContext, web: WebSettings) {
  const sessionCookie = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: web.secureCookies };
  const csrf = { preHandler: app.csrfProtection, schema: { hide: true } };
  const hidden = { schema: { hide: true } };

  /** Resolves the session cookie into req.session and req.user (active users only). */
  async function loadSession(req: FastifyRequest): Promise<void> {
    const s = await ctx.sessions.resume(req.cookies[web.cookies.session]);
    if (!s) return;
    const user = await ctx.accounts.findUserById(s.userId);
    if (!user || user.status !== 'active') {
      await ctx.sessions.end(s.id);
      return;
    }
    req.session = s;
    req.user = user;
  }

  app.addHook('preHandler', async (req) => {
    // Browser sessions matter to pages only: the API uses bearer tokens, and the legacy endpoints
    // (a hot path for mail servers) never look at cookies.
    const u = req.url;
    if (!u.startsWith('/api/') && !u.startsWith('/static/') && !u.startsWith('/auth/') && !u.startsWith('/oauth2/')) await loadSession(req);
  });

  /** Sends the visitor to sign in (and back here afterwards) unless a user is signed in. */
  function requireUser(req: FastifyRequest, reply: FastifyReply): boolean {
    if (req.user) return true;
    const expired = req.cookies[web.cookies.session] ? '&m=expired' : '';
    void reply.redirect(`/signin?next=${encodeURIComponent(req.url)}${expired}`, 303);
    return false;
  }

  /** The signed-in user as an actor: admin rights need what their session proved (checklist 36). */
  const actorOf = (req: FastifyRequest): Actor => sessionActor(req.user!, req.session!);

  /**
   * Lets an admin of their organization through, from a session that proved a second factor; a
   * plain user gets "not allowed", an admin signed in without one is told to sign in again.
   */
  function requireAdmin(req: FastifyRequest, reply: FastifyReply): boolean {
    if (!requireUser(req, reply)) return false;
    try {
      requireAdminOf(actorOf(req), req.user!.orgId);
      return true;
    } catch (e) {
      if (!isSesameError(e)) throw e;
      req.log.info({ code: e.code, detail: e.detail }, 'admin page refused');
      void send(reply, messagePage(pageContext(req, reply), e.code === 'admin_mfa_required' ? 'page.admin_mfa.title' : 'page.forbidden.title', userMessage(req, e), 'error'), 403);
      return false;
    }
  }

  app.get('/', hidden, async (req, reply) => reply.redirect(req.user ? '/account' : '/signin', 303));

  app.get<{ Querystring: { next?: string; m?: string } }>('/signin', hidden, async (req, reply) => {
    if (req.user) return reply.redirect(safeNext(req.query.next), 303);
    const m = req.query.m;
    const notice = m === 'signedout' ? req.t('signin.signedout') : m === 'expired' ? req.t('signin.expired') : m === 'password' ? req.t('setpw.done') : undefined;
    const next = req.query.next ? safeNext(req.query.next) : undefined;
    return send(reply, signInPage(pageContext(req, reply), { next, notice }));
  });

  app.post('/signin', csrf, async (req, reply) => {
    const email = field(req.body, 'email', 254);
    const password = field(req.body, 'password');
    const next = safeNext(field(req.body, 'next', 500));
    try {
      const user = await ctx.signIn.authenticate(email, password, { ...clientMeta(req), protocol: 'web' });
      // Always a fresh session id at sign-in; a planted or older cookie's session is ended.
      if (req.session) await ctx.sessions.end(req.session.id);
      reply.clearCookie(web.cookies.session, sessionCookie);
      const step = await ctx.flows.afterPassword(user, { ...clientMeta(req), protocol: 'web', locale: req.locale }, next, req.cookies[web.cookies.trust]);
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
      return send(reply, signInPage(pageContext(req, reply, '/signin'), { email, next: next === '/account' ? undefined : next, error: userMessage(req, e) }), HTTP_STATUS[e.code]);
    }
  });

  app.post('/signout', csrf, async (req, reply) => {
    if (req.session) await ctx.sessions.end(req.session.id);
    reply.clearCookie(web.cookies.session, sessionCookie);
    return reply.redirect('/signin?m=signedout', 303);
  });

  app.post('/lang', csrf, async (req, reply) => {
    const lang = field(req.body, 'lang', 5);
    if (isLocale(lang)) reply.setCookie(web.cookies.lang, lang, { path: '/', sameSite: 'lax', secure: web.secureCookies, httpOnly: true, maxAge: 365 * 24 * 3600 });
    return reply.redirect(safeNext(field(req.body, 'back', 500), '/'), 303);
  });

  app.get('/account', hidden, async (req, reply) => {
    if (!requireUser(req, reply)) return reply;
    const org = await ctx.accounts.getOrganization(req.user!.orgId);
    return send(reply, accountPage(pageContext(req, reply), req.user!, org));
  });

  app.get<{ Querystring: { token?: string } }>('/set-password', hidden, async (req, reply) => {
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
        return send(reply, setPasswordPage(pageContext(req, reply, setPasswordPath(token)), { token, address, error: req.t('setpw.mismatch') }), 400);
      }
      await ctx.accounts.setPasswordWithToken(token, password);
      return reply.redirect('/signin?m=password', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      const pc = pageContext(req, reply, address ? setPasswordPath(token) : '/signin');
      if (!address || e.code === 'token_invalid') return send(reply, messagePage(pc, 'setpw.title', userMessage(req, e), 'error'), 400);
      return send(reply, setPasswordPage(pc, { token, address, error: userMessage(req, e) }), HTTP_STATUS[e.code]);
    }
  });

  const PAGE = 50;
  const listUsers = async (req: FastifyRequest, reply: FastifyReply, extra: { notice?: string; error?: string; link?: { address: string; url: string; expires: string } } = {}, status = 200) => {
    // Filters, sort and cursor from the query string (a POST answered with this page keeps its own page's query).
    const raw = req.query as Record<string, string | undefined>;
    const query: UsersQuery = Object.fromEntries(USERS_QUERY_KEYS.map((k) => [k, typeof raw[k] === 'string' ? raw[k]!.slice(0, 100) : undefined]));
    let page: DirectoryPage;
    try {
      page = await ctx.directory.list(actorOf(req), req.user!.orgId, { ...query, cursor: typeof raw.cursor === 'string' ? raw.cursor.slice(0, 500) : undefined, limit: PAGE });
    } catch (e) {
      // A tampered filter or cursor: the page without them, and why.
      if (!isSesameError(e) || e.code !== 'invalid_input') throw e;
      page = await ctx.directory.list(actorOf(req), req.user!.orgId, { limit: PAGE });
      return send(reply, usersPage(pageContext(req, reply, '/admin/users'), { page, query: {}, formatTime, ...extra, error: userMessage(req, e) }), HTTP_STATUS[e.code]);
    }
    return send(reply, usersPage(pageContext(req, reply, '/admin/users'), { page, query, formatTime, ...extra }), status);
  };

  app.get<{ Querystring: { m?: string; who?: string; state?: string; to?: string } }>('/admin/users', hidden, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const who = String(req.query.who ?? '').slice(0, 254);
    const state = isMfaState(req.query.state) ? req.t(`mfa.state.${req.query.state}`) : '';
    const notices: Record<string, string> = {
      disabled: req.t('users.disabled', { address: who }),
      enabled: req.t('users.enabled', { address: who }),
      mfa: req.t('users.mfa.changed', { address: who, state }),
      reregistered: req.t('users.reregistered', { address: who }),
      sessions: req.t('users.sessions.ended', { address: who }),
      reset: req.t('users.reset_sent', { address: who, to: String(req.query.to ?? '').slice(0, 254) }),
    };
    return listUsers(req, reply, { notice: notices[req.query.m ?? ''] });
  });

  /** An admin action on one user, answered post/redirect/get with a notice. */
  const userAction = (path: string, act: (actor: Actor, address: string, body: unknown, req: FastifyRequest) => Promise<Record<string, string>>) =>
    app.post(`/admin/users/${path}`, csrf, async (req, reply) => {
      if (!requireAdmin(req, reply)) return reply;
      try {
        const q = await act(actorOf(req), field(req.body, 'address', 300), req.body, req);
        return reply.redirect(`/admin/users?${new URLSearchParams(q)}`, 303);
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return listUsers(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
      }
    });
  userAction('mfa', async (actor, address, body) => {
    const u = await ctx.mfaAdmin.setUserState(actor, address, field(body, 'state', 20));
    return { m: 'mfa', who: u.address, state: u.mfaState };
  });
  userAction('reregister', async (actor, address) => ({ m: 'reregistered', who: (await ctx.mfaAdmin.requireReRegistration(actor, address)).address }));
  userAction('end-sessions', async (actor, address) => {
    await ctx.mfaAdmin.endSessions(actor, address);
    return { m: 'sessions', who: address.trim().toLowerCase() };
  });
  // The link goes to the user's verified alternate email, worded in the admin's language.
  userAction('reset-link', async (actor, address, _body, req) => {
    const r = await ctx.passwordReset.sendByAdmin(actor, address, req.locale);
    return { m: 'reset', who: r.user.address, to: r.sentTo };
  });

  app.get<{ Querystring: { address?: string; m?: string; n?: string } }>('/admin/users/app-passwords', hidden, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    try {
      const { user, appPasswords } = await ctx.appPasswords.listFor(actorOf(req), String(req.query.address ?? '').slice(0, 254));
      const notice = req.query.m === 'revoked' ? req.t('ap.admin.revoked', { count: Number(req.query.n ?? 0), address: user.address }) : undefined;
      return send(reply, adminAppPasswordsPage(pageContext(req, reply), { address: user.address, list: appPasswords, formatTime, notice }));
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return listUsers(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  app.post('/admin/users/app-passwords/revoke-all', csrf, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    try {
      const address = field(req.body, 'address', 300);
      const n = await ctx.appPasswords.revokeAllFor(actorOf(req), address);
      return reply.redirect(`/admin/users/app-passwords?${new URLSearchParams({ address: address.trim().toLowerCase(), m: 'revoked', n: String(n) })}`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return listUsers(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  app.get<{ Querystring: { m?: string } }>('/admin/policy', hidden, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const policy = await ctx.mfaAdmin.getPolicy(actorOf(req), req.user!.orgId);
    return send(reply, policyPage(pageContext(req, reply), { policy, notice: req.query.m === 'saved' ? req.t('policy.saved') : undefined }));
  });

  app.post('/admin/policy', csrf, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const actor = actorOf(req);
    const body = req.body as Record<string, string | string[] | undefined>;
    const methods = body.methods === undefined ? [] : Array.isArray(body.methods) ? body.methods : [body.methods];
    const days = field(req.body, 'rememberDays', 10);
    try {
      const list = (name: string) => (body[name] === undefined ? [] : Array.isArray(body[name]) ? (body[name] as string[]) : [body[name] as string]).map((m) => String(m).slice(0, 20));
      const optionalDays = (name: string) => {
        const v = field(req.body, name, 10).trim();
        return v === '' ? null : /^\d{1,4}$/.test(v) ? Number(v) : Number.NaN;
      };
      const cap = field(req.body, 'apCap', 10);
      await ctx.mfaAdmin.setPolicy(actor, req.user!.orgId, {
        mfaDefault: field(req.body, 'mfaDefault', 20),
        allowedMethods: methods.map((m) => String(m).slice(0, 20)),
        rememberDays: /^\d{1,3}$/.test(days) ? Number(days) : Number.NaN,
        legacyMainPassword: field(req.body, 'legacyMainNever', 2) === '1' ? 'never' : 'until_enforced',
        appPasswords: {
          allowed: field(req.body, 'apAllowed', 2) === '1',
          keepExistingWhenOff: field(req.body, 'apKeep', 2) === '1',
          cap: /^\d{1,3}$/.test(cap) ? Number(cap) : Number.NaN,
          protocols: list('apProtocols'),
          maxLifetimeDays: optionalDays('apMaxDays'),
          revokeUnusedDays: optionalDays('apUnusedDays'),
          revokeOnPasswordChange: field(req.body, 'apRevokeOnChange', 2) === '1',
        },
      });
      return reply.redirect('/admin/policy?m=saved', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      const policy = await ctx.mfaAdmin.getPolicy(actor, req.user!.orgId);
      return send(reply, policyPage(pageContext(req, reply, '/admin/policy'), { policy, error: userMessage(req, e) }), HTTP_STATUS[e.code]);
    }
  });

  app.post('/admin/users', csrf, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const actor = actorOf(req);
    try {
      const name = field(req.body, 'name', 300).trim();
      const user = await ctx.accounts.addUser(actor, { address: field(req.body, 'address', 300), name: name || undefined, role: field(req.body, 'admin', 2) === '1' ? 'admin' : 'user' });
      const link = await ctx.accounts.issueSetPasswordToken(actor, user.address);
      return listUsers(req, reply, { link: { address: user.address, url: setPasswordUrl(ctx, link.token), expires: formatTime(link.expiresAt) } });
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return listUsers(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  for (const action of ['disable', 'enable'] as const) {
    app.post(`/admin/users/${action}`, csrf, async (req, reply) => {
      if (!requireAdmin(req, reply)) return reply;
      const actor = actorOf(req);
      try {
        const address = field(req.body, 'address', 300);
        const user = action === 'disable' ? await ctx.accounts.disableUser(actor, address) : await ctx.accounts.enableUser(actor, address);
        // Post/redirect/get: a reload does not repeat the action, and the address bar shows a real page.
        return reply.redirect(`/admin/users?${new URLSearchParams({ m: `${action}d`, who: user.address })}`, 303);
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return listUsers(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
      }
    });
  }

  app.get<{ Querystring: RawSignInFilter & { offset?: string } }>('/admin/sign-ins', hidden, async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const offset = Math.max(0, Number.parseInt(String(req.query.offset ?? '0'), 10) || 0);
    const pc = pageContext(req, reply);
    let page: Awaited<ReturnType<AppContext['reports']['listSignIns']>>;
    try {
      page = await ctx.reports.listSignIns(actorOf(req), req.user!.orgId, req.query, PAGE, offset);
    } catch (e) {
      // A bad filter: the error, an empty form, and no rows (nothing is read).
      if (!isSesameError(e) || e.code !== 'invalid_filter') throw e;
      return send(reply, signInsPage(pc, { events: [], total: 0, offset: 0, limit: PAGE, formatTime, filters: signInFilterForm(pc, {}), error: userMessage(req, e) }), HTTP_STATUS[e.code]);
    }
    const { events, total, filter } = page;
    return send(reply, signInsPage(pc, { events, total, offset, limit: PAGE, formatTime, filters: signInFilterForm(pc, filter), params: filterParams(filter) }));
  });
  registerDashboardRoutes(app, ctx, { requireAdmin, actorOf, send });
  registerUserBulkRoutes(app, ctx, { requireAdmin, send, usersWithError: (req, reply, e) => listUsers(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]) });

}

/** The Users page's query parameters besides the cursor (see UserListRequest). */
const USERS_QUERY_KEYS = ['q', 'mfa', 'method', 'appPasswords', 'status', 'lastSignIn', 'sort', 'order'] as const;

function setPasswordPath(token: string): string {
  return `/set-password?token=${encodeURIComponent(token)}`;
}

export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

export function setPasswordUrl(ctx: AppContext, token: string): string {
  return `${ctx.config.publicUrl}/set-password?token=${encodeURIComponent(token)}`;
}
