/**
 * Where the OpenID Connect provider keeps what it issues (codes, tokens, sessions, grants), for all
 * instances at once. The provider's adapter (features/oidc/adapter.ts) speaks to this port;
 * storage/oidc-repository.ts implements it on both stores.
 */

/** A stored payload of oidc-provider, as its adapter interface hands it over (a JSON object). */
export type OidcPayload = Record<string, unknown>;

export interface OidcPayloadStore {
  /** Stores `payload` for (model, id), replacing what was there; `expiresIn` in seconds. */
  upsert(model: string, id: string, payload: OidcPayload, expiresIn: number | undefined): Promise<void>;
  find(model: string, id: string): Promise<OidcPayload | undefined>;
  findByUid(model: string, uid: string): Promise<OidcPayload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<OidcPayload | undefined>;
  /** Marks a single-use payload (a code) used; false when it was used already: exactly one caller wins. */
  consume(model: string, id: string): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
  /** Deletes everything issued to the account (its user id): sessions, grants, codes, access and refresh tokens. */
  revokeByAccount(accountId: string): Promise<void>;
}
