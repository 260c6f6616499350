/**
 * The MFA flows in the browser, wherever they start: the sign-in flow under /signin/mfa (its token
 * in a cookie of its own, no session yet), a signed-in user's flows (add a method, confirm it is
 * them) under /security-info/flow, and a password reset's second factor and new password under
 * /reset-password/flow. Every POST is CSRF-checked and answered with a redirect to the flow's page
 * (post/redirect/get), or the page with an error.
 */
import QRCode from 'qrcode';
import { mintProfileOffer } from '../../web/device-profile.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../../domain/accounts/model.js';
import { type ErrorCode, isSesameError, type SesameError } from '../../domain/errors.js';
import type { Flow, FlowKind } from '../../domain/flows/flow.js';
import type { Step } from '../../domain/flows/sign-in-flow.js';
import { sessionCookieOptions, type WebSettings } from '../../web/cookies.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { field } from '../../web/forms.js';
import { messagePage } from '../../web/layout.js';
import { safeNext } from '../../web/links.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { flowPage, type TypedContact } from './flow-pages.js';

interface Surface {
  base: string;
  cookie: string;
  kinds: FlowKind[];
  /** Whether a signed-in user must own the flow (Security info flows). */
  signedIn: boolean;
}

/** Refusals that concern what was typed into the number or address field, so are said beside it too. */
const CONTACT_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'invalid_phone',
  'phone_country_code_required',
  'phone_country_not_allowed',
  'phone_type_not_allowed',
  'alt_email_is_work_address',
  'invalid_address',
]);

/** The number or address posted for the chosen method (`kind`, else the one the flow has chosen). */
function typedContact(req: FastifyRequest, flow: Flow, kind = field(req.body, 'kind', 20) || flow.data.chosen): string {
  return kind === 'email' ? field(req.body, 'email', 254) : field(req.body, 'phone', 30);
}

