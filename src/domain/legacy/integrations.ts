/**
 * Integrations: the mail servers and proxies allowed to ask about passwords (Dovecot, nginx's mail
 * proxy, an introspection client). Each gets a 256-bit key, shown once and stored as a keyed hash;
 * it is sent as `Authorization: Bearer <key>`. Only an integration's word about the client IP is
 * believed.
 */
import { randomUUID } from 'node:crypto';
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { randomToken } from '../../lib/crypto/tokens.js';
import { OPERATOR } from '../accounts/actor.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';

export interface Integration {
  id: string;
  name: string;
  createdAt: number;
  /** The last configuration error its calls showed (list() only). */
  lastConfigError?: { at: number; detail: string };
}

export interface IntegrationRepository {
  add(i: Integration, keyHash: string): Promise<void>;
  findByKeyHash(keyHash: string): Promise<Integration | undefined>;
  /** findByKeyHash for any of these hashes, in one statement; with the hash the integration holds. */
  findAmongKeyHashes(keyHashes: string[]): Promise<{ integration: Integration; keyHash: string } | undefined>;
  /** Moves an integration's key hash from `from` to `to` (after a rotation of the hash key); false if it no longer holds `from`. */
  rehash(id: string, from: string, to: string): Promise<boolean>;
  list(): Promise<Integration[]>;
  remove(name: string): Promise<boolean>;
  /** Keeps `detail` as the integration's last configuration error, at `at`. */
  recordConfigError(id: string, at: number, detail: string): Promise<void>;
}

const PURPOSE = 'integration-key';
const KEY_PREFIX = 'sesame_int_';

export class Integrations {
  /** When each (integration, detail) was last written: a misconfigured server asks on every connection. */
  private readonly configErrorsWritten = new Map<string, number>();

  /** Keys already checked, so the hot path does not read the store for every request. Cleared on remove. */
  private readonly cache = new Map<string, { integration: Integration; until: number }>();

  constructor(
    private readonly repo: IntegrationRepository,
    private readonly hasher: KeyedHasher,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
    private readonly onBackgroundError: (e: unknown) => void = () => undefined,
  ) {}

  /** Registers an integration and returns its key, once. */
  async add(nameRaw: string): Promise<{ integration: Integration; key: string }> {
    const name = nameRaw.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name))
      throw new SesameError('invalid_name', 'integration names: letters, digits, dot, dash, underscore; at most 63', {
        params: { max: 63 },
      });
    if ((await this.repo.list()).some((i) => i.name === name))
      throw new SesameError('invalid_name', `integration ${name} exists`, { params: { max: 63 } });
    const integration = { id: randomUUID(), name, createdAt: this.clock.now() };
    const key = `${KEY_PREFIX}${randomToken(32)}`;
    await this.repo.add(integration, this.hasher.digest(PURPOSE, key));
    await this.record('integration.add', name);
    return { integration, key };
  }

  /** The integration a bearer key belongs to, or undefined. Keys are checked at most once a minute per instance. */
  async verify(authorization: string | undefined): Promise<Integration | undefined> {
    const m = authorization ? /^Bearer (sesame_int_[A-Za-z0-9_-]{43})$/.exec(authorization) : null;
    if (!m) return undefined;
    const hash = this.hasher.digest(PURPOSE, m[1]!);
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.integration;
    let integration = await this.repo.findByKeyHash(hash);
    if (!integration && this.hasher.rotating) {
      // Made before a rotation of the hash key: stored under a previous key. Asked in one statement
      // with the current key's hash, in case another instance has just moved it. Found so, it moves
      // to the current key after the answer, so that the previous key can later be dropped without it.
      const hit = await this.repo.findAmongKeyHashes(this.hasher.digests(PURPOSE, m[1]!));
      integration = hit?.integration;
      if (hit && hit.keyHash !== hash)
        setImmediate(() => void this.repo.rehash(hit.integration.id, hit.keyHash, hash).catch(this.onBackgroundError));
    }
    if (integration) this.cache.set(hash, { integration, until: now + 60_000 });
    else this.cache.delete(hash);
    return integration;
  }

  /**
   * Records that a call of this integration showed a configuration error (a service name or protocol
   * Sesame does not know), so the operator sees it in `sesame integration list`. Not awaited by the
   * caller's answer; written at most once a minute per integration and detail, whatever the rate of calls.
   */
  reportConfigError(integration: Integration, detail: string): void {
    const now = this.clock.now();
    const key = `${integration.id}\0${detail}`;
    if ((this.configErrorsWritten.get(key) ?? -Infinity) > now - 60_000) return;
    if (this.configErrorsWritten.size >= 1000) this.configErrorsWritten.clear();
    this.configErrorsWritten.set(key, now);
    void this.repo.recordConfigError(integration.id, now, detail.slice(0, 300)).catch(this.onBackgroundError);
  }

  async list(): Promise<Integration[]> {
    return this.repo.list();
  }

  async remove(name: string): Promise<void> {
    if (!(await this.repo.remove(name))) throw new SesameError('invalid_input', `no integration ${name}`);
    this.cache.clear();
    await this.record('integration.remove', name);
  }

  /** Integrations are the operator's (CLI): of no organization, about no user. */
  private async record(action: string, detail: string) {
    await this.audit.recordAudit(
      auditEvent(OPERATOR, this.clock.now(), { orgId: null, action, targetUserId: null, detail }),
    );
  }
}
