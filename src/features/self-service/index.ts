/**
 * Self-service: My account, the set-password link, "Forgot your password?", change password, My
 * sessions and My sign-ins with "This wasn't me" (pages and JSON API).
 */
import type { Feature } from '../../web/feature.js';
import { registerSelfServiceApi } from './api.js';
import { registerSelfServiceRoutes } from './routes.js';

export const selfService: Feature = {
  pages: (app, s, web) => registerSelfServiceRoutes(app, s, web),
  api: (api, s) => registerSelfServiceApi(api, s),
};
