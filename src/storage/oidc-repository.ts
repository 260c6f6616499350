/**
 * Storage of the OpenID Connect provider: client applications, signing keys, and the payloads
 * oidc-provider keeps between requests (codes, tokens, grants, sessions, interactions), all in
 * Sesame's store so that every instance sees the same. Payloads are one row per (model, id) with
 * the columns the provider looks them up by (grant, session uid, user code) and their expiry.
 */
import type { Kysely } from 'kysely';
import { findByKeyedHash, type KeyedHasher } from '../lib/crypto/tokens.js';
import type { OidcClient, OidcClientKind, OidcClientRepository } from '../domain/oidc/clients.js';
import type { OidcPayload, OidcPayloadStore } from '../domain/oidc/payloads.js';
import type { SigningKeyRepository, StoredSigningKey } from '../domain/oidc/signing-keys.js';
import type { Database } from './schema.js';

type ClientRow = Database['oidc_clients'];

function toClient(r: Omit<ClientRow, 'secret_hash'>): OidcClient {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    redirectUris: JSON.parse(r.redirect_uris) as string[],
    kind: r.kind as OidcClientKind,
    requireMfa: Number(r.require_mfa) === 1,
    createdAt: r.created_at,
  };
}

const CLIENT_COLUMNS = ['id', 'org_id', 'name', 'redirect_uris', 'kind', 'require_mfa', 'created_at'] as const;

export class KyselyOidcClientRepository implements OidcClientRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async add(c: OidcClient, secretHash: string | null) {
    await this.db
      .insertInto('oidc_clients')
      .values({
        id: c.id,
        org_id: c.orgId,
        name: c.name,
        redirect_uris: JSON.stringify(c.redirectUris),
        kind: c.kind,
        secret_hash: secretHash,
        require_mfa: c.requireMfa ? 1 : 0,
        created_at: c.createdAt,
      })
      .execute();
  }

  async find(id: string) {
    const r = await this.db.selectFrom('oidc_clients').select(CLIENT_COLUMNS).where('id', '=', id).executeTakeFirst();
    return r && toClient(r);
  }

  async secretMatches(id: string, hash: string) {
    return !!(await this.db
      .selectFrom('oidc_clients')
      .select('id')
      .where('id', '=', id)
      .where('secret_hash', '=', hash)
      .executeTakeFirst());
  }

  async rehashSecret(id: string, from: string, to: string) {
    const r = await this.db
      .updateTable('oidc_clients')
      .set({ secret_hash: to })
      .where('id', '=', id)
      .where('secret_hash', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async list(orgId: string) {
    return (
      await this.db
        .selectFrom('oidc_clients')
        .select(CLIENT_COLUMNS)
        .where('org_id', '=', orgId)
        .orderBy('name')
        .orderBy('id')
        .execute()
    ).map(toClient);
  }

  async remove(orgId: string, id: string) {
    const r = await this.db
      .deleteFrom('oidc_clients')
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) !== 1) return false;
    // What the provider issued to the client goes with it (its payloads name it in `clientId`).
    await this.db.deleteFrom('oidc_payloads').where('payload', 'like', `%"clientId":"${id}"%`).execute();
    return true;
  }
}

