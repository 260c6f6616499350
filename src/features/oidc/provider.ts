/**
 * Sesame as an OpenID Connect provider, built on panva's oidc-provider (Koa inside) and mounted
 * under /oidc: discovery, authorization code with PKCE, refresh tokens, userinfo, revocation and
 * end session. Everything the provider stores goes through Sesame's store (adapter.ts), its signing
 * keys are Sesame's sealed keys (domain/oidc/signing-keys.ts), its cookie keys derive from Sesame's
 * cookie key, and it never signs anyone in by itself: its login prompt goes to Sesame's own
 * sign-in pages and flows (interactions.ts), which finish the interaction from the Sesame session.
 *
 * The provider is rebuilt when the signing keys change (`sesame oidc rotate-keys` on any instance),
 * noticed at most KEY_CHECK_MS after the change: a cheap read of the key ids, no decryption.
 */
import { timeFormat } from '../../i18n/format.js';
import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { provesSecondFactor } from '../../domain/mfa/model.js';
import type { WebSettings } from '../../web/cookies.js';
import { OIDC_PREFIX, oidcIssuer } from '../../web/links.js';
import type { Services } from '../../web/services.js';
import { isLocale, negotiateLocale, translator, type Locale, type Translate } from '../../i18n/i18n.js';
import type { MessageId } from '../../i18n/en.js';
import { html, type Html } from '../../web/html.js';
import { layout } from '../../web/layout.js';
import { cspHeader } from '../../web/security-headers.js';
import { createAdapter, type OidcProviderModule } from './adapter.js';
import { logOptions } from '../../lib/logging.js';

/** How stale the signing keys an instance uses may be after a rotation elsewhere. */
const KEY_CHECK_MS = 60_000;
/** acr values: a password only, or a password and a second factor. */
export const ACR = { pwd: 'urn:sesame:acr:pwd', mfa: 'urn:sesame:acr:mfa' } as const;
/** RFC 8176 values Sesame's sessions record; anything else (`remembered`) is not passed on as proof. */
const RFC8176 = new Set(['pwd', 'otp', 'hwk', 'sms', 'tel', 'mfa']);

/** What a Sesame session proved, as the ID token's `amr` and `acr`. */
export function authenticationContext(sessionAmr: readonly string[]): { amr: string[]; acr: string } {
  const mfa = provesSecondFactor(sessionAmr);
  // Every Sesame session begins with the main password, though a step-up records only the factor it proved.
  const amr = ['pwd', ...sessionAmr.filter((a) => RFC8176.has(a) && a !== 'pwd')];
  return { amr: mfa ? [...amr, 'mfa'] : amr, acr: mfa ? ACR.mfa : ACR.pwd };
}

/** Whether the authorization request asks for a second factor: `acr_values` naming Sesame's MFA value. */
export function asksForMfa(params: Record<string, unknown>): boolean {
  return String(params.acr_values ?? '')
    .split(' ')
    .includes(ACR.mfa);
}

/**
 * How recent the Sesame sign-in must be (epoch ms; 0: any): after the request itself for
 * prompt=login (`requestedAt`, the interaction's start in epoch seconds), within max_age seconds.
 */
export function freshness(params: Record<string, unknown>, requestedAt: number | undefined, now: number) {
  let freshAfter = 0;
  if (
    String(params.prompt ?? '')
      .split(' ')
      .includes('login') &&
    requestedAt
  )
    freshAfter = requestedAt * 1000;
  const maxAge = params.max_age === undefined ? Number.NaN : Number(params.max_age);
  if (Number.isFinite(maxAge) && maxAge >= 0) freshAfter = Math.max(freshAfter, now - maxAge * 1000);
  return { freshAfter };
}

/**
 * oidc-provider prints a warning on import when Node.js is older than 22 LTS. Sesame supports Node
 * 20 (package.json engines) and the provider works there; the line would otherwise go to stderr at
 * every start, outside the JSON log. Only that one warning is held back.
 */
export async function importProvider(): Promise<OidcProviderModule> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('Unsupported runtime')) warn(...args);
  };
  try {
    return (await import('oidc-provider')) as unknown as OidcProviderModule;
  } finally {
    console.warn = warn;
  }
}

/** The Koa context's visitor language: Sesame's language cookie, else Accept-Language. */
function koaLocale(k: KoaContextWithOIDC, web: WebSettings): Locale {
  const chosen = k.cookies.get(web.cookies.lang, { signed: false });
  return isLocale(chosen) ? chosen : negotiateLocale(k.get('accept-language'));
}

