/**
 * Builds the Fastify application apart from listen(), so tests drive it with inject() and the
 * server starts it on a port. Owns the assembly: validation, the browser plugins (strict CSP, no
 * framing, cookies, CSRF, static files, language, the session), and which feature registers
 * where. The features themselves live in features/; what they share is the web kit in web/.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import AjvCompiler from '@fastify/ajv-compiler';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { admin } from '../features/admin/index.js';
import { appHelp } from '../features/app-help/index.js';
import { autoconfig } from '../features/autoconfig/index.js';
import { deviceSetup } from '../features/device-setup/index.js';
import { mailAuth } from '../features/mail-auth/index.js';
import { monitoring, registerMonitoringListener } from '../features/monitoring/index.js';
import { createOidcFeature } from '../features/oidc/index.js';
import { securityInfo } from '../features/security-info/index.js';
import { selfService } from '../features/self-service/index.js';
import { signIn } from '../features/sign-in/index.js';
import { isLocale, negotiateLocale, translator, type Translate } from '../i18n/i18n.js';
import { logOptions, type LogStream } from '../lib/logging.js';
import { csrfCookieOptions, type WebSettings, webSettings } from '../web/cookies.js';
import { cspDirectives } from '../web/security-headers.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../web/json-depth.js';
import { handleError, notFound } from '../web/errors.js';
import type { Feature } from '../web/feature.js';
import { sessionLoader } from '../web/guards.js';
import type {} from '../web/request.js';
import type { AppContext } from './context.js';

/** Every feature, in the order its routes are registered (monitoring first: it counts the routes after it). */
function features(): Feature[] {
  return [
    monitoring,
    mailAuth,
    autoconfig,
    createOidcFeature(),
    signIn,
    securityInfo,
    deviceSetup,
    appHelp,
    selfService,
    admin,
  ];
}

/** One pool of compiled validators for the whole process (Fastify's own compiler, configured above). */
const validatorPool = AjvCompiler();

const PUBLIC_DIR = fileURLToPath(new URL('../../../public', import.meta.url));

/** Where the pages load the WebAuthn browser library from (see webauthnForm in features/sign-in/flow-pages.ts). */
const WEBAUTHN_BROWSER_PATH = '/static/vendor/simplewebauthn-browser.umd.min.js';

/**
 * The UMD bundle of @simplewebauthn/browser, read from the installed package (the version in
 * package-lock.json, never a stale copy) once at start-up, so a missing dependency stops the
 * server at once instead of breaking security keys later. The package exports only its entry
 * point, so its folder is found by walking up from that entry to its package.json.
 */
function loadWebAuthnBrowserBundle(): Buffer {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (
      fs.existsSync(pkg) &&
      (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === '@simplewebauthn/browser'
    ) {
      return fs.readFileSync(path.join(dir, 'dist/bundle/index.umd.min.js'));
    }
  }
  throw new Error(`@simplewebauthn/browser: no package.json above ${entry}`);
}

export interface BuildOptions {
  /** false: no logging (most tests). Default: JSON lines on stdout at the configured level. */
  logger?: false;
  /** Where log lines go instead of stdout (tests that read the log). */
  logStream?: LogStream;
}

