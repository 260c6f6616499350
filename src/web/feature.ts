/**
 * The shape of a feature: what it registers where. app/server.ts assembles the features in one
 * list; a feature never imports another.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSettings } from './cookies.js';
import type { Services } from './services.js';

export interface Feature {
  /**
   * On the root instance, with no body parser and no browser plugins, before the other hooks
   * (monitoring counts every route registered after it; the OIDC provider parses its own requests).
   */
  root?(app: FastifyInstance, services: Services, web: WebSettings): void;
  /** Machine-facing routes: form and JSON bodies, but no cookies, CSRF, language or browser security headers. */
  machines?(app: FastifyInstance, services: Services): void;
  /** Pages and their forms, with the browser plugins (CSP, cookies, CSRF, language, session). */
  pages?(app: FastifyInstance, services: Services, web: WebSettings): void;
  /** JSON API routes, registered under /api/v1 (bearer tokens, no cookies). */
  api?(api: FastifyInstance, services: Services): void;
}