function koaTranslator(k: KoaContextWithOIDC, web: WebSettings): Translate {
  return translator(koaLocale(k, web));
}

/** A page of the provider's own (errors, sign-out) in Sesame's frame, under the same CSP as every page. */
function sendPage(k: KoaContextWithOIDC, web: WebSettings, titleId: MessageId, body: Html, head?: Html) {
  const locale = koaLocale(k, web);
  const t = translator(locale);
  k.type = 'html';
  k.set('cache-control', 'no-store');
  k.set('content-security-policy', cspHeader(web.secureCookies));
  k.set('x-frame-options', 'DENY');
  k.set('referrer-policy', 'same-origin');
  k.body = layout(
    { t, locale, csrf: '', path: '/signin', time: timeFormat(locale, null, Date.now()) },
    t(titleId),
    body,
    head ? { head } : {},
  ).value;
}

/**
 * "Do you want to sign out of Sesame?", with the provider's form (its action and xsrf secret). Asked
 * at every end-session request, with or without an id_token_hint (docs/oidc.md): nothing ends
 * before the user answers, so a cross-site link signs no one out.
 */
function logoutPage(k: KoaContextWithOIDC, web: WebSettings, action: string, xsrf: string) {
  const t = koaTranslator(k, web);
  sendPage(
    k,
    web,
    'oidc.logout.title',
    html`<p>${t('oidc.logout.body')}</p><form id="op.logoutForm" method="post" action="${action}"><input type="hidden" name="xsrf" value="${xsrf}"></form>
<p class="actions"><button type="submit" form="op.logoutForm" value="yes" name="logout" class="primary">${t('oidc.logout.yes')}</button>
<button type="submit" form="op.logoutForm">${t('oidc.logout.no')}</button></p>`,
  );
}

/** Cookie-signing keys of the provider, derived from Sesame's cookie key (and its previous keys, which still verify). */
function cookieKeys(ctx: Services): string[] {
  return [ctx.secrets.cookieKey, ...(ctx.secrets.previous?.cookieKey ?? [])].map((k) =>
    createHmac('sha256', k).update('sesame oidc-provider cookies').digest('base64url'),
  );
}

/** The Sesame session behind the browser's cookie in a Koa request, if it is live and its user active. */
async function sesameSession(ctx: Services, web: WebSettings, k: KoaContextWithOIDC) {
  const s = await ctx.sessions.resume(k.cookies.get(web.cookies.session, { signed: false }));
  if (!s) return undefined;
  const user = await ctx.accounts.findUserById(s.userId);
  return user && user.status === 'active' ? { session: s, user } : undefined;
}

