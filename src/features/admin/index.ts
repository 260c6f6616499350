/** The admin console: users (one at a time and in bulk), policy, the sign-in log and the dashboard (pages and JSON API). */
import type { Feature } from '../../web/feature.js';
import { registerAdminApi } from './api.js';
import { registerAdminRoutes } from './routes.js';

export const admin: Feature = {
  pages: (app, s, web) => registerAdminRoutes(app, s, web),
  api: (api, s) => registerAdminApi(api, s),
};
