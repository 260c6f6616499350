/** Security info: a user's methods, recovery codes and app passwords (pages and JSON API), and the app-password help page. */
import type { Feature } from '../../web/feature.js';
import { registerSecurityInfoApi } from './api.js';
import { registerSecurityInfoRoutes } from './routes.js';

export const securityInfo: Feature = {
  pages: (app, s, web) => registerSecurityInfoRoutes(app, s, web),
  api: (api, s) => registerSecurityInfoApi(api, s),
};