export async function buildApp(ctx: AppContext, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const web = webSettings(ctx.config.publicUrl);
  const all = features();

  const app = Fastify({
    logger:
      opts.logger === false
        ? false
        : { ...logOptions(ctx.config.logLevel), ...(opts.logStream ? { stream: opts.logStream } : {}) },
    bodyLimit: 64 * 1024,
    // Transport timeouts (SESAME_*_TIMEOUT_SECONDS): a request whose headers or body trickle in is
    // cut off, so slow clients cannot hold connections open. Node checks incomplete requests every
    // connectionsCheckingInterval (30 s by default, as long as the timeouts themselves): once a second
    // keeps the cut-off near the configured time. connectionTimeout closes a socket silent that long.
    connectionTimeout: ctx.config.requestTimeoutSeconds * 1000,
    requestTimeout: ctx.config.requestTimeoutSeconds * 1000,
    keepAliveTimeout: ctx.config.keepAliveTimeoutSeconds * 1000,
    http: {
      headersTimeout: ctx.config.headersTimeoutSeconds * 1000,
      requestTimeout: ctx.config.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: 1000,
    },
    // Unknown fields are refused, not silently dropped: a client that sends `admin: true` learns it is not a thing.
    ajv: { customOptions: { removeAdditional: false } },
    // JSON bodies are taken as sent: Ajv's default type coercion would turn `null` into `false`
    // (switching a policy off), `["pw"]` into `"pw"` and `5` into `"5"`, found by fuzzing. Query
    // strings and headers are text by nature and keep the coercion their numbers need.
    schemaController: {
      compilersFactory: {
        buildValidator: (externalSchemas, options) => {
          const o = options as { customOptions?: AjvCompiler.Options };
          const lenient = validatorPool(externalSchemas, o as Parameters<AjvCompiler.BuildCompilerFromPool>[1]);
          const strict = validatorPool(externalSchemas, {
            ...o,
            customOptions: { ...o.customOptions, coerceTypes: false },
          } as Parameters<AjvCompiler.BuildCompilerFromPool>[1]);
          return (route) =>
            route.httpPart === 'body'
              ? strict(route as AjvCompiler.RouteDefinition)
              : lenient(route as AjvCompiler.RouteDefinition);
        },
      },
    },
    // X-Forwarded-For only from the proxies the operator listed (SESAME_TRUSTED_PROXIES).
    trustProxy: ctx.config.trustedProxies.length > 0 ? ctx.config.trustedProxies : false,
    genReqId: () => crypto.randomUUID(),
  });

  // Set before any plugin is registered: encapsulated plugins keep the handler they were born with.
  app.setErrorHandler(handleError);
  // JSON bodies: nesting is limited before parsing (see web/json-depth.ts); the parse itself is
  // Fastify's own, refusing __proto__ and constructor.prototype keys as before.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonTooDeep(body as string)) {
      const e = new Error(`JSON body nested deeper than ${MAX_JSON_DEPTH} levels`) as FastifyError;
      e.statusCode = 400;
      e.code = 'SESAME_JSON_TOO_DEEP';
      return done(e, undefined);
    }
    void parseJson(req, body as string, done);
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Sesame JSON API',
        version: '1',
        description: 'Administer organizations and users, sign in and read the sign-in log.',
      },
      components: {
        securitySchemes: {
          session: { type: 'http', scheme: 'bearer', description: 'Session token from POST /api/v1/sessions' },
        },
      },
    },
  });
  app.decorateRequest('locale', 'en');
  app.decorateRequest('t', null as unknown as Translate);

  // Machine-facing routes (load balancers' health checks, mail servers and proxies asking about
  // passwords) sit outside the browser machinery below: no cookies, CSRF, language or security
  // headers on a path that mail servers call on every connection. Monitoring comes first: every
  // route registered after it is counted. The OpenID Connect provider parses its own requests (no
  // body parser, no browser plugins); its login and consent pages are Sesame's own, with the pages.
  warnUntrustedForwardedFor(app, ctx.config.trustedProxies);
  for (const f of all) f.root?.(app, ctx, web);
  await app.register(async (machines) => {
    // RFC 7662 introspection requests are form-encoded.
    await machines.register(formbody);
    for (const f of all) f.machines?.(machines, ctx);
  });

  // Browser-facing routes: pages, their static files and the JSON API.
  await app.register(async (browser) => {
    await registerBrowserPlugins(browser, ctx, web);
    browser.addHook('preHandler', sessionLoader(ctx, web));
    for (const f of all) f.pages?.(browser, ctx, web);
    await browser.register(
      async (api) => {
        for (const f of all) f.api?.(api, ctx);
      },
      { prefix: '/api/v1' },
    );
    // Browsers and feed readers ask for /favicon.ico whatever the page says.
    browser.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) =>
      reply.header('cache-control', 'public, max-age=86400').redirect('/static/favicon.svg', 301),
    );
    browser.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    browser.setNotFoundHandler(notFound);
  });
  return app;
}

