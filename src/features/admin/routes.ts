/**
 * The admin console's pages: Users (add, disable and enable, MFA state, re-registration, end
 * sessions, reset link, a user's app passwords), Policy and the Sign-in log; the dashboard, a
 * user's page and bulk changes are in their own files. Every route needs an admin of their
 * organization whose session proved a second factor (a preHandler); every POST also a CSRF token,
 * checked first. An action on one user answers with the Users page, or with the user's page when
 * its form came from there (`back`, user-routes.ts).
 *
 * Turning a user's MFA off, "Require re-registration" and "Delete all existing app passwords" ask
 * first: the POST answers with a confirmation page that says what stops working (the app
 * passwords, the methods), and only the same POST with `confirm=1` acts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../../domain/accounts/actor.js';
import { filterParams, type RawSignInFilter } from '../../domain/audit/reports.js';
import { isSesameError, type SesameError } from '../../domain/errors.js';
import { isMfaState } from '../../domain/mfa/model.js';
import type { WebSettings } from '../../web/cookies.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { appPasswordUseText, confirmationPage, confirmed, methodName } from '../../web/components.js';
import { field, fieldList } from '../../web/forms.js';
import { actorOf, requireAdmin } from '../../web/guards.js';
import { html, type Html } from '../../web/html.js';
import type { PageContext } from '../../web/layout.js';
import { setPasswordUrl } from '../../web/links.js';
import { oneTimeDisplay } from '../../web/one-time.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import { withCountries } from '../../web/countries.js';
import type { Services } from '../../web/services.js';
import { signInFilterForm } from './dashboard-pages.js';
import { localToInstant } from '../../domain/time-zone.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { registerIntegrationsPage } from './integrations-page.js';
import { registerMailSettingsRoutes } from './mail-settings-routes.js';
import { registerGroupsRoutes } from './groups-routes.js';
import { groupLimitsForm } from './groups-pages.js';
import { lockedIpsSection, registerLockRoutes } from './lock-routes.js';
import { registerLocationsRoutes } from './locations-routes.js';
import { policyPage, signInsPage } from './pages.js';
import { registerUserBulkRoutes } from './user-bulk-routes.js';
import { userPagePath } from './user-page.js';
import { backFrom, registerUserPage, showUserPage, withNotice } from './user-routes.js';
import { showUsers, type UsersPageExtra } from './users-list.js';

export function registerAdminRoutes(app: FastifyInstance, ctx: Services, web: WebSettings) {
  const guard = requireAdmin(web);
  const admin = { ...PAGE_ROUTE, preHandler: guard };
  const adminForm = { ...PAGE_ROUTE, preHandler: [app.csrfProtection, guard] };
  const shown = oneTimeDisplay(ctx.secrets, web, ctx.clock);

  const PAGE = 50;
  app.get<{ Querystring: { m?: string; who?: string; state?: string; to?: string } }>(
    '/admin/users',
    admin,
    async (req, reply) => {
      const who = String(req.query.who ?? '').slice(0, 254);
      const state = isMfaState(req.query.state) ? req.t(`mfa.state.${req.query.state}`) : '';
      const notices: Record<string, string> = {
        disabled: req.t('users.disabled', { address: who }),
        enabled: req.t('users.enabled', { address: who }),
        mfa: req.t('users.mfa.changed', { address: who, state }),
        reregistered: req.t('users.reregistered', { address: who }),
        sessions: req.t('users.sessions.ended', { address: who }),
        unlocked: req.t('locks.user_lifted', { address: who }),
        reset: req.t('users.reset_sent', { address: who, to: String(req.query.to ?? '').slice(0, 254) }),
      };
      if (req.query.m === 'added') {
        // The new user's set-password link, kept sealed by the POST that made it: shown once.
        const link = shown.take(req, reply, req.session!, `set-password-link:${who}`) as UsersPageExtra['link'];
        if (link?.url) return showUsers(ctx, req, reply, { link });
        return showUsers(ctx, req, reply, { notice: req.t('users.added_shown', { address: who }) });
      }
      return showUsers(ctx, req, reply, { notice: notices[req.query.m ?? ''] });
    },
  );

  /**
   * After an action on one user: the page its form came from (`back`: the user's page) with the
   * notice, else the Users page; a refusal is shown on that same page.
   */
  const done = (req: FastifyRequest, reply: FastifyReply, q: Record<string, string>) => {
    const back = backFrom(req.body);
    return reply.redirect(back ? withNotice(back, q) : `/admin/users?${new URLSearchParams(q)}`, 303);
  };
  const refused = (req: FastifyRequest, reply: FastifyReply, address: string, e: SesameError) => {
    const error = userMessage(req, e);
    return backFrom(req.body)
      ? showUserPage(ctx, req, reply, address, { error }, HTTP_STATUS[e.code])
      : showUsers(ctx, req, reply, { error }, HTTP_STATUS[e.code]);
  };
  /** A confirmation page's way back (Cancel) and the field that keeps it for the confirmed POST. */
  const confirmBack = (req: FastifyRequest, fallback = '/admin/users') => {
    const back = backFrom(req.body);
    const fields: Record<string, string> = back ? { back } : {};
    return { back: back ?? fallback, fields };
  };

  /**
   * An admin action on one user, answered post/redirect/get with a notice. `ask`, for a destructive
   * action: without `confirm=1` it may give a confirmation page, which is the answer (nothing changes).
   * It returns the page, not a sent reply: a reply is thenable, and awaiting it yields nothing.
   */
  const userAction = (
    path: string,
    act: (actor: Actor, address: string, body: unknown, req: FastifyRequest) => Promise<Record<string, string>>,
    ask?: (req: FastifyRequest, reply: FastifyReply, actor: Actor, address: string) => Promise<Html | undefined>,
  ) =>
    app.post(`/admin/users/${path}`, adminForm, async (req, reply) => {
      const address = field(req.body, 'address', 300);
      try {
        if (ask && !confirmed(req.body)) {
          const page = await ask(req, reply, actorOf(req), address);
          if (page) return send(reply, page);
        }
        return done(req, reply, await act(actorOf(req), address, req.body, req));
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return refused(req, reply, address, e);
      }
    });
  userAction(
    'mfa',
    async (actor, address, body, req) => {
      const u = await ctx.mfaAdmin.setUserState(actor, address, field(body, 'state', 20), req.locale);
      return { m: 'mfa', who: u.address, state: u.mfaState };
    },
    // Turning MFA off asks first: the app passwords that go with it, and that the user is told.
    async (req, reply, actor, address) => {
      if (field(req.body, 'state', 20) !== 'disabled') return undefined;
      const { user, appPasswords } = await ctx.appPasswords.listFor(actor, address);
      if (user.mfaState === 'disabled') return undefined;
      const { back, fields } = confirmBack(req);
      const pc = pageContext(req, reply, back);
      const who = { address: user.address };
      return confirmationPage(pc, {
        title: req.t('users.mfa_off.confirm.title', who),
        effects: [
          req.t('users.mfa_off.confirm.password', who),
          appPasswords.length
            ? req.t('users.mfa_off.confirm.ap', { count: appPasswords.length })
            : req.t('ap.admin.none', who),
          ...appPasswords.map((p) =>
            req.t('users.mfa_off.confirm.ap_item', { name: p.name, used: appPasswordUseText(pc, p) }),
          ),
          req.t('users.mfa_off.confirm.mail', who),
        ],
        action: '/admin/users/mfa',
        fields: { address: user.address, state: 'disabled', ...fields },
        button: req.t('users.mfa_off.confirm.button'),
        back,
      });
    },
  );
  userAction(
    'reregister',
    async (actor, address) => ({
      m: 'reregistered',
      who: (await ctx.mfaAdmin.requireReRegistration(actor, address)).address,
    }),
    async (req, reply, actor, address) => {
      const r = await ctx.mfaAdmin.reRegistrationOf(actor, address);
      const { back, fields } = confirmBack(req);
      const pc = pageContext(req, reply, back);
      const who = { address: r.user.address };
      return confirmationPage(pc, {
        title: req.t('users.reregister.confirm.title', who),
        effects: [
          ...(r.methods.length
            ? r.methods.map((m) => req.t('users.reregister.confirm.method', { method: methodName(pc, m) }))
            : [req.t('users.reregister.confirm.none', who)]),
          req.t('users.reregister.confirm.codes', { count: r.recoveryCodesLeft }),
          req.t('users.reregister.confirm.sessions'),
        ],
        action: '/admin/users/reregister',
        fields: { address: r.user.address, ...fields },
        button: req.t('users.reregister'),
        back,
      });
    },
  );
  userAction('lift-locks', async (actor, address) => {
    await ctx.locks.liftForUser(actor, address);
    return { m: 'unlocked', who: address.trim().toLowerCase() };
  });
  userAction('end-sessions', async (actor, address) => {
    await ctx.mfaAdmin.endSessions(actor, address);
    return { m: 'sessions', who: address.trim().toLowerCase() };
  });
  // The link goes to the user's verified alternate email, worded in the admin's language.
  userAction('reset-link', async (actor, address, _body, req) => {
    const r = await ctx.passwordReset.sendByAdmin(actor, address, req.locale);
    return { m: 'reset', who: r.user.address, to: r.sentTo };
  });

  app.post('/admin/users/app-passwords/revoke-all', adminForm, async (req, reply) => {
    const address = field(req.body, 'address', 300);
    try {
      if (!confirmed(req.body)) {
        const { user, appPasswords } = await ctx.appPasswords.listFor(actorOf(req), address);
        const { back, fields } = confirmBack(req, userPagePath(user.address));
        const pc = pageContext(req, reply, back);
        const who = { address: user.address };
        return send(
          reply,
          confirmationPage(pc, {
            title: req.t('ap.admin.confirm.title', who),
            effects: appPasswords.length
              ? [
                  ...appPasswords.map((p) =>
                    req.t('ap.confirm.item', { name: p.name, used: appPasswordUseText(pc, p) }),
                  ),
                  req.t('ap.admin.confirm.apps', who),
                ]
              : [req.t('ap.admin.none', who)],
            action: '/admin/users/app-passwords/revoke-all',
            fields: { address: user.address, ...fields },
            button: req.t('ap.admin.revoke_all'),
            back,
          }),
        );
      }
      const n = await ctx.appPasswords.revokeAllFor(actorOf(req), address);
      // The app passwords are listed on the user's page only: it is where this comes back to.
      const back = backFrom(req.body) ?? userPagePath(address.trim().toLowerCase());
      return reply.redirect(withNotice(back, { m: 'revoked', n: String(n) }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, address, e);
    }
  });

  /** Which group each use requires, a form of its own on the Policy page (features/admin/groups-routes.ts saves it). */
  const limitsForm = async (req: FastifyRequest, pc: PageContext) => {
    const actor = actorOf(req);
    const [groups, limits] = await Promise.all([
      ctx.groups.list(actor, req.user!.orgId),
      ctx.groups.limits(actor, req.user!.orgId),
    ]);
    return groupLimitsForm(pc, groups, limits, '/admin/policy');
  };

  app.get<{ Querystring: { m?: string } }>('/admin/policy', admin, async (req, reply) => {
    const policy = await ctx.mfaAdmin.getPolicy(actorOf(req), req.user!.orgId);
    const pc = pageContext(req, reply);
    return send(
      reply,
      policyPage(pc, {
        policy,
        defaultPhoneCountries: ctx.config.phoneCountries,
        groupLimits: await limitsForm(req, pc),
        notice: req.query.m === 'saved' ? req.t('policy.saved') : undefined,
      }),
    );
  });

  app.post('/admin/policy', adminForm, async (req, reply) => {
    const actor = actorOf(req);
    const days = field(req.body, 'rememberDays', 10);
    try {
      const optionalDays = (name: string) => {
        const v = field(req.body, name, 10).trim();
        return v === '' ? null : /^\d{1,4}$/.test(v) ? Number(v) : Number.NaN;
      };
      const cap = field(req.body, 'apCap', 10);
      // Absent (an older form): unchanged; empty: the default.
      const optionalText = (name: string, max: number) =>
        typeof (req.body as Record<string, unknown> | undefined)?.[name] === 'string'
          ? field(req.body, name, max)
          : undefined;
      await ctx.mfaAdmin.setPolicy(actor, req.user!.orgId, {
        mfaDefault: field(req.body, 'mfaDefault', 20),
        allowedMethods: fieldList(req.body, 'methods', 20),
        rememberDays: /^\d{1,3}$/.test(days) ? Number(days) : Number.NaN,
        legacyMainPassword: field(req.body, 'legacyMainNever', 2) === '1' ? 'never' : 'until_enforced',
        // Absent (an older form): unchanged; empty: the deployment's default list.
        phoneCountries:
          typeof (req.body as Record<string, unknown> | undefined)?.phoneCountries === 'string'
            ? field(req.body, 'phoneCountries', 2000)
            : undefined,
        timeZone: optionalText('timeZone', 64),
        defaultCountry: optionalText('defaultCountry', 10),
        appPasswords: {
          allowed: field(req.body, 'apAllowed', 2) === '1',
          keepExistingWhenOff: field(req.body, 'apKeep', 2) === '1',
          cap: /^\d{1,3}$/.test(cap) ? Number(cap) : Number.NaN,
          protocols: fieldList(req.body, 'apProtocols', 20),
          maxLifetimeDays: optionalDays('apMaxDays'),
          revokeUnusedDays: optionalDays('apUnusedDays'),
          revokeOnPasswordChange: field(req.body, 'apRevokeOnChange', 2) === '1',
          notifyAdminsNewCountry: field(req.body, 'apNotifyNewCountry', 2) === '1',
        },
      });
      return reply.redirect('/admin/policy?m=saved', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      const policy = await ctx.mfaAdmin.getPolicy(actor, req.user!.orgId);
      const pc = pageContext(req, reply, '/admin/policy');
      return send(
        reply,
        policyPage(pc, {
          policy,
          defaultPhoneCountries: ctx.config.phoneCountries,
          groupLimits: await limitsForm(req, pc),
          error: userMessage(req, e),
        }),
        HTTP_STATUS[e.code],
      );
    }
  });

  app.post('/admin/users', adminForm, async (req, reply) => {
    const actor = actorOf(req);
    try {
      const name = field(req.body, 'name', 300).trim();
      const user = await ctx.accounts.addUser(actor, {
        address: field(req.body, 'address', 300),
        name: name || undefined,
        role: field(req.body, 'admin', 2) === '1' ? 'admin' : 'user',
      });
      const link = await ctx.accounts.issueSetPasswordToken(actor, user.address);
      // Post/redirect/get: the link (a secret) is shown once by the page the POST redirects to, so
      // a reload asks nothing again and the link is never in the URL (web/one-time.ts).
      shown.keep(reply, req.session!, `set-password-link:${user.address}`, {
        address: user.address,
        url: setPasswordUrl(ctx.config.publicUrl, link.token),
        expires: pageContext(req, reply).time.at(link.expiresAt),
      });
      return reply.redirect(`/admin/users?${new URLSearchParams({ m: 'added', who: user.address })}`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showUsers(ctx, req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  for (const action of ['disable', 'enable'] as const) {
    app.post(`/admin/users/${action}`, adminForm, async (req, reply) => {
      const actor = actorOf(req);
      const address = field(req.body, 'address', 300);
      try {
        const user =
          action === 'disable'
            ? await ctx.accounts.disableUser(actor, address)
            : await ctx.accounts.enableUser(actor, address);
        // Post/redirect/get: a reload does not repeat the action, and the address bar shows a real page.
        return done(req, reply, { m: `${action}d`, who: user.address });
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return refused(req, reply, address, e);
      }
    });
  }

  app.get<{ Querystring: RawSignInFilter & { offset?: string; m?: string; ip?: string } }>(
    '/admin/sign-ins',
    admin,
    async (req, reply) => {
      const liftedIp = String(req.query.ip ?? '').slice(0, 64);
      const lockNotice =
        req.query.m === 'ip_lifted'
          ? { notice: req.t('locks.ip_lifted', { ip: liftedIp }) }
          : req.query.m === 'ip_not_lifted'
            ? { error: req.t('error.ip_lock_not_found') }
            : {};
      const pc = await withCountries(pageContext(req, reply), ctx.geoip);
      const lockedIps = lockedIpsSection(pc, await ctx.locks.lockedIps(actorOf(req), req.user!.orgId));
      const offset = Math.max(0, Number.parseInt(String(req.query.offset ?? '0'), 10) || 0);
      let page: Awaited<ReturnType<Services['reports']['listSignIns']>>;
      try {
        // The form's times are typed in the organization's zone, as the page shows them.
        const zone = pc.time.timeZone;
        const raw = {
          ...req.query,
          from: localToInstant(req.query.from, zone),
          to: localToInstant(req.query.to, zone),
        };
        page = await ctx.reports.listSignIns(actorOf(req), req.user!.orgId, raw as RawSignInFilter, PAGE, offset);
      } catch (e) {
        // A bad filter: the error, an empty form, and no rows (nothing is read).
        if (!isSesameError(e) || e.code !== 'invalid_filter') throw e;
        return send(
          reply,
          signInsPage(pc, {
            events: [],
            total: 0,
            offset: 0,
            limit: PAGE,
            filters: signInFilterForm(pc, {}),
            error: userMessage(req, e),
          }),
          HTTP_STATUS[e.code],
        );
      }
      const { events, total, filter } = page;
      return send(
        reply,
        signInsPage(pc, {
          events,
          total,
          offset,
          limit: PAGE,
          filters: html`${lockedIps}${signInFilterForm(pc, filter)}`,
          params: filterParams(filter),
          ...lockNotice,
        }),
      );
    },
  );
  registerDashboardRoutes(app, ctx, admin);
  registerIntegrationsPage(app, ctx, admin);
  registerMailSettingsRoutes(app, ctx, admin, adminForm);
  registerGroupsRoutes(app, ctx, admin, adminForm);
  registerLocationsRoutes(app, ctx, admin, adminForm);
  registerLockRoutes(app, ctx, adminForm);
  registerUserBulkRoutes(app, ctx, adminForm);
  registerUserPage(app, ctx, { admin, adminForm }, shown);
}
