/**
 * The admin's page of one user (GET /admin/users/user?address=...) and its "Send set-password
 * link"; the actions on the page are the Users console's own routes (routes.ts), which come back
 * here when their form says so (`back`). Every route needs an admin of the user's organization whose
 * session proved a second factor; a user of another organization, or no user at all, gets the same
 * refusal as every other admin action (AccountService.userForAdmin): nothing tells them apart.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { isSesameError } from '../../domain/errors.js';
import { isMfaState } from '../../domain/mfa/model.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { field, pinFields } from '../../web/forms.js';
import { actorOf } from '../../web/guards.js';
import { safeNext, setPasswordUrl } from '../../web/links.js';
import type { OneTimeDisplay } from '../../web/one-time.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import { withCountries } from '../../web/countries.js';
import type { Services } from '../../web/services.js';
import { appPasswordWherePage, appPasswordWherePath, type MadeLink, userPage, userPagePath } from './user-page.js';
import { showUsers } from './users-list.js';

/** How many of the user's sign-ins the page lists; "All sign-ins" opens the log filtered to them. */
const RECENT_SIGN_INS = 10;

/** What keeps a set-password link made on the page for the GET that shows it once (web/one-time.ts). */
const linkKey = (address: string) => `user-set-password-link:${address}`;

/**
 * Where an action's form asked to come back to: a page under /admin/users/ on this site, or
 * undefined (then the Users page). Anything else, another site included, is ignored.
 */
export function backFrom(body: unknown): string | undefined {
  const raw = (body as Record<string, unknown> | undefined)?.back;
  if (typeof raw !== 'string') return undefined;
  const path = safeNext(raw, '');
  return path.startsWith('/admin/users/') ? path : undefined;
}

/** `back` with the notice's parameters set (replacing any it had). */
export function withNotice(back: string, q: Record<string, string>): string {
  const u = new URL(back, 'http://sesame.invalid');
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  return u.pathname + u.search;
}

export interface UserPageExtra {
  notice?: string;
  error?: string;
  link?: MadeLink;
}

/**
 * The user's page, or, when the admin may not see that user (or there is none), the Users page
 * with the same refusal every admin action gives.
 */