export class KyselySigningKeyRepository implements SigningKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<StoredSigningKey[]> {
    const rows = await this.db
      .selectFrom('oidc_signing_keys')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return rows.map((r) => ({ kid: r.kid, sealed: r.private_jwk_enc, createdAt: r.created_at }));
  }

  async add(k: StoredSigningKey) {
    await this.db
      .insertInto('oidc_signing_keys')
      .values({ kid: k.kid, private_jwk_enc: k.sealed, created_at: k.createdAt })
      .execute();
  }

  async replaceSealed(kid: string, from: string, to: string) {
    const r = await this.db
      .updateTable('oidc_signing_keys')
      .set({ private_jwk_enc: to })
      .where('kid', '=', kid)
      .where('private_jwk_enc', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async dropAllButNewest() {
    const keep = (await this.list())[0];
    if (!keep) return 0;
    const r = await this.db.deleteFrom('oidc_signing_keys').where('kid', '!=', keep.kid).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/**
 * The models whose id is a bearer secret: the value an app (or whoever holds it) presents is the id
 * itself (oidc-provider's opaque format). These are stored under a keyed hash of the id, and the
 * copy of the id the payload carries (`jti`) is replaced by that hash too, so neither the store nor
 * a backup holds a usable code or token. The other models (Session, Interaction, Grant…) are named
 * by ids that are no credential on their own (the provider's cookies that carry them are signed).
 * DeviceCode is left out: the device flow is not enabled (provider.ts), and the provider finds a
 * device code by its user code and then saves it again by its id, which a hash could not give back.
 */
export const HASHED_MODELS: ReadonlySet<string> = new Set([
  'AuthorizationCode',
  'AccessToken',
  'RefreshToken',
  'ClientCredentials',
  'BackchannelAuthenticationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
]);

/** How often an upsert also deletes long-expired rows: often enough to bound the table, rarely enough to cost nothing. */
const SWEEP_CHANCE = 0.01;
/** Expired rows are kept a day, so a late replay of a code still finds it consumed rather than unknown. */
const SWEEP_GRACE_MS = 86_400_000;

export class KyselyOidcPayloads implements OidcPayloadStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly hasher: KeyedHasher,
  ) {}

  /** The keyed hash a bearer model's id (or user code) is stored under; domain-separated by model. */
  private hashOf(model: string, value: string): string {
    return this.hasher.digest(`oidc ${model}`, value);
  }

  /** Every id (model, id) may be stored under: itself, or its keyed hash under the current and previous keys. */
  private storedIds(model: string, id: string): string[] {
    return HASHED_MODELS.has(model) ? this.hasher.digests(`oidc ${model}`, id) : [id];
  }

  /** Stores `payload` for (model, id), replacing what was there; `expiresIn` in seconds. */
  async upsert(model: string, id: string, payload: OidcPayload, expiresIn: number | undefined): Promise<void> {
    const hashed = HASHED_MODELS.has(model);
    const storedId = hashed ? this.hashOf(model, id) : id;
    // The payload's `jti` is the id (the token itself): it is stored as the hash, and given back on find.
    const stored = hashed && 'jti' in payload ? { ...payload, jti: storedId } : payload;
    const row = {
      payload: JSON.stringify(stored),
      grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
      uid: typeof payload.uid === 'string' ? payload.uid : null,
      user_code: typeof payload.userCode === 'string' ? payload.userCode : null,
      expires_at: expiresIn ? this.now() + expiresIn * 1000 : null,
    };
    await this.db
      .insertInto('oidc_payloads')
      .values({ model, id: storedId, consumed_at: null, ...row })
      .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(row))
      .execute();
    if (Math.random() < SWEEP_CHANCE) await this.sweep();
  }

  async find(model: string, id: string): Promise<OidcPayload | undefined> {
    const byId = (storedId: string) =>
      this.read(
        this.db
          .selectFrom('oidc_payloads')
          .select(['payload', 'expires_at', 'consumed_at'])
          .where('model', '=', model)
          .where('id', '=', storedId),
      );
    if (!HASHED_MODELS.has(model)) return byId(id);
    // Under the current hash key, and after a rotation of it under the previous keys (tokens live two weeks at most).
    const hit = await findByKeyedHash(this.hasher, `oidc ${model}`, id, byId);
    return hit && this.restore(hit.found, id);
  }

  /** A bearer model's payload as the provider stored it: its `jti` as given, not its hash. */
  private restore(p: OidcPayload, id: string): OidcPayload {
    return 'jti' in p ? { ...p, jti: id } : p;
  }

  async findByUid(model: string, uid: string): Promise<OidcPayload | undefined> {
    return this.read(
      this.db
        .selectFrom('oidc_payloads')
        .select(['payload', 'expires_at', 'consumed_at'])
        .where('model', '=', model)
        .where('uid', '=', uid),
    );
  }

  async findByUserCode(model: string, userCode: string): Promise<OidcPayload | undefined> {
    return this.read(
      this.db
        .selectFrom('oidc_payloads')
        .select(['payload', 'expires_at', 'consumed_at'])
        .where('model', '=', model)
        .where('user_code', '=', userCode),
    );
  }

  /**
   * Marks (model, id) consumed. True for exactly one caller: a second consumption (a code sent twice
   * at once) finds it already consumed and gets false.
   */
  async consume(model: string, id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('oidc_payloads')
      .set({ consumed_at: this.now() })
      .where('model', '=', model)
      .where('id', 'in', this.storedIds(model, id))
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async destroy(model: string, id: string): Promise<void> {
    await this.db
      .deleteFrom('oidc_payloads')
      .where('model', '=', model)
      .where('id', 'in', this.storedIds(model, id))
      .execute();
  }

  /** Deletes everything issued under a grant, whatever its model (a code used twice revokes them all). */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
  }

  async revokeByAccount(accountId: string): Promise<void> {
    // Every model oidc-provider stores for a user names it in `accountId` (user ids are UUIDs: no
    // LIKE wildcards in them). Bound as a parameter all the same.
    await this.db
      .deleteFrom('oidc_payloads')
      .where('payload', 'like', `%"accountId":${JSON.stringify(accountId)}%`)
      .execute();
  }

  /** Deletes rows expired for more than a day. */
  async sweep(): Promise<number> {
    const r = await this.db
      .deleteFrom('oidc_payloads')
      .where('expires_at', '<', this.now() - SWEEP_GRACE_MS)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  private async read(q: {
    executeTakeFirst(): Promise<{ payload: string; expires_at: number | null; consumed_at: number | null } | undefined>;
  }): Promise<OidcPayload | undefined> {
    const r = await q.executeTakeFirst();
    if (!r || (r.expires_at !== null && r.expires_at <= this.now())) return undefined;
    const p = JSON.parse(r.payload) as OidcPayload;
    // The provider treats a truthy `consumed` as "used": a replayed code then revokes its grant.
    return r.consumed_at !== null ? { ...p, consumed: Math.floor(r.consumed_at / 1000) } : p;
  }
}
