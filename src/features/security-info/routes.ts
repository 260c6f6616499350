/**
 * Routes that drive the MFA flows from the browser: the sign-in flow under /signin/mfa (its token
 * in a cookie of its own, no session yet) and a signed-in user's flows (add a method, confirm it
 * is them) under /security-info/flow, plus the Security info page. Every POST is CSRF-checked and
 * answered with a redirect to the flow's page (post/redirect/get), or the page with an error.
 */
import QRCode from 'qrcode';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import type { User } from '../../domain/accounts/model.js';
import { isSesameError, type SesameError } from '../../domain/errors.js';
import type { Flow, FlowKind } from '../../domain/flows/flow.js';
import type { Step } from '../../domain/flows/sign-in-flow.js';
import type { WebSettings } from '../../app/server.js';
import { HTTP_STATUS } from '../../web/errors.js';
import type { MessageId } from '../../i18n/en.js';
import { flowPage, helpAppPasswordsPage, securityInfoPage } from './pages.js';
import { messagePage } from '../../web/pages.js';
import { clientMeta, formatTime, pageContext } from '../admin/routes.js';
import { safeNext } from '../../web/redirects.js';

type Form = Record<string, string | undefined>;
const field = (body: unknown, name: string, max = 300) => {
  const v = (body as Form | undefined)?.[name];
  return typeof v === 'string' ? v.slice(0, max) : '';
};

/** The cookie of a signed-in user's flow (add a method, confirm it is them), for flows started outside Security info. */
export function securityInfoFlowCookie(web: WebSettings): string {
  return `${web.secureCookies ? '__Host-' : ''}sesame_flow_si`;
}

interface Surface {
  base: string;
  cookie: string;
  kinds: FlowKind[];
  /** Whether a signed-in user must own the flow (Security info flows). */
  signedIn: boolean;
}

