/**
 * Builds the Fastify application apart from listen(), so tests drive it with inject() and the
 * server starts it on a port. Owns the cross-cutting web concerns: security headers (strict CSP,
 * no framing), cookies, CSRF, language, session resolution and the error mapping.
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
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AppContext } from './context.js';
import type { User } from '../domain/accounts/model.js';
import type { Session } from '../domain/sessions/session.js';
import { isLocale, negotiateLocale, translator, type Locale, type Translate } from '../i18n/i18n.js';
import { registerApiRoutes } from '../features/admin/api.js';
import { pageContext, registerWebRoutes } from '../features/admin/routes.js';
import { messagePage } from '../web/pages.js';
import { registerMfaRoutes } from '../features/security-info/routes.js';
import { registerSelfServiceRoutes } from '../features/self-service/routes.js';
import { registerLegacyRoutes } from '../features/mail-auth/routes.js';
import { isSesameError } from '../domain/errors.js';
import type { MessageId } from '../i18n/en.js';
import { HTTP_STATUS } from '../web/errors.js';
import { STORE_FAULT_LOG, storeFault, type StoreFaultCode } from '../storage/store-faults.js';
import { logOptions, type LogStream } from '../lib/logging.js';
import { registerMonitoring } from '../features/monitoring/routes.js';
import { OidcProviderHolder, registerOidcEndpoints } from '../features/oidc/provider.js';
import { registerOidcInteractions } from '../features/oidc/interactions.js';
import { registerOidcAdminRoutes } from '../features/oidc/admin-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    locale: Locale;
    t: Translate;
    session?: Session;
    user?: User;
  }
}

export interface CookieNames {
  session: string;
  csrf: string;
  lang: string;
  /** The sign-in flow (password done, second factor or registration pending). */
  flow: string;
  /** "Don't ask again on this device". */
  trust: string;
  /** A password reset whose link was opened (second factor and new password pending). */
  reset: string;
}

export interface WebSettings {
  secureCookies: boolean;
  cookies: CookieNames;
}

/** One pool of compiled validators for the whole process (Fastify's own compiler, configured above). */
const validatorPool = AjvCompiler();

const PUBLIC_DIR = fileURLToPath(new URL('../../../public', import.meta.url));

/** Where the pages load the WebAuthn browser library from (see webauthnForm in web/mfa-pages.ts). */
export const WEBAUTHN_BROWSER_PATH = '/static/vendor/simplewebauthn-browser.umd.min.js';

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
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === '@simplewebauthn/browser') {
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
  const secure = ctx.config.publicUrl.startsWith('https://');
  // __Host- cookies must be Secure, host-only and Path=/: the browser then refuses any set by a sibling domain.
  const prefix = secure ? '__Host-' : '';
  const web: WebSettings = {
    secureCookies: secure,
    cookies: { session: `${prefix}sesame_session`, csrf: `${prefix}sesame_csrf`, lang: `${prefix}sesame_lang`, flow: `${prefix}sesame_flow`, trust: `${prefix}sesame_trust`, reset: `${prefix}sesame_reset` },
  };

  const app = Fastify({
    logger: opts.logger === false ? false : { ...logOptions(ctx.config.logLevel), ...(opts.logStream ? { stream: opts.logStream } : {}) },
    bodyLimit: 64 * 1024,
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
          const strict = validatorPool(externalSchemas, { ...o, customOptions: { ...o.customOptions, coerceTypes: false } } as Parameters<AjvCompiler.BuildCompilerFromPool>[1]);
          return (route) => (route.httpPart === 'body' ? strict(route as AjvCompiler.RouteDefinition) : lenient(route as AjvCompiler.RouteDefinition));
        },
      },
    },
    // X-Forwarded-For only from the proxies the operator listed (SESAME_TRUSTED_PROXIES).
    trustProxy: ctx.config.trustedProxies.length > 0 ? ctx.config.trustedProxies : false,
    genReqId: () => crypto.randomUUID(),
  });

  // Set before any plugin is registered: encapsulated plugins keep the handler they were born with.
  app.setErrorHandler(handleError);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Sesame JSON API', version: '1', description: 'Administer organizations and users, sign in and read the sign-in log.' },
      components: { securitySchemes: { session: { type: 'http', scheme: 'bearer', description: 'Session token from POST /api/v1/sessions' } } },
    },
  });
  app.decorateRequest('locale', 'en');
  app.decorateRequest('t', null as unknown as Translate);

  // Machine-facing routes (load balancers' health checks, mail servers and proxies asking about
  // passwords) sit outside the browser machinery below: no cookies, CSRF, language or security
  // headers on a path that mail servers call on every connection.
  // Before any route: every route is counted. Adds /readyz, and /metrics when it belongs on this port.
  registerMonitoring(app, ctx);
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  await app.register(async (machines) => {
    // RFC 7662 introspection requests are form-encoded.
    await machines.register(formbody);
    registerLegacyRoutes(machines, ctx);
  });
  // The OpenID Connect provider parses its own requests (no body parser, no browser plugins); its
  // login and consent pages are Sesame's own, registered with the browser routes below.
  const oidc = new OidcProviderHolder(ctx, web);
  registerOidcEndpoints(app, oidc);

  // Browser-facing routes: pages, their static files and the JSON API.
  await app.register(async (browser) => {
    await registerBrowserPlugins(browser, ctx, web, secure);
    registerWebRoutes(browser, ctx, web);
    registerMfaRoutes(browser, ctx, web);
    registerOidcInteractions(browser, ctx, web, oidc);
    registerOidcAdminRoutes(browser, ctx);
    registerSelfServiceRoutes(browser, ctx, web);
    await browser.register(async (api) => registerApiRoutes(api, ctx), { prefix: '/api/v1' });
    browser.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    browser.setNotFoundHandler(async (req, reply) => {
      if (req.url.startsWith('/api/')) return reply.code(404).send({ error: { code: 'not_found', message: req.t('page.notfound.body') } });
      return notFoundPage(req, reply);
    });
  });
  return app;
}

