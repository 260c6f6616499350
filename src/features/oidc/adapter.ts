/**
 * oidc-provider's storage adapter over Sesame's store (storage/oidc-repository.ts), one instance
 * per model name. Clients are not stored by the provider: the `Client` model reads Sesame's client
 * registry and answers with metadata built from it. A confidential client's secret exists only as a
 * keyed hash, so its metadata carries a placeholder and the provider's secret comparison is replaced
 * by a comparison of keyed hashes (provider.ts).
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Services } from '../../web/services.js';
import type { OidcClient } from '../../domain/oidc/clients.js';

/** What Sesame uses of the oidc-provider module (imported lazily, see provider.ts). */
export type OidcProviderModule = typeof import('oidc-provider');

/**
 * Stands in for a confidential client's secret in the metadata handed to the provider (which
 * insists on one for client_secret_basic). Never compared: see compareClientSecret in provider.ts.
 */
const HASHED_SECRET = 'stored-as-keyed-hash-only';

/** The provider's view of a registered client. */
export function clientMetadata(c: OidcClient): AdapterPayload {
  const origins = [...new Set(c.redirectUris.map((u) => `${new URL(u).origin}/`))];
  return {
    client_id: c.id,
    client_name: c.name,
    application_type: 'web',
    redirect_uris: c.redirectUris,
    // After signing out, an app may send the browser back to one of its own addresses.
    post_logout_redirect_uris: [...new Set([...c.redirectUris, ...origins])],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    ...(c.kind === 'public'
      ? { token_endpoint_auth_method: 'none' }
      : { token_endpoint_auth_method: 'client_secret_basic', client_secret: HASHED_SECRET }),
  };
}

/** The adapter class oidc-provider instantiates per model. */
export function createAdapter(mod: OidcProviderModule, ctx: Services) {
  const payloads = ctx.oidc.payloads;
  return class SesameOidcAdapter implements Adapter {
    constructor(readonly name: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // Clients are registered through Sesame (admin page, API, CLI), never by the provider.
      if (this.name === 'Client') throw new Error('clients are registered through Sesame');
      await payloads.upsert(this.name, id, payload as Record<string, unknown>, expiresIn);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') {
        const c = await ctx.oidc.clients.find(id);
        return c && clientMetadata(c);
      }
      return (await payloads.find(this.name, id)) as AdapterPayload | undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return (await payloads.findByUserCode(this.name, userCode)) as AdapterPayload | undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return (await payloads.findByUid(this.name, uid)) as AdapterPayload | undefined;
    }

    async consume(id: string): Promise<void> {
      // The provider checks `consumed` before consuming; two requests with one code at once can
      // both pass that check, and only one may win here.
      if (!(await payloads.consume(this.name, id)))
        throw new mod.errors.InvalidGrant(
          `${this.name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()} already used`,
        );
    }

    async destroy(id: string): Promise<void> {
      await payloads.destroy(this.name, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await payloads.revokeByGrantId(grantId);
    }
  };
}
