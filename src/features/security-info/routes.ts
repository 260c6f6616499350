/**
 * Security info: the signed-in user's methods (add, make default, delete), recovery codes and app
 * passwords (create, delete, delete all), and the help page on app passwords. Adding a method or
 * confirming it is them starts a flow, which flow-routes.ts of the sign-in feature serves under
 * /security-info/flow. Every change to how one signs in needs recent authentication
 * (domain/sessions/recent-auth.ts): a user with a method confirms with a step-up flow, a user
 * without one re-enters the password at /security-info/reauth. Every POST is CSRF-checked; a
 * refusal shows the page again with its reason.
 *
 * Deleting (a method, an app password, all app passwords) asks first: the POST from the list
 * answers with a confirmation page that says what stops working, and only the same POST with
 * `confirm=1` acts. Making something (an app password, recovery codes) is post/redirect/get: the
 * secret is shown once by the GET the POST redirects to (web/one-time.ts), and the app-password
 * form's one-time nonce makes a repeated post make nothing more.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { mintProfileOffer, type ProfileOfferView } from '../../web/device-profile.js';
import { isSesameError, SesameError } from '../../domain/errors.js';
import type { MessageId } from '../../i18n/en.js';
import { sessionCookieOptions, type WebSettings } from '../../web/cookies.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { appPasswordUseText, confirmationPage, confirmed, methodName } from '../../web/components.js';
import { clientMeta, field, fieldList, pinFields } from '../../web/forms.js';
import { oneTimeDisplay } from '../../web/one-time.js';
import { requireUser } from '../../web/guards.js';
import { safeNext } from '../../web/links.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import { withCountries } from '../../web/countries.js';
import type { Services } from '../../web/services.js';
import {
  appPasswordRenamePage,
  appPasswordWherePage,
  helpAppPasswordsPage,
  reauthPage,
  securityInfoPage,
} from './pages.js';

/** Where a signed-in user's flows are served (by the sign-in feature's flow routes). */
const FLOW_PAGE = '/security-info/flow';
/** "Confirm your password", for a user without a method. */
const REAUTH_PAGE = '/security-info/reauth';