async function buildProvider(mod: OidcProviderModule, ctx: Services, web: WebSettings): Promise<Provider> {
  const log = pino(logOptions(ctx.config.logLevel));
  const { interactionPolicy } = mod;
  const policy = interactionPolicy.base();
  // The provider's session follows Sesame's: signed out of Sesame (or another user signed in), or an
  // app that needs a second factor the session has not proved, and the login prompt runs again.
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(
      'sesame_session',
      'the Sesame session ended, changed user, proved more, or lacks a second factor this app requires',
      async (k: KoaContextWithOIDC) => {
        const live = await sesameSession(ctx, web, k);
        if (!live || live.user.id !== k.oidc.session?.accountId) return interactionPolicy.Check.REQUEST_PROMPT;
        // The Sesame session proved more since (a step-up on Security info): the tokens must say so.
        const now = authenticationContext(live.session.amr);
        if (k.oidc.session.acr !== now.acr || (k.oidc.session.amr ?? []).join(' ') !== now.amr.join(' '))
          return interactionPolicy.Check.REQUEST_PROMPT;
        const client = await ctx.oidc.clients.find(k.oidc.client?.clientId ?? '');
        if ((client?.requireMfa || asksForMfa(k.oidc.params ?? {})) && !provesSecondFactor(live.session.amr))
          return interactionPolicy.Check.REQUEST_PROMPT;
        // Removed from the group the app requires: the interaction page says so (no silent sign-in).
        if (client && !(await ctx.groups.mayUseApp(live.user, client.id)))
          return interactionPolicy.Check.REQUEST_PROMPT;
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  const configuration: Configuration = {
    adapter: createAdapter(mod, ctx),
    clients: [],
    jwks: { keys: (await ctx.oidc.keys.privateJwks()) as unknown as NonNullable<Configuration['jwks']>['keys'] },
    cookies: { keys: cookieKeys(ctx) },
    findAccount: async (k, sub) => {
      const user = await ctx.accounts.findUserById(sub);
      if (user?.status !== 'active') return undefined;
      // Asked at every token refresh and userinfo call too: a member removed from the group the app
      // requires gets nothing more from the next one.
      const clientId = k.oidc?.client?.clientId;
      if (clientId && !(await ctx.groups.mayUseApp(user, clientId))) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: user.address,
          email_verified: true,
          name: user.name,
          preferred_username: user.address,
          groups: await ctx.groups.namesOf(user),
        }),
      };
    },
    // acr, amr and auth_time go with `openid`, so every ID token says what the sign-in proved.
    claims: {
      email: ['email', 'email_verified'],
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name', 'preferred_username'],
      // The names of the user's groups in the app's organization (issue #19), for apps that ask.
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    acrValues: [ACR.pwd, ACR.mfa],
    responseTypes: ['code'],
    // Given explicitly (the provider's defaults are functions that print a notice on stdout, outside the JSON log).
    // The provider's session lasts as long as a Sesame session may; codes a minute; tokens an hour; refresh two weeks.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 14 * 86_400,
      RefreshToken: 14 * 86_400,
      Session: ctx.config.sessionAbsoluteHours * 3600,
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // The client secret is checked against its keyed hash (see adapter.ts); it must never be an HMAC key.
    enabledJWA: {
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    interactions: { url: async (_k, interaction) => `${OIDC_PREFIX}/interaction/${interaction.uid}`, policy },
    // Apps that ask for a refresh token get one, with or without offline_access and prompt=consent:
    // consent is automatic for the organization's own apps (see interactions.ts).
    issueRefreshToken: async (_k, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // The provider's own form is rebuilt (same action, same secret) rather than inserted as given.
        logoutSource: async (k) =>
          logoutPage(k, web, k.oidc.urlFor('end_session_confirm'), String(k.oidc.session?.state?.secret ?? '')),
        postLogoutSuccessSource: async (k) =>
          sendPage(
            k,
            web,
            'oidc.logout.title',
            html`<p>${koaTranslator(k, web)('signin.signedout')}</p><p><a href="/signin">${koaTranslator(k, web)('signin.title')}</a></p>`,
          ),
      },
    },
    renderError: async (k, out, error) => {
      // The user sees a generic sentence; the operator's log gets what the provider said.
      k.status = (error as { statusCode?: number }).statusCode ?? 400;
      log.info({ code: out.error, detail: out.error_description, path: k.path }, 'OIDC request refused');
      sendPage(k, web, 'oidc.error.title', html`<p class="error">${koaTranslator(k, web)('oidc.error.body')}</p>`);
    },
    // Browser apps (public clients) may call the token and userinfo endpoints from their own origin.
    clientBasedCORS: (_k, origin, client) => (client.redirectUris ?? []).some((u) => new URL(u).origin === origin),
  };
  const provider = new mod.Provider(oidcIssuer(ctx.config.publicUrl), configuration);
  // Koa reads the host and scheme from X-Forwarded-Host/Proto, which registerOidcEndpoints sets
  // from the configured public URL on every request (whatever the client or a proxy sent).
  provider.proxy = true;
  // The stored hash stands in for the secret (adapter.ts): compare what the client sent by its keyed hash.
  (
    provider.Client.prototype as unknown as {
      compareClientSecret(this: { clientId: string }, actual: string): Promise<boolean>;
    }
  ).compareClientSecret = function (actual: string) {
    return ctx.oidc.clients.secretIsRight(this.clientId, actual);
  };
  provider.on('server_error', (_k: unknown, err: Error) => log.error({ err }, 'OIDC provider failed'));
  const publicOrigin = new URL(ctx.config.publicUrl).origin;
  provider.use(async (koa, next) => {
    await next();
    const k = koa as unknown as KoaContextWithOIDC;
    // Without a signed-in provider session, the provider answers an end-session request with a
    // form that submits itself ("yes, sign out") by script: a cross-site link would then sign the
    // user out of Sesame (below). Sesame asks instead, on the same page as always.
    if (k.oidc?.route === 'end_session' && k.status === 200 && !k.response.get('content-security-policy'))
      logoutPage(k, web, k.oidc.urlFor('end_session_confirm'), String(k.oidc.session?.state?.secret ?? ''));
    if (k.oidc?.route === 'end_session_confirm') {
      // "Yes, sign me out" at the provider's end-session page ends the Sesame session too.
      if (k.oidc.params?.logout) {
        const live = await sesameSession(ctx, web, k);
        if (live) await ctx.sessions.end(live.session.id);
      }
      // Back to the app by a page that moves on by itself: the CSP's form-action 'self' would block
      // the answer to the sign-out form being a redirect to another site.
      const location = k.response.get('location');
      if (k.status === 303 && location && new URL(location, publicOrigin).origin !== publicOrigin) {
        k.status = 200;
        k.remove('location');
        sendPage(
          k,
          web,
          'oidc.logout.title',
          html`${k.oidc.params?.logout ? html`<p>${koaTranslator(k, web)('signin.signedout')}</p>` : ''}<p><a id="continue" href="${location}">${koaTranslator(k, web)('oidc.logout.back')}</a></p>`,
          html`<meta http-equiv="refresh" content="0;url=${location}">`,
        );
      }
    }
  });
  return provider;
}