export function registerFlowRoutes(app: FastifyInstance, ctx: Services, web: WebSettings) {
  const cookieOpts = sessionCookieOptions(web);
  const csrf = { preHandler: app.csrfProtection, ...PAGE_ROUTE };
  const surfaces: Surface[] = [
    { base: '/signin/mfa', cookie: web.cookies.flow, kinds: ['sign_in'], signedIn: false },
    {
      base: '/security-info/flow',
      cookie: web.cookies.securityInfoFlow,
      kinds: ['add_method', 'step_up'],
      signedIn: true,
    },
    // A password reset (its link was opened): the second factor, then the new password.
    { base: '/reset-password/flow', cookie: web.cookies.reset, kinds: ['password_reset'], signedIn: false },
  ];
  const trustCookie = web.cookies.trust;

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

  async function render(
    req: FastifyRequest,
    reply: FastifyReply,
    s: Surface,
    flow: Flow,
    user: User,
    extra: { error?: string; notice?: string; contact?: TypedContact } = {},
    status = 200,
  ) {
    const v = await ctx.flows.view(flow, user);
    const qrDataUrl =
      v.prompt?.kind === 'totp' && v.prompt.uri
        ? await QRCode.toDataURL(v.prompt.uri, { margin: 1, width: 200 })
        : undefined;
    // Shown once, with its configuration profile link made now (#18, item 2): the session it is
    // bound to, or none yet on the first sign-in (the session starts when the flow ends).
    const profile = v.appPassword?.id
      ? await mintProfileOffer(ctx, user, req.session?.id ?? null, v.appPassword)
      : undefined;
    const resetEffects = flow.state === 'new_password' ? await ctx.selfService.passwordChangeEffects(user) : undefined;
    return send(
      reply,
      flowPage(pageContext(req, reply, s.base), { ...v, qrDataUrl, profile, base: s.base, resetEffects, ...extra }),
      status,
    );
  }

  /**
   * "This sign-in has expired", with a way on (#17, task D): a new sign-in towards where the old one
   * was going (when the flow was still there to say), or back to Security info for a signed-in user.
   */
  function expired(req: FastifyRequest, reply: FastifyReply, s: Surface, e?: SesameError) {
    const next = typeof e?.params.next === 'string' ? safeNext(e.params.next) : undefined;
    const wayOn = s.signedIn
      ? { href: '/security-info', label: req.t('flow.expired.back') }
      : {
          href: next && next !== '/account' ? `/signin?${new URLSearchParams({ next })}` : '/signin',
          label: req.t('flow.expired.signin'),
        };
    return send(
      reply,
      messagePage(pageContext(req, reply, '/signin'), 'page.error.title', req.t('error.flow_expired'), 'error', wayOn),
      400,
    );
  }

  /** Loads the surface's flow for this request, or answers (expired page / sign-in redirect) and returns undefined. */
  async function load(
    req: FastifyRequest,
    reply: FastifyReply,
    s: Surface,
  ): Promise<{ flow: Flow; user: User } | undefined> {
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
      // Another user's flow tells this one nothing of where it was going.
      void expired(req, reply, s, isSesameError(e) ? e : undefined);
      return undefined;
    }
  }

  for (const s of surfaces) {
    app.get(s.base, PAGE_ROUTE, async (req, reply) => {
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
          if (step && (step.done || step.flow.state === 'done'))
            return land(
              reply,
              s,
              step,
              back ??
                (s.signedIn ? `/security-info?m=${r.flow.kind === 'add_method' ? 'added' : 'confirmed'}` : '/account'),
            );
          return reply.redirect(s.base, 303);
        } catch (e) {
          if (!isSesameError(e)) throw e;
          req.log.info({ code: e.code, detail: e.detail }, 'MFA step refused');
          if (e.retryAfterSeconds) reply.header('retry-after', String(e.retryAfterSeconds));
          if (e.code === 'flow_expired') return expired(req, reply, s, e);
          // Re-read: the flow may have moved on (a code was resent, a failure recorded).
          let fresh: { flow: Flow; user: User };
          try {
            fresh = await ctx.flows.load(req.cookies[s.cookie], s.kinds);
          } catch (x) {
            return expired(req, reply, s, isSesameError(x) ? x : undefined);
          }
          const error = userMessage(req, e);
          // A refused number or address is typed again where it was, with the reason beside it.
          const contact =
            name === 'method' && fresh.flow.state === 'contact_details'
              ? { value: typedContact(req, fresh.flow), error: CONTACT_ERRORS.has(e.code) ? error : undefined }
              : undefined;
          return render(req, reply, s, fresh.flow, fresh.user, { error, contact }, HTTP_STATUS[e.code]);
        }
      });

    action('setup', async (_req, flow) => ctx.flows.setUpNow(flow));
    action('cancel', async (_req, flow) => {
      await ctx.flows.cancel(flow);
      return { done: false, flow: { ...flow, state: 'done' } };
    });
    // The method alone (its number or address asked next), then the method with its number or address.
    action('pick', async (req, flow, user) => ctx.flows.pickMethod(flow, user, field(req.body, 'kind', 20)));
    action('method', async (req, flow, user) => {
      const kind = field(req.body, 'kind', 20) || (flow.data.chosen ?? '');
      await ctx.flows.chooseMethod(flow, user, kind, typedContact(req, flow, kind));
    });
    action('choose', async (_req, flow) => ctx.flows.chooseAnother(flow));
    action('resend', async (_req, flow, user) =>
      flow.state === 'verify_enrolment'
        ? ctx.flows.resendEnrolmentCode(flow, user)
        : ctx.flows.resendChallengeCode(flow, user),
    );
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
      return ctx.flows.verifySecondFactor(flow, user, response, {
        remember: field(req.body, 'remember', 2) === '1',
        sessionId: req.session?.id,
      });
    });
    action('next', async (req, flow, user) => ctx.flows.next(flow, user, { appPasswordName: req.t('ap.keep.name') }));
    action('done', async (_req, flow, user) => ctx.flows.finishRegistration(flow, user));
    if (s.kinds.includes('password_reset'))
      action('password', async (req, flow, user) =>
        ctx.passwordReset.finish(flow, user, field(req.body, 'password', 1024), field(req.body, 'confirm', 1024)),
      );
  }
}
