/**
 * The OpenID Connect provider: its protocol endpoints under /oidc (raw, on the root instance), its
 * sign-in and consent interactions (Sesame's own pages), and the admin's client registry (page and
 * JSON API). One provider per server, shared by the endpoints and the interactions.
 */
import type { Feature } from '../../web/feature.js';
import { registerOidcAdminRoutes, registerOidcClientApi } from './admin-routes.js';
import { registerOidcInteractions } from './interactions.js';
import { OidcProviderHolder, registerOidcEndpoints } from './provider.js';

export function createOidcFeature(): Feature {
  let holder: OidcProviderHolder | undefined;
  return {
    root(app, s, web) {
      holder = new OidcProviderHolder(s, web);
      registerOidcEndpoints(app, holder, s.config.publicUrl);
    },
    pages(app, s, web) {
      registerOidcInteractions(app, s, web, holder!);
      registerOidcAdminRoutes(app, s, web);
    },
    api: (api, s) => registerOidcClientApi(api, s),
  };
}
