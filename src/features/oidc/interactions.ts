/**
 * The provider's login and consent prompts, answered by Sesame itself: GET /oidc/interaction/:uid.
 *
 *   no Sesame session ───────────────> /signin?next=/oidc/interaction/<uid> (Sesame's sign-in and MFA flows)
 *   prompt=login, or older than max_age > /signin?reauth=1&next=… (signing in again makes a new session)
 *   user of another organization ────> error page (403); nothing is issued
 *   app always needs MFA (or acr_values
 *   asks for it), session has
 *   no second factor ─┬─ has methods ─> step-up flow (/security-info/flow), back here when proved
 *                     └─ no method ──> add-method flow, back here (then the step-up above)
 *   otherwise ───────────────────────> interaction finished: login (amr/acr from the session) and
 *                                      consent (the organization's own app: granted automatically)
 *
 * The interaction itself is identified by oidc-provider's own signed, short-lived cookie; the
 * `next` the sign-in page carries is only a path on this site (safeNext), never the app's address.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SesameError } from '../../domain/errors.js';
import { provesSecondFactor } from '../../domain/mfa/model.js';
import { sessionCookieOptions, type WebSettings } from '../../web/cookies.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { clientMeta } from '../../web/forms.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { messagePage } from '../../web/layout.js';
import { html, type Html } from '../../web/html.js';
import { layout, type PageContext } from '../../web/layout.js';
import { OIDC_PREFIX } from '../../web/links.js';
import { asksForMfa, authenticationContext, freshness, type OidcProviderHolder } from './provider.js';

/** The path of an interaction's page (what `next` carries through the sign-in). */
export function interactionPath(uid: string): string {
  return `${OIDC_PREFIX}/interaction/${encodeURIComponent(uid)}`;
}

/** "Signing you in to <app>": refreshes to the provider's resume address at once, with a link for when it does not. */
export function continuePage(ctx: PageContext, appName: string, returnTo: string): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('oidc.continue.title', { name: appName }),
    html`<p><a id="continue" href="${returnTo}">${t('oidc.continue.link', { name: appName })}</a></p>`,
    {
      head: html`<meta http-equiv="refresh" content="0;url=${returnTo}">`,
    },
  );
}