export async function showUserPage(
  ctx: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  address: string,
  extra: UserPageExtra = {},
  status = 200,
) {
  const actor = actorOf(req);
  try {
    const r = await ctx.mfaAdmin.reRegistrationOf(actor, address);
    const at = r.user.address;
    const [{ appPasswords }, sessions, locks, signIns, groups, places] = await Promise.all([
      ctx.appPasswords.listFor(actor, at),
      ctx.mfaAdmin.sessionsOf(actor, at),
      ctx.locks.ofUser(actor, at),
      ctx.reports.listSignIns(actor, r.user.orgId, { user: at }, RECENT_SIGN_INS, 0),
      ctx.groups.groupsOf(actor, r.user),
      ctx.locations.choicesFor(r.user.orgId),
    ]);
    return send(
      reply,
      userPage(await withCountries(pageContext(req, reply, userPagePath(at)), ctx.geoip), {
        user: r.user,
        methods: r.methods,
        recoveryCodesLeft: r.recoveryCodesLeft,
        appPasswords,
        places,
        sessions,
        signIns: signIns.events,
        locks,
        groups,
        canMail: ctx.passwordReset.canMail(),
        ...extra,
      }),
      status,
    );
  } catch (e) {
    if (!isSesameError(e)) throw e;
    return showUsers(ctx, req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
  }
}

export function registerUserPage(
  app: FastifyInstance,
  ctx: Services,
  routes: { admin: RouteShorthandOptions; adminForm: RouteShorthandOptions },
  shown: OneTimeDisplay,
) {
  app.get<{ Querystring: { address?: string; m?: string; n?: string; state?: string; to?: string } }>(
    '/admin/users/user',
    routes.admin,
    async (req, reply) => {
      const address = String(req.query.address ?? '').slice(0, 254);
      const who = { address: address.trim().toLowerCase() };
      const q = req.query;
      if (q.m === 'link') {
        const link = shown.take(req, reply, req.session!, linkKey(who.address)) as MadeLink | undefined;
        if (link?.url) return showUserPage(ctx, req, reply, address, { link });
        return showUserPage(ctx, req, reply, address, { notice: req.t('users.page.link.shown') });
      }
      const notices: Record<string, () => string> = {
        disabled: () => req.t('users.disabled', who),
        enabled: () => req.t('users.enabled', who),
        mfa: () =>
          req.t('users.mfa.changed', { ...who, state: isMfaState(q.state) ? req.t(`mfa.state.${q.state}`) : '' }),
        reregistered: () => req.t('users.reregistered', who),
        sessions: () => req.t('users.sessions.ended', who),
        unlocked: () => req.t('locks.user_lifted', who),
        reset: () => req.t('users.reset_sent', { ...who, to: String(q.to ?? '').slice(0, 254) }),
        revoked: () => req.t('ap.admin.revoked', { ...who, count: Number(q.n ?? 0) || 0 }),
        pinned: () => req.t('ap.admin.where.changed', { ...who, name: String(q.n ?? '').slice(0, 100) }),
      };
      const notice = Object.hasOwn(notices, q.m ?? '') ? notices[q.m!]!() : undefined;
      return showUserPage(ctx, req, reply, address, { notice });
    },
  );

  // The page that listed a user's app passwords is now a section of the user's page.
  app.get<{ Querystring: { address?: string } }>('/admin/users/app-passwords', routes.admin, async (req, reply) =>
    reply.redirect(userPagePath(String(req.query.address ?? '').slice(0, 254)), 303),
  );

  app.post('/admin/users/set-password-link', routes.adminForm, async (req, reply) => {
    const actor = actorOf(req);
    const address = field(req.body, 'address', 300);
    try {
      const user = await ctx.accounts.userForAdmin(actor, address);
      // Disabling revokes a user's links and a disabled user's link is refused: one made now would
      // not work, so the page says what to do instead.
      if (user.status === 'disabled')
        return showUserPage(
          ctx,
          req,
          reply,
          user.address,
          { error: req.t('users.page.link.disabled', { address: user.address }) },
          409,
        );
      const made = await ctx.passwordReset.setPasswordLink(actor, user.address, {
        mail: field(req.body, 'mail', 2) === '1' && ctx.passwordReset.canMail(),
        locale: req.locale,
      });
      // Post/redirect/get: the link (a secret) is shown once by the page the POST redirects to, and
      // is never in a URL (web/one-time.ts).
      shown.keep(reply, req.session!, linkKey(user.address), {
        url: setPasswordUrl(ctx.config.publicUrl, made.token),
        expires: pageContext(req, reply).time.at(made.expiresAt),
        mailed: made.mailed,
      } satisfies MadeLink);
      return reply.redirect(withNotice(userPagePath(user.address), { m: 'link' }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showUsers(ctx, req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  /** The "Where from" page of one app password; its POST below. A user or app password not to be had: the user's page (or the Users page) says so. */
  const showWhere = async (
    req: FastifyRequest,
    reply: FastifyReply,
    address: string,
    id: string,
    extra: { pin?: { locationIds: string[]; network: string | null }; error?: string } = {},
    status = 200,
  ) => {
    const actor = actorOf(req);
    try {
      const { user, appPasswords } = await ctx.appPasswords.listFor(actor, address);
      const ap = appPasswords.find((p) => p.id === id);
      if (!ap)
        return showUserPage(ctx, req, reply, user.address, { error: req.t('error.app_password_not_found') }, 404);
      const shown = extra.pin ? { ...ap, pin: { locationIds: extra.pin.locationIds, network: null } } : ap;
      return send(
        reply,
        appPasswordWherePage(pageContext(req, reply, appPasswordWherePath(user.address, id)), {
          user,
          appPassword: shown,
          places: await ctx.locations.choicesFor(user.orgId),
          ...(extra.pin ? { networkValue: extra.pin.network ?? '' } : {}),
          ...(extra.error ? { error: extra.error } : {}),
        }),
        status,
      );
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showUsers(ctx, req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  };

  app.get<{ Querystring: { address?: string; id?: string } }>(
    '/admin/users/app-passwords/where',
    routes.admin,
    async (req, reply) =>
      showWhere(req, reply, String(req.query.address ?? '').slice(0, 254), String(req.query.id ?? '').slice(0, 64)),
  );

  // An admin narrows or widens a pin without a proof of the user's: the admin's own session proved
  // a second factor (the guard), and the change is audited as theirs.
  app.post('/admin/users/app-passwords/where', routes.adminForm, async (req, reply) => {
    const address = field(req.body, 'address', 300);
    const id = field(req.body, 'id', 64);
    const pin = pinFields(req.body);
    try {
      const ap = await ctx.appPasswords.setPinFor(actorOf(req), address, id, pin);
      return reply.redirect(withNotice(userPagePath(address.trim().toLowerCase()), { m: 'pinned', n: ap.name }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      if (e.code === 'location_network_invalid' || e.code === 'location_not_found')
        return showWhere(req, reply, address, id, { pin, error: userMessage(req, e) }, HTTP_STATUS[e.code]);
      if (e.code === 'app_password_not_found')
        return showUserPage(ctx, req, reply, address, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
      return showUsers(ctx, req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });
}