export function registerSecurityInfoRoutes(app: FastifyInstance, ctx: Services, web: WebSettings) {
  const cookieOpts = sessionCookieOptions(web);
  const signedIn = requireUser(web, { back: '/security-info' });
  const meta = (req: FastifyRequest) => ({ ...clientMeta(req), protocol: 'web', locale: req.locale });
  const shown = oneTimeDisplay(ctx.secrets, web, ctx.clock);

  async function securityInfo(
    req: FastifyRequest,
    reply: FastifyReply,
    extra: {
      notice?: string;
      error?: string;
      newCodes?: string[];
      created?: { name: string; password: string; profile?: ProfileOfferView };
    } = {},
    status = 200,
  ) {
    const user = req.user!;
    const o = await ctx.securityInfo.overview(user);
    const fresh = await ctx.securityInfo.isFresh(user, req.session!);
    const policy = (await ctx.appPasswords.policyFor(user.orgId)).appPasswords;
    const appPasswords = {
      list: await ctx.appPasswords.list(user),
      status:
        user.mfaState === 'disabled'
          ? ('need_mfa' as const)
          : !policy.allowed
            ? ('off' as const)
            : (await ctx.appPasswords.inGroup(user))
              ? ('ok' as const)
              : ('not_in_group' as const),
      keepExistingWhenOff: policy.keepExistingWhenOff,
      cap: policy.cap,
      protocols: policy.protocols,
      created: extra.created,
      // The create form's one-time nonce: posting the same form twice makes one app password.
      nonce: randomBytes(18).toString('base64url'),
      locations: await ctx.locations.choicesFor(user.orgId),
    };
    // Countries (and DB-IP's credit) only when an app password shows the address it was last used from.
    const pc = pageContext(req, reply, '/security-info');
    const page = appPasswords.list.some((p) => p.lastUsedIp) ? await withCountries(pc, ctx.geoip) : pc;
    // A page that shows a new secret must not be cached anywhere (send() already says no-store).
    return send(
      reply,
      securityInfoPage(page, {
        ...o,
        fresh,
        ...extra,
        appPasswords,
        // The new-recovery-codes form's one-time nonce: posting it twice makes one set and one mail.
        rcNonce: randomBytes(18).toString('base64url'),
      }),
      status,
    );
  }

  app.get<{ Querystring: { m?: string } }>(
    '/security-info',
    { ...PAGE_ROUTE, preHandler: signedIn },
    async (req, reply) => {
      const m = req.query.m;
      const notices: Record<string, MessageId> = {
        added: 'mfa.added',
        removed: 'si.removed',
        default: 'si.default_set',
        ap_deleted: 'ap.deleted',
        ap_deleted_all: 'ap.deleted_all',
        ap_renamed: 'ap.renamed',
        ap_where: 'ap.where.changed',
      };
      const notice =
        m === 'confirmed'
          ? req.t('si.confirmed', { minutes: Math.round(ctx.recentAuth.windowMs / 60_000) })
          : m && notices[m]
            ? req.t(notices[m])
            : undefined;
      return securityInfo(req, reply, { notice });
    },
  );

  const siAction = (name: string, act: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    app.post(
      `/security-info/${name}`,
      { ...PAGE_ROUTE, preHandler: [app.csrfProtection, signedIn] },
      async (req, reply) => {
        try {
          return await act(req, reply);
        } catch (e) {
          if (!isSesameError(e)) throw e;
          return securityInfo(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
        }
      },
    );

  siAction('add', async (req, reply) => {
    const { flowToken } = await ctx.flows.startAddMethod(req.user!, req.session!, meta(req));
    reply.setCookie(web.cookies.securityInfoFlow, flowToken, cookieOpts);
    return reply.redirect(FLOW_PAGE, 303);
  });
  // "Confirm it is me" (here and on other pages, with `next`): a step-up flow for a user with a
  // method, the password page for a user without one.
  siAction('confirm', async (req, reply) => {
    const next = safeNext(field(req.body, 'next', 500), '/security-info');
    if ((await ctx.recentAuth.proofFor(req.user!)) === 'password')
      return reply.redirect(`${REAUTH_PAGE}?${new URLSearchParams({ next })}`, 303);
    const { flowToken } = await ctx.flows.startStepUp(req.user!, meta(req), next);
    reply.setCookie(web.cookies.securityInfoFlow, flowToken, cookieOpts);
    return reply.redirect(FLOW_PAGE, 303);
  });
  siAction('delete', async (req, reply) => {
    const methodId = field(req.body, 'method', 64);
    if (!confirmed(req.body)) {
      const r = await ctx.securityInfo.removalOf(req.user!, req.session!, methodId);
      const pc = pageContext(req, reply, '/security-info');
      const effects = [
        req.t('si.confirm_delete.method', { method: methodName(pc, r.method) }),
        req.t(r.last ? 'si.confirm_delete.last' : 'si.confirm_delete.signins'),
        ...(r.isDefault && !r.last ? [req.t('si.confirm_delete.default')] : []),
      ];
      return send(
        reply,
        confirmationPage(pc, {
          title: req.t('si.confirm_delete.title'),
          effects,
          action: '/security-info/delete',
          fields: { method: methodId },
          button: req.t('si.delete'),
          back: '/security-info',
        }),
      );
    }
    await ctx.securityInfo.removeMethod(req.user!, req.session!, methodId, req.locale);
    return reply.redirect('/security-info?m=removed', 303);
  });
  siAction('default', async (req, reply) => {
    await ctx.securityInfo.setDefault(req.user!, req.session!, field(req.body, 'method', 64));
    return reply.redirect('/security-info?m=default', 303);
  });
  // What it may be used for: the ticked boxes (the one protocol allowed comes as a hidden field), so
  // nothing ticked is an empty list, which the domain refuses.
  siAction('app-passwords', async (req, reply) => {
    const made = await ctx.appPasswords.createOnce(
      req.user!,
      req.session!,
      field(req.body, 'name', 300),
      { ip: req.ip, locale: req.locale },
      field(req.body, 'nonce', 64),
      fieldList(req.body, 'protocols', 20).slice(0, 20),
      pinFields(req.body),
    );
    const id = made.appPassword.id;
    if ('password' in made) shown.keep(reply, req.session!, `app-password:${id}`, made.password);
    return reply.redirect(`/security-info/app-passwords/new/${encodeURIComponent(id)}`, 303);
  });
  app.get<{ Params: { id: string } }>(
    '/security-info/app-passwords/new/:id',
    { ...PAGE_ROUTE, preHandler: signedIn },
    async (req, reply) => {
      const id = req.params.id.slice(0, 64);
      const password = shown.take(req, reply, req.session!, `app-password:${id}`);
      const ap = (await ctx.appPasswords.list(req.user!)).find((p) => p.id === id);
      if (!ap) return reply.redirect('/security-info#app-passwords', 303);
      if (typeof password === 'string') {
        // The only moment Sesame knows the secret: the profile link is made now or never (#18, item 2).
        const profile = await mintProfileOffer(ctx, req.user!, req.session!.id, { id, password });
        return securityInfo(req, reply, { created: { name: ap.name, password, profile } });
      }
      return securityInfo(req, reply, { notice: req.t('ap.shown_once', { name: ap.name }) });
    },
  );
  /** The confirmation of deleting app passwords: each one that goes, with its last use. */
  const apConfirmation = (
    req: FastifyRequest,
    reply: FastifyReply,
    list: Awaited<ReturnType<Services['appPasswords']['list']>>,
    one: boolean,
    fields: Record<string, string>,
  ) => {
    const pc = pageContext(req, reply, '/security-info');
    return send(
      reply,
      confirmationPage(pc, {
        title: one ? req.t('ap.confirm.title', { name: list[0]!.name }) : req.t('ap.confirm.all.title'),
        effects: [
          ...list.map((p) => req.t('ap.confirm.item', { name: p.name, used: appPasswordUseText(pc, p) })),
          req.t(one ? 'ap.confirm.apps' : 'ap.confirm.all.apps'),
        ],
        action: one ? '/security-info/app-passwords/delete' : '/security-info/app-passwords/delete-all',
        fields,
        button: req.t(one ? 'ap.delete' : 'ap.delete_all'),
        back: '/security-info#app-passwords',
      }),
    );
  };
  siAction('app-passwords/delete', async (req, reply) => {
    const id = field(req.body, 'id', 64);
    if (!confirmed(req.body)) {
      const ap = (await ctx.appPasswords.list(req.user!)).find((p) => p.id === id);
      if (!ap) throw new SesameError('app_password_not_found', 'no such app password of this user');
      return apConfirmation(req, reply, [ap], true, { id });
    }
    await ctx.appPasswords.remove(req.user!, id);
    return reply.redirect('/security-info?m=ap_deleted#app-passwords', 303);
  });
  app.get<{ Params: { id: string } }>(
    '/security-info/app-passwords/rename/:id',
    { ...PAGE_ROUTE, preHandler: signedIn },
    async (req, reply) => {
      const ap = (await ctx.appPasswords.list(req.user!)).find((p) => p.id === req.params.id.slice(0, 64));
      if (!ap) return reply.redirect('/security-info#app-passwords', 303);
      return send(reply, appPasswordRenamePage(pageContext(req, reply), { appPassword: ap }));
    },
  );
  siAction('app-passwords/rename', async (req, reply) => {
    const id = field(req.body, 'id', 64);
    const name = field(req.body, 'name', 300);
    try {
      await ctx.appPasswords.rename(req.user!, id, name);
    } catch (e) {
      if (!isSesameError(e) || e.code !== 'invalid_name') throw e;
      const ap = (await ctx.appPasswords.list(req.user!)).find((p) => p.id === id);
      if (!ap) throw e;
      return send(
        reply,
        appPasswordRenamePage(
          pageContext(req, reply, `/security-info/app-passwords/rename/${encodeURIComponent(id)}`),
          {
            appPassword: ap,
            value: name,
            error: userMessage(req, e),
          },
        ),
        HTTP_STATUS[e.code],
      );
    }
    return reply.redirect('/security-info?m=ap_renamed#app-passwords', 303);
  });
  app.get<{ Params: { id: string } }>(
    '/security-info/app-passwords/where/:id',
    { ...PAGE_ROUTE, preHandler: signedIn },
    async (req, reply) => {
      const ap = (await ctx.appPasswords.list(req.user!)).find((p) => p.id === req.params.id.slice(0, 64));
      if (!ap) return reply.redirect('/security-info#app-passwords', 303);
      const places = await ctx.locations.choicesFor(req.user!.orgId);
      return send(reply, appPasswordWherePage(pageContext(req, reply), { appPassword: ap, places }));
    },
  );
  // Narrowing needs nothing more; widening needs a recent proof (the domain asks for it), which a
  // stale session is sent to give first, as for any other change that opens the account further.
  siAction('app-passwords/where', async (req, reply) => {
    const id = field(req.body, 'id', 64);
    const pin = pinFields(req.body);
    try {
      await ctx.appPasswords.setPin(req.user!, req.session!, id, pin);
    } catch (e) {
      if (!isSesameError(e) || !['location_network_invalid', 'location_not_found'].includes(e.code)) throw e;
      const ap = (await ctx.appPasswords.list(req.user!)).find((p) => p.id === id);
      if (!ap) throw e;
      return send(
        reply,
        appPasswordWherePage(pageContext(req, reply, `/security-info/app-passwords/where/${encodeURIComponent(id)}`), {
          appPassword: { ...ap, pin: { locationIds: [...pin.locationIds], network: null } },
          places: await ctx.locations.choicesFor(req.user!.orgId),
          networkValue: pin.network ?? '',
          error: userMessage(req, e),
        }),
        HTTP_STATUS[e.code],
      );
    }
    return reply.redirect('/security-info?m=ap_where#app-passwords', 303);
  });
  siAction('app-passwords/delete-all', async (req, reply) => {
    if (!confirmed(req.body)) {
      const list = await ctx.appPasswords.list(req.user!);
      if (list.length) return apConfirmation(req, reply, list, false, {});
    }
    await ctx.appPasswords.removeAll(req.user!);
    return reply.redirect('/security-info?m=ap_deleted_all#app-passwords', 303);
  });
  siAction('recovery-codes', async (req, reply) => {
    const codes = await ctx.securityInfo.renewRecoveryCodes(
      req.user!,
      req.session!,
      req.locale,
      field(req.body, 'nonce', 64),
    );
    // A repeat of the same form made nothing: the page shows the first one's codes, if they wait there.
    if (codes) shown.keep(reply, req.session!, 'recovery-codes', codes);
    return reply.redirect('/security-info/recovery-codes/new', 303);
  });
  app.get('/security-info/recovery-codes/new', { ...PAGE_ROUTE, preHandler: signedIn }, async (req, reply) => {
    const codes = shown.take(req, reply, req.session!, 'recovery-codes');
    if (Array.isArray(codes) && codes.every((c) => typeof c === 'string'))
      return securityInfo(req, reply, { newCodes: codes as string[] });
    return securityInfo(req, reply, { notice: req.t('si.rc.gone') });
  });

  // ---- "Confirm your password" (recent authentication without a method) ----
  const reauth = (req: FastifyRequest, reply: FastifyReply, next: string, error?: string, status = 200) =>
    send(
      reply,
      reauthPage(pageContext(req, reply, `${REAUTH_PAGE}?${new URLSearchParams({ next })}`), {
        address: req.user!.address,
        next,
        error,
      }),
      status,
    );

  app.get<{ Querystring: { next?: string } }>(
    REAUTH_PAGE,
    { ...PAGE_ROUTE, preHandler: signedIn },
    async (req, reply) => {
      const next = safeNext(req.query.next, '/security-info');
      // A user with a method confirms with it (a step-up), never with the password alone.
      if ((await ctx.recentAuth.proofFor(req.user!)) === 'second_factor') return reply.redirect('/security-info', 303);
      return reauth(req, reply, next);
    },
  );

  app.post(REAUTH_PAGE, { ...PAGE_ROUTE, preHandler: [app.csrfProtection, signedIn] }, async (req, reply) => {
    const next = safeNext(field(req.body, 'next', 500), '/security-info');
    try {
      const { token } = await ctx.selfService.confirmPassword(
        req.user!,
        req.session!,
        field(req.body, 'password', 1024),
        meta(req),
      );
      // The session goes on under a new token: a stolen copy of the old one does not share the proof.
      reply.setCookie(web.cookies.session, token, cookieOpts);
      return reply.redirect(next === '/security-info' ? '/security-info?m=confirmed' : next, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      if (e.code === 'fresh_mfa_required') return reply.redirect('/security-info', 303);
      if (e.retryAfterSeconds) reply.header('retry-after', String(e.retryAfterSeconds));
      return reauth(req, reply, next, userMessage(req, e), HTTP_STATUS[e.code]);
    }
  });

  app.get('/help/app-passwords', PAGE_ROUTE, async (req, reply) =>
    send(reply, helpAppPasswordsPage(pageContext(req, reply))),
  );
}