export function registerMfaRoutes(app: FastifyInstance, ctx: AppContext, web: WebSettings) {
  const cookieOpts = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: web.secureCookies };
  const csrf = { preHandler: app.csrfProtection, schema: { hide: true } };
  const hidden = { schema: { hide: true } };
  const surfaces: Surface[] = [
    { base: '/signin/mfa', cookie: web.cookies.flow, kinds: ['sign_in'], signedIn: false },
    { base: '/security-info/flow', cookie: securityInfoFlowCookie(web), kinds: ['add_method', 'step_up'], signedIn: true },
    // A password reset (its link was opened): the second factor, then the new password.
    { base: '/reset-password/flow', cookie: web.cookies.reset, kinds: ['password_reset'], signedIn: false },
  ];
  const trustCookie = web.cookies.trust;

  const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
  const meta = (req: FastifyRequest) => ({ ...clientMeta(req), protocol: 'web', locale: req.locale });

  /** Sets the cookies of a finished step and says where to go. */
  function land(reply: FastifyReply, s: Surface, step: Step, fallback: string) {
    reply.clearCookie(s.cookie, cookieOpts);
    if (step.done) {
      reply.setCookie(web.cookies.session, step.token, cookieOpts);
      if (step.trustToken) reply.setCookie(trustCookie, step.trustToken, { ...cookieOpts, maxAge: step.trustSeconds });
      return reply.redirect(step.next, 303);
    }
    // A step-up re-authenticated the session under a new token.
    if (step.sessionToken) reply.setCookie(web.cookies.session, step.sessionToken, cookieOpts);
    return reply.redirect(fallback, 303);
  }

  async function render(req: FastifyRequest, reply: FastifyReply, s: Surface, flow: Flow, user: User, extra: { error?: string; notice?: string } = {}, status = 200) {
    const v = await ctx.flows.view(flow, user);
    const qrDataUrl = v.prompt?.kind === 'totp' && v.prompt.uri ? await QRCode.toDataURL(v.prompt.uri, { margin: 1, width: 200 }) : undefined;
    const resetEffects = flow.state === 'new_password' ? await ctx.selfService.passwordChangeEffects(user) : undefined;
    return send(reply, flowPage(pageContext(req, reply, s.base), { ...v, qrDataUrl, base: s.base, resetEffects, ...extra }).value, status);
  }

  /** Loads the surface's flow for this request, or answers (expired page / sign-in redirect) and returns undefined. */
  async function load(req: FastifyRequest, reply: FastifyReply, s: Surface): Promise<{ flow: Flow; user: User } | undefined> {
    if (s.signedIn && !req.user) {
      void reply.redirect('/signin', 303);
      return undefined;
    }
    try {
      const r = await ctx.flows.load(req.cookies[s.cookie], s.kinds);
      if (s.signedIn && r.user.id !== req.user!.id) throw new Error('flow of another user');
      return r;
    } catch (e) {
      reply.clearCookie(s.cookie, cookieOpts);
      if (!isSesameError(e) && !(e instanceof Error && e.message === 'flow of another user')) throw e;
      void send(reply, messagePage(pageContext(req, reply, '/signin'), 'page.error.title', req.t('error.flow_expired'), 'error').value, 400);
      return undefined;
    }
  }

  const userMessage = (req: FastifyRequest, e: SesameError) => req.t(e.messageId as MessageId, e.params);

  for (const s of surfaces) {
    app.get(s.base, hidden, async (req, reply) => {
      const r = await load(req, reply, s);
      if (!r) return reply;
      return render(req, reply, s, r.flow, r.user);
    });

    /** One POST action on the flow: runs `act`, then redirects to the flow page or to where the step leads. */
    const action = (name: string, act: (req: FastifyRequest, flow: Flow, user: User) => Promise<Step | void>) =>
      app.post(`${s.base}/${name}`, csrf, async (req, reply) => {
        const r = await load(req, reply, s);
        if (!r) return reply;
        try {
          const step = await act(req, r.flow, r.user);
          // A signed-in flow started elsewhere (an app's sign-in that needs a second factor) goes back there.
          const back = s.signedIn && r.flow.data.next !== '/security-info' ? safeNext(r.flow.data.next) : undefined;
          if (step && (step.done || step.flow.state === 'done')) return land(reply, s, step, back ?? (s.signedIn ? `/security-info?m=${r.flow.kind === 'add_method' ? 'added' : 'confirmed'}` : '/account'));
          return reply.redirect(s.base, 303);
        } catch (e) {
          if (!isSesameError(e)) throw e;
          req.log.info({ code: e.code, detail: e.detail }, 'MFA step refused');
          if (e.retryAfterSeconds) reply.header('retry-after', String(e.retryAfterSeconds));
          if (e.code === 'flow_expired') return send(reply, messagePage(pageContext(req, reply, '/signin'), 'page.error.title', userMessage(req, e), 'error').value, 400);
          // Re-read: the flow may have moved on (a code was resent, a failure recorded).
          const fresh = await ctx.flows.load(req.cookies[s.cookie], s.kinds).catch(() => undefined);
          if (!fresh) return send(reply, messagePage(pageContext(req, reply, '/signin'), 'page.error.title', req.t('error.flow_expired'), 'error').value, 400);
          return render(req, reply, s, fresh.flow, fresh.user, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
        }
      });

    action('setup', async (_req, flow) => ctx.flows.setUpNow(flow));
    action('cancel', async (_req, flow) => {
      await ctx.flows.cancel(flow);
      return { done: false, flow: { ...flow, state: 'done' } };
    });
    action('method', async (req, flow, user) => {
      const kind = field(req.body, 'kind', 20);
      const target = kind === 'email' ? field(req.body, 'email', 254) : field(req.body, `phone_${kind}`, 30);
      await ctx.flows.chooseMethod(flow, user, kind, target);
    });
    action('choose', async (_req, flow) => ctx.flows.chooseAnother(flow));
    action('resend', async (_req, flow, user) => (flow.state === 'verify_enrolment' ? ctx.flows.resendEnrolmentCode(flow, user) : ctx.flows.resendChallengeCode(flow, user)));
    action('switch', async (req, flow, user) => ctx.flows.switchMethod(flow, user, field(req.body, 'method', 64)));
    action('verify', async (req, flow, user) => {
      const credentialRaw = field(req.body, 'credential', 20_000);
      let credential: unknown;
      try {
        credential = credentialRaw ? JSON.parse(credentialRaw) : undefined;
      } catch {
        credential = undefined;
      }
      const response = { code: field(req.body, 'code', 40), credential };
      if (flow.state === 'verify_enrolment') {
        await ctx.flows.confirmEnrolment(flow, user, response);
        return;
      }
      return ctx.flows.verifySecondFactor(flow, user, response, { remember: field(req.body, 'remember', 2) === '1', sessionId: req.session?.id });
    });
    action('next', async (req, flow, user) => ctx.flows.next(flow, user, { appPasswordName: req.t('ap.keep.name') }));
    action('done', async (_req, flow, user) => ctx.flows.finishRegistration(flow, user));
    if (s.kinds.includes('password_reset')) action('password', async (req, flow, user) => ctx.passwordReset.finish(flow, user, field(req.body, 'password', 1024), field(req.body, 'confirm', 1024)));
  }

  // ---- Security info ----
  const requireUser = (req: FastifyRequest, reply: FastifyReply) => {
    if (req.user && req.session) return true;
    void reply.redirect(`/signin?next=${encodeURIComponent('/security-info')}`, 303);
    return false;
  };
  const self = surfaces[1]!;

  async function securityInfo(req: FastifyRequest, reply: FastifyReply, extra: { notice?: string; error?: string; newCodes?: string[]; created?: { name: string; password: string } } = {}, status = 200) {
    const user = req.user!;
    const o = await ctx.securityInfo.overview(user);
    const fresh = await ctx.securityInfo.isFresh(user, req.session!);
    const policy = (await ctx.appPasswords.policyFor(user.orgId)).appPasswords;
    const appPasswords = {
      list: await ctx.appPasswords.list(user),
      status: user.mfaState === 'disabled' ? ('need_mfa' as const) : policy.allowed ? ('ok' as const) : ('off' as const),
      keepExistingWhenOff: policy.keepExistingWhenOff,
      created: extra.created,
      formatTime,
    };
    // A page that shows a new secret must not be cached anywhere (send() already says no-store).
    return send(reply, securityInfoPage(pageContext(req, reply, '/security-info'), { ...o, fresh, ...extra, appPasswords }).value, status);
  }

  app.get<{ Querystring: { m?: string } }>('/security-info', hidden, async (req, reply) => {
    if (!requireUser(req, reply)) return reply;
    const m = req.query.m;
    const notices: Record<string, MessageId> = { added: 'mfa.added', removed: 'si.removed', default: 'si.default_set', ap_deleted: 'ap.deleted', ap_deleted_all: 'ap.deleted_all' };
    const notice = m && notices[m] ? req.t(notices[m]) : undefined;
    return securityInfo(req, reply, { notice });
  });

  const siAction = (name: string, act: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    app.post(`/security-info/${name}`, csrf, async (req, reply) => {
      if (!requireUser(req, reply)) return reply;
      try {
        return await act(req, reply);
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return securityInfo(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
      }
    });

  siAction('add', async (req, reply) => {
    await ctx.securityInfo.requireFresh(req.user!, req.session!);
    const { flowToken } = await ctx.flows.startAddMethod(req.user!, meta(req));
    reply.setCookie(self.cookie, flowToken, cookieOpts);
    return reply.redirect(self.base, 303);
  });
  siAction('confirm', async (req, reply) => {
    const { flowToken } = await ctx.flows.startStepUp(req.user!, meta(req), '/security-info');
    reply.setCookie(self.cookie, flowToken, cookieOpts);
    return reply.redirect(self.base, 303);
  });
  siAction('delete', async (req, reply) => {
    await ctx.securityInfo.removeMethod(req.user!, req.session!, field(req.body, 'method', 64), req.locale);
    return reply.redirect('/security-info?m=removed', 303);
  });
  siAction('default', async (req, reply) => {
    await ctx.securityInfo.setDefault(req.user!, req.session!, field(req.body, 'method', 64));
    return reply.redirect('/security-info?m=default', 303);
  });
  siAction('app-passwords', async (req, reply) => {
    const made = await ctx.appPasswords.create(req.user!, req.session!, field(req.body, 'name', 300), { ip: req.ip, locale: req.locale });
    return securityInfo(req, reply, { created: { name: made.appPassword.name, password: made.password } });
  });
  siAction('app-passwords/delete', async (req, reply) => {
    await ctx.appPasswords.remove(req.user!, field(req.body, 'id', 64));
    return reply.redirect('/security-info?m=ap_deleted#app-passwords', 303);
  });
  siAction('app-passwords/delete-all', async (req, reply) => {
    await ctx.appPasswords.removeAll(req.user!);
    return reply.redirect('/security-info?m=ap_deleted_all#app-passwords', 303);
  });

  app.get('/help/app-passwords', hidden, async (req, reply) => send(reply, helpAppPasswordsPage(pageContext(req, reply)).value));

  siAction('recovery-codes', async (req, reply) => {
    const codes = await ctx.securityInfo.renewRecoveryCodes(req.user!, req.session!, req.locale);
    return securityInfo(req, reply, { newCodes: codes });
  });
}