export function registerOidcInteractions(
  app: FastifyInstance,
  ctx: Services,
  web: WebSettings,
  holder: OidcProviderHolder,
) {
  const cookieOpts = sessionCookieOptions(web);

  function refuse(req: FastifyRequest, reply: FastifyReply, e: SesameError) {
    req.log.info({ code: e.code, detail: e.detail }, 'OIDC sign-in refused');
    return send(
      reply,
      messagePage(
        pageContext(req, reply),
        'oidc.error.title',
        userMessage(req, e),
        'error',
        // An expired interaction is no dead end: a sign-in here, after which the app can be opened again.
        e.code === 'flow_expired' ? { href: '/signin', label: req.t('flow.expired.signin') } : undefined,
      ),
      HTTP_STATUS[e.code],
    );
  }

  app.get<{ Params: { uid: string } }>(`${OIDC_PREFIX}/interaction/:uid`, PAGE_ROUTE, async (req, reply) => {
    const { provider } = await holder.get();
    let details: Awaited<ReturnType<typeof provider.interactionDetails>>;
    try {
      details = await provider.interactionDetails(req.raw, reply.raw);
    } catch (e) {
      // Expired, finished, or opened in another browser than the one the app sent here.
      return refuse(
        req,
        reply,
        new SesameError('flow_expired', `OIDC interaction: ${e instanceof Error ? e.message : String(e)}`),
      );
    }
    if (details.uid !== req.params.uid)
      return refuse(req, reply, new SesameError('flow_expired', 'OIDC interaction cookie names another interaction'));
    const here = interactionPath(details.uid);
    if (!req.user || !req.session) return reply.redirect(`/signin?next=${encodeURIComponent(here)}`, 303);
    const user = req.user;
    const session = req.session;
    const clientId = String(details.params.client_id ?? '');
    const client = await ctx.oidc.clients.find(clientId);
    if (!client)
      return refuse(
        req,
        reply,
        new SesameError('oidc_client_not_found', `client ${clientId.slice(0, 64)} vanished during the interaction`),
      );
    if (client.orgId !== user.orgId)
      return refuse(
        req,
        reply,
        new SesameError(
          'oidc_wrong_organization',
          `${user.address} tried to sign in to client ${client.id} of organization ${client.orgId}`,
        ),
      );
    if (!(await ctx.groups.mayUseApp(user, client.id)))
      return refuse(
        req,
        reply,
        new SesameError('oidc_group_required', `${user.address} is not in the group client ${client.id} requires`, {
          params: { app: client.name },
        }),
      );

    // prompt=login and max_age: the sign-in must be newer than the request (or than max_age seconds),
    // else the user signs in again on Sesame's page (password, then the second factor the account
    // asks for), which starts a new session; its time is the ID token's auth_time.
    const { freshAfter } = freshness(details.params, details.iat, Date.now());
    if (session.createdAt < freshAfter) return reply.redirect(`/signin?reauth=1&next=${encodeURIComponent(here)}`, 303);
    // A second factor is needed when the app always requires one, when the request asks for the
    // acr value that says so (acr_values=urn:sesame:acr:mfa), and after a sign-in the request
    // demanded anew (made during this interaction) that a remembered device spared the second factor.
    const signedInAgain = freshAfter > 0 && session.createdAt >= (details.iat ?? 0) * 1000;
    const needsMfa =
      client.requireMfa || asksForMfa(details.params) || (signedInAgain && session.amr.includes('remembered'));
    if (needsMfa && !provesSecondFactor(session.amr)) {
      const meta = { ...clientMeta(req), protocol: 'web', locale: req.locale };
      const hasMethods = (await ctx.securityInfo.overview(user)).methods.length > 0;
      // A first method is added only after recent authentication (the password re-entered), then back here.
      if (!hasMethods && !(await ctx.recentAuth.isRecent(user, session)))
        return reply.redirect(`/security-info/reauth?${new URLSearchParams({ next: here })}`, 303);
      const { flowToken } = hasMethods
        ? await ctx.flows.startStepUp(user, meta, here)
        : await ctx.flows.startAddMethod(user, session, meta, here);
      reply.setCookie(web.cookies.securityInfoFlow, flowToken, cookieOpts);
      return reply.redirect('/security-info/flow', 303);
    }

    const { amr, acr } = authenticationContext(session.amr);
    const accountId = user.id;
    // The organization's own app: consent is given for it, for what it asked (documented in docs/oidc.md).
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const g = grant ?? new provider.Grant({ accountId, clientId });
    const asked = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const scope = String(details.params.scope ?? 'openid');
    g.addOIDCScope(asked.missingOIDCScope?.join(' ') || scope);
    if (asked.missingOIDCClaims?.length) g.addOIDCClaims(asked.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(asked.missingResourceScopes ?? {}))
      g.addResourceScope(indicator, scopes.join(' '));
    const grantId = await g.save();
    const returnTo = await provider.interactionResult(
      req.raw,
      reply.raw,
      // Not remembered by the provider: its session cookie ends with the browser, like Sesame's.
      {
        login: { accountId, amr, acr, ts: Math.floor(session.createdAt / 1000), remember: false },
        consent: { grantId },
      },
      { mergeWithLastSubmission: false },
    );
    // A page that moves on by itself, not a redirect: this request often ends a chain of redirects
    // that began with a form (sign-in, second factor), and the CSP's form-action 'self' would block
    // the chain's last step, to the app's own address.
    return send(reply, continuePage(pageContext(req, reply), client.name, returnTo));
  });
}
