/**
 * Client applications of the OpenID Connect provider ("browser apps"), registered per organization
 * by its admins. A confidential client gets a secret shown once and stored only as a keyed hash; a
 * public client has none and must use PKCE. Redirect URIs are exact strings (the provider compares
 * them exactly): https, or http on a loopback address for development. Only users of the client's
 * organization may sign in to it (checked where the interaction finishes, delivery/oidc).
 */
import { randomUUID } from 'node:crypto';
import { requireAdminOf, type Actor } from '../accounts/actor.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import { idFromFormNonce } from '../once-keys.js';
import { findByKeyedHash, randomToken, type KeyedHasher } from '../../lib/crypto/tokens.js';

export type OidcClientKind = 'confidential' | 'public';
export const OIDC_CLIENT_KINDS: readonly OidcClientKind[] = ['confidential', 'public'];

export interface OidcClient {
  /** The client_id: random, so it tells nothing about the organization. */
  id: string;
  orgId: string;
  name: string;
  redirectUris: string[];
  kind: OidcClientKind;
  /** A session without a second factor must prove (or register) one before a code is issued. */
  requireMfa: boolean;
  createdAt: number;
}

export interface OidcClientRepository {
  add(c: OidcClient, secretHash: string | null): Promise<void>;
  find(id: string): Promise<OidcClient | undefined>;
  /** Whether confidential client `id` is stored with secret hash `hash`. */
  secretMatches(id: string, hash: string): Promise<boolean>;
  /** Moves a client's secret hash from `from` to `to` if it is still `from` (after a rotation of the hash key). */
  rehashSecret(id: string, from: string, to: string): Promise<boolean>;
  list(orgId: string): Promise<OidcClient[]>;
  remove(orgId: string, id: string): Promise<boolean>;
}

export interface NewOidcClient {
  name: string;
  redirectUris: string[];
  kind: string;
  requireMfa?: boolean;
  /**
   * The add form's one-time nonce: the client's id is derived from it, so the same form posted again
   * (a double click, a reload) adds nothing more and answers `repeated`.
   */
  formNonce?: string;
}

const SECRET_PURPOSE = 'oidc-client-secret';
const MAX_REDIRECT_URIS = 10;

/**
 * Whether `raw` may be a redirect URI: an absolute https URL, or http on a loopback address
 * (127.0.0.1, [::1], localhost) for development; no fragment (RFC 6749 3.1.2), no user info,
 * at most 500 characters. The string is kept as given, since the provider compares exactly.
 */
export function validRedirectUri(raw: string): boolean {
  if (raw.length === 0 || raw.length > 500 || /[\s\u0000-\u001f\u007f]/.test(raw)) return false;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  if (u.hash || raw.includes('#') || u.username || u.password) return false;
  if (u.protocol === 'https:') return u.hostname.length > 0;
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === '[::1]' || u.hostname === 'localhost');
}

export class OidcClients {
  constructor(
    private readonly repo: OidcClientRepository,
    private readonly hasher: KeyedHasher,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * Registers a client application for organization `orgId`. Returns the client and, for a
   * confidential one, its secret: shown once, never stored in clear.
   *
   * @example
   *   const { client, secret } = await clients.add(OPERATOR, org.id, { name: 'Grafana', redirectUris: ['https://grafana.contoso.test/login/generic_oauth'], kind: 'confidential' });
   */
  async add(
    actor: Actor,
    orgId: string,
    input: NewOidcClient,
  ): Promise<{ client: OidcClient; secret?: string; repeated?: true }> {
    requireAdminOf(actor, orgId);
    const name = input.name.trim();
    if (name.length === 0 || name.length > 100 || /[\u0000-\u001f\u007f]/.test(name))
      throw new SesameError('invalid_name', 'client name empty, too long or with control characters');
    if (!OIDC_CLIENT_KINDS.includes(input.kind as OidcClientKind))
      throw new SesameError('invalid_input', `client kind ${JSON.stringify(input.kind.slice(0, 20))}`);
    const uris = [...new Set(input.redirectUris.map((u) => u.trim()).filter((u) => u.length > 0))];
    if (uris.length === 0 || uris.length > MAX_REDIRECT_URIS)
      throw new SesameError('invalid_redirect_uri', `${uris.length} redirect URIs (1 to ${MAX_REDIRECT_URIS})`);
    const bad = uris.find((u) => !validRedirectUri(u));
    if (bad !== undefined)
      throw new SesameError('invalid_redirect_uri', `refused redirect URI ${JSON.stringify(bad.slice(0, 100))}`);
    const id =
      input.formNonce === undefined ? randomUUID() : idFromFormNonce('oidc-client-form', orgId, input.formNonce);
    if (input.formNonce !== undefined) {
      const existing = await this.repo.find(id);
      if (existing?.orgId === orgId) return { client: existing, repeated: true };
    }
    const client: OidcClient = {
      id,
      orgId,
      name,
      redirectUris: uris,
      kind: input.kind as OidcClientKind,
      requireMfa: input.requireMfa === true,
      createdAt: this.clock.now(),
    };
    const secret = client.kind === 'confidential' ? randomToken(32) : undefined;
    try {
      await this.repo.add(client, secret ? this.hasher.digest(SECRET_PURPOSE, secret) : null);
    } catch (e) {
      // The same form posted twice at once: the other post added it (the id is the nonce's).
      const existing = input.formNonce === undefined ? undefined : await this.repo.find(id);
      if (existing?.orgId === orgId) return { client: existing, repeated: true };
      throw e;
    }
    await this.record(
      actor,
      orgId,
      'oidc.client_added',
      `${client.name} (${client.id}, ${client.kind}${client.requireMfa ? ', MFA always' : ''})`,
    );
    return { client, secret };
  }

  /** The clients of organization `orgId`, by name. */
  async list(actor: Actor, orgId: string): Promise<OidcClient[]> {
    requireAdminOf(actor, orgId);
    return this.repo.list(orgId);
  }

  /** Removes a client of organization `orgId`; its tokens stop working at once (the provider finds no client). */
  async remove(actor: Actor, orgId: string, id: string): Promise<void> {
    requireAdminOf(actor, orgId);
    if (!(await this.repo.remove(orgId, id)))
      throw new SesameError('oidc_client_not_found', `no client ${id.slice(0, 64)} in organization ${orgId}`);
    await this.record(actor, orgId, 'oidc.client_removed', id);
  }

  /** The client behind a client_id (the provider asks on every request), or undefined. */
  async find(id: string): Promise<OidcClient | undefined> {
    if (id.length === 0 || id.length > 64) return undefined;
    return this.repo.find(id);
  }

  /**
   * Whether `secret` is the secret of confidential client `id`: one keyed hash, compared by the
   * store's index. A secret found under a previous hash key (after a rotation) is moved to the
   * current key: it lives as long as the app, so it must not depend on a key about to be dropped.
   */
  async secretIsRight(id: string, secret: string): Promise<boolean> {
    if (secret.length === 0 || secret.length > 200) return false;
    const hit = await findByKeyedHash(this.hasher, SECRET_PURPOSE, secret, async (h) =>
      (await this.repo.secretMatches(id, h)) ? true : undefined,
    );
    if (hit?.stale) await this.repo.rehashSecret(id, hit.hash, hit.current);
    return hit !== undefined;
  }

  private async record(actor: Actor, orgId: string, action: string, detail: string) {
    await this.audit.recordAudit(auditEvent(actor, this.clock.now(), { orgId, action, targetUserId: null, detail }));
  }
}
