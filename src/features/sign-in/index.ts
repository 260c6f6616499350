/**
 * Signing in: the password step (page and JSON API), signing out, the language switch, and the MFA
 * flows wherever they start (sign-in, Security info's add a method or confirm it is you, a password
 * reset's second factor): their pages and their JSON API.
 */
import type { Feature } from '../../web/feature.js';
import { registerSignInApi } from './api.js';
import { registerFlowRoutes } from './flow-routes.js';
import { registerSignInRoutes } from './routes.js';

export const signIn: Feature = {
  pages(app, s, web) {
    registerSignInRoutes(app, s, web);
    registerFlowRoutes(app, s, web);
  },
  api: (api, s) => registerSignInApi(api, s),
};