/**
 * The current provider, rebuilt when the signing keys changed. Every /oidc request and interaction
 * asks for it; the key ids are read at most once a KEY_CHECK_MS.
 */
export class OidcProviderHolder {
  private current?: { provider: Provider; kids: string; callback: (req: IncomingMessage, res: ServerResponse) => void };
  private checkedAt = 0;
  private building?: Promise<void>;
  private mod?: OidcProviderModule;

  /** `keyCheckMs`: how often the key ids are read (tests shorten it). */
  constructor(
    private readonly ctx: Services,
    private readonly web: WebSettings,
    private readonly keyCheckMs = KEY_CHECK_MS,
  ) {}

  async get(): Promise<{ provider: Provider; callback: (req: IncomingMessage, res: ServerResponse) => void }> {
    const now = Date.now();
    if (!this.current || now - this.checkedAt >= this.keyCheckMs) {
      this.building ??= this.refresh().finally(() => (this.building = undefined));
      await this.building;
    }
    return this.current!;
  }

  private async refresh() {
    this.mod ??= await importProvider();
    const kids = (await this.ctx.oidc.keys.kids()).join(',');
    this.checkedAt = Date.now();
    if (this.current && this.current.kids === kids) return;
    const provider = await buildProvider(this.mod, this.ctx, this.web);
    // Read again after building: the first build may have made the first key.
    this.current = { provider, kids: (await this.ctx.oidc.keys.kids()).join(','), callback: provider.callback() };
  }
}

/**
 * Mounts the provider under /oidc (all but the interaction pages, which are Sesame's own; see
 * interactions.ts). Fastify must not read the body: the provider parses its own requests, so the
 * request is handed over raw, before any parsing, with the prefix moved to `originalUrl` as a
 * mounting framework does (the provider builds its endpoint URLs from it), and the host and scheme
 * set to the configured public URL's.
 */
export function registerOidcEndpoints(app: FastifyInstance, holder: OidcProviderHolder, publicUrl: string) {
  const pub = new URL(publicUrl);
  app.route({
    method: ['GET', 'POST', 'OPTIONS', 'DELETE', 'PUT', 'HEAD'],
    url: `${OIDC_PREFIX}/*`,
    schema: { hide: true },
    onRequest: async (req, reply) => {
      // Before hijacking: a store that cannot answer is then reported by Fastify's error handler (503).
      const { callback } = await holder.get();
      reply.hijack();
      const raw = req.raw as IncomingMessage & { originalUrl?: string };
      raw.originalUrl = raw.url;
      raw.url = raw.url!.slice(OIDC_PREFIX.length) || '/';
      // The issuer and every endpoint URL the provider builds (discovery, redirects, the logout
      // form's action) come from the configured public URL only, never from what the request says
      // its host is (Host, X-Forwarded-Host, even from a trusted proxy). The client's address is
      // the one Fastify determined (trusted proxies only).
      raw.headers.host = pub.host;
      raw.headers['x-forwarded-host'] = pub.host;
      raw.headers['x-forwarded-proto'] = pub.protocol.slice(0, -1);
      raw.headers['x-forwarded-for'] = req.ip;
      callback(raw, reply.raw);
    },
    handler: async () => undefined,
  });
}