/** Security headers (strict CSP, no framing), cookies, forms, CSRF, static files and the visitor's language. */
async function registerBrowserPlugins(browser: FastifyInstance, ctx: AppContext, web: WebSettings) {
  const secure = web.secureCookies;
  await browser.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: cspDirectives(secure) },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'same-origin' },
    hsts: secure ? { maxAge: 31536000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
  });
  // The first secret signs; the previous cookie keys (after a rotation) still verify what they signed.
  await browser.register(cookie, {
    secret: [ctx.secrets.cookieKey, ...(ctx.secrets.previous?.cookieKey ?? [])].map((k) => k.toString('base64')),
  });
  await browser.register(formbody);
  await browser.register(csrf, {
    cookieKey: web.cookies.csrf,
    cookieOpts: csrfCookieOptions(web),
    getToken: (req: FastifyRequest) => (req.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
  });
  await browser.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/static/', maxAge: '1h' });
  // One named file rather than a second static root: the page asks for a name of its own, and nothing else of the package is exposed.
  const webauthnBrowser = loadWebAuthnBrowserBundle();
  browser.get(WEBAUTHN_BROWSER_PATH, { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(webauthnBrowser),
  );

  browser.addHook('onRequest', async (req) => {
    const chosen = req.cookies[web.cookies.lang];
    req.locale = isLocale(chosen) ? chosen : negotiateLocale(req.headers['accept-language']);
    req.t = translator(req.locale);
  });
}

export interface MonitoringAppOptions {
  /** false: no logging (tests). */
  logger?: false;
  logStream?: LogStream;
}

/**
 * The monitoring listener's app (SESAME_METRICS_PORT): /healthz, /readyz and /metrics, nothing
 * else; their access lines are logged only at warn (probes every few seconds). main.ts listens on it.
 */
export async function buildMonitoringApp(ctx: AppContext, opts: MonitoringAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      opts.logger === false
        ? false
        : { ...logOptions(ctx.config.logLevel), ...(opts.logStream ? { stream: opts.logStream } : {}) },
    trustProxy: false,
  });
  registerMonitoringListener(app, ctx);
  return app;
}

/**
 * X-Forwarded-For from a peer not listed in SESAME_TRUSTED_PROXIES is ignored (the peer is the
 * client): right when someone forges it, wrong when it is the operator's own proxy, whose users
 * would all share its address in throttling and the sign-in log. Said once per app (one per
 * process), with the setting and the peer, never per request: a forger must not fill the log.
 */
export function warnUntrustedForwardedFor(app: FastifyInstance, trustedProxies: readonly string[]): void {
  let warned = false;
  app.addHook('onRequest', (req, _reply, done) => {
    // With proxies trusted, Fastify's req.ips is the chain it believed: the peer alone when it is untrusted.
    if (!warned && req.headers['x-forwarded-for'] !== undefined && (req.ips?.length ?? 1) < 2) {
      warned = true;
      // The app's logger, not the request's: a route may log at a higher level (health checks).
      app.log.warn(
        {
          code: 'untrusted_forwarded_for',
          peer: req.socket.remoteAddress,
          setting: 'SESAME_TRUSTED_PROXIES',
          trustedProxies: trustedProxies.join(',') || '(none)',
        },
        'X-Forwarded-For from a peer that is not a trusted proxy is ignored: if this peer is your reverse proxy, add its address to SESAME_TRUSTED_PROXIES (said once)',
      );
    }
    done();
  });
}