/** Security headers (strict CSP, no framing), cookies, forms, CSRF, static files and the visitor's language. */
async function registerBrowserPlugins(browser: FastifyInstance, ctx: AppContext, web: WebSettings, secure: boolean) {
  await browser.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'same-origin' },
    hsts: secure ? { maxAge: 31536000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
  });
  // The first secret signs; the previous cookie keys (after a rotation) still verify what they signed.
  await browser.register(cookie, { secret: [ctx.secrets.cookieKey, ...(ctx.secrets.previous?.cookieKey ?? [])].map((k) => k.toString('base64')) });
  await browser.register(formbody);
  await browser.register(csrf, {
    cookieKey: web.cookies.csrf,
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'strict', secure, signed: true },
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

function notFoundPage(req: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).type('text/html; charset=utf-8').send(messagePage(pageContext(req, reply), 'page.notfound.title', req.t('page.notfound.body')).value);
}

/**
 * One place where errors become responses: domain errors keep their code and translated message;
 * CSRF and validation failures get theirs; anything else is logged in full and shown as a generic 500.
 */
function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  // Machine-facing routes have no language, cookies or CSRF (see buildApp): they get JSON in English.
  const machine = !req.t;
  if (machine) req.t = translator('en');
  const api = machine || req.url.startsWith('/api/');
  let status: number;
  let code: string;
  let message: string;
  // The store failing (PostgreSQL away, SQLite locked too long, a full disk) is not a bug of this
  // request: the user is told what it is (503/507, translated, a stable code), the operator gets
  // the line that says where to look, and Sesame carries on and recovers when the store does.
  const fault = storeFault(err);
  if (fault) {
    status = HTTP_STATUS[fault.code];
    code = fault.code;
    message = req.t(fault.messageId as MessageId);
    req.log.error({ code, detail: fault.detail }, STORE_FAULT_LOG[fault.code as StoreFaultCode]);
    if (fault.retryAfterSeconds) reply.header('retry-after', String(fault.retryAfterSeconds));
  } else if (isSesameError(err)) {
    status = HTTP_STATUS[err.code];
    code = err.code;
    message = req.t(err.messageId as MessageId, err.params);
    req.log.info({ code, detail: err.detail }, 'request refused');
    if (err.retryAfterSeconds) reply.header('retry-after', String(err.retryAfterSeconds));
  } else if (err.code?.startsWith('FST_CSRF')) {
    status = 403;
    code = 'csrf_invalid';
    message = req.t('error.csrf_invalid');
    req.log.warn({ code }, 'CSRF token missing or invalid');
  } else if (err.validation) {
    status = 400;
    code = 'invalid_input';
    message = req.t('error.invalid_input');
    req.log.info({ code, detail: err.message }, 'request failed validation');
  } else if (err.statusCode && err.statusCode < 500) {
    status = err.statusCode;
    code = 'invalid_input';
    message = req.t('error.invalid_input');
    req.log.info({ code, detail: err.message }, 'bad request');
  } else {
    status = 500;
    code = 'internal';
    message = req.t('page.error.body');
    req.log.error({ err }, 'request failed');
  }
  if (api) return reply.code(status).send({ error: { code, message } });
  const pc = pageContext(req, reply);
  const page = status === 500 ? messagePage(pc, 'page.error.title', message, 'error') : messagePage(pc, status === 403 ? 'page.forbidden.title' : 'page.error.title', message, 'error');
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);
}
