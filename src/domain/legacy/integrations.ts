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
  /** The last request it made with its good key (list() only; saved at most every ~10 s). */
  lastSeen?: IntegrationUse;
}

/** The endpoints an integration key opens. */
export type IntegrationEndpoint =
  | '/auth/mail'
  | '/auth/nginx-mail'
  | '/auth/radius'
  | '/oauth2/introspect'
  | '/auth/integration-check';

/**
 * One request of an integration with its good key, as `sesame integration check` and the admin
 * Integrations page show it: never a password and never a user name.
 */
export interface IntegrationUse {
  at: number;
  endpoint: IntegrationEndpoint;
  /** The service or protocol it named (Dovecot's service, nginx's Auth-Protocol, the introspection client_id), cut short. */
  service?: string;
  /** The client address it reported (remoteIp, Client-IP), cut short; absent when it sent none. */
  reportedAddress?: string;
  /** The TCP peer (or the trusted proxy's X-Forwarded-For) the request came from. */
  peer: string;
  /** `answered`: a yes or no about a password; `config_error`: refused as the integration's configuration error. */
  outcome: 'answered' | 'config_error';
}

/** A request with an unknown, revoked or missing integration key: it cannot be tied to a name. */
export interface BadKeyCall {
  at: number;
  endpoint: string;
  peer: string;
  /** Whether it sent a key at all (false: no Authorization header, or not a Bearer integration key). */
  keySent: boolean;
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
  /** Keeps each integration's last request with its good key (one statement per integration). */
  recordSeen(uses: { id: string; use: IntegrationUse }[]): Promise<void>;
  /** Adds bad-key requests and keeps only the newest `keep` of all. */
  recordBadKeys(calls: BadKeyCall[], keep: number): Promise<void>;
  /** The newest bad-key requests, newest first. */
  recentBadKeys(limit: number): Promise<BadKeyCall[]>;
}

/** How often what the integrations sent is saved: the hot path only updates memory. */
export const SEEN_SAVE_INTERVAL_MS = 10_000;
/** Bad-key requests remembered (in memory and in the store). */
export const BAD_KEYS_KEPT = 20;

/** A noted request as it is kept and shown: what the caller chose, cut short; absent fields left out. */
function stored(u: IntegrationUse): IntegrationUse {
  const out: IntegrationUse = { at: u.at, endpoint: u.endpoint, peer: u.peer.slice(0, 64), outcome: u.outcome };
  if (u.service !== undefined) out.service = u.service.slice(0, 40);
  if (u.reportedAddress !== undefined) out.reportedAddress = u.reportedAddress.slice(0, 64);
  return out;
}

const PURPOSE = 'integration-key';
const KEY_PREFIX = 'sesame_int_';

export class Integrations {
  /** When each (integration, detail) was last written: a misconfigured server asks on every connection. */
  private readonly configErrorsWritten = new Map<string, number>();

  /** Keys already checked, so the hot path does not read the store for every request. Cleared on remove. */
  private readonly cache = new Map<string, { integration: Integration; until: number }>();

  /**
   * What each integration last sent with its good key (one entry per integration: only a good key
   * makes one), and the newest bad-key requests. Kept in memory on the request path; saved by a
   * timer at most every SEEN_SAVE_INTERVAL_MS, so a busy mail server costs no store write per login.
   */
  private readonly lastUse = new Map<string, IntegrationUse>();
  private readonly unsavedUses = new Set<string>();
  private badKeys: BadKeyCall[] = [];
  private unsavedBadKeys: BadKeyCall[] = [];
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

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

  /** Notes a request made with `integration`'s good key (memory only; saved later). */
  noteUse(integration: Integration, use: Omit<IntegrationUse, 'at'>): void {
    // Kept as given, in an object of one shape (object spreads here cost ~3 µs a request, measured;
    // this ~0.2 µs); cut short where it leaves memory (stored()).
    this.lastUse.set(integration.id, {
      at: this.clock.now(),
      endpoint: use.endpoint,
      service: use.service,
      reportedAddress: use.reportedAddress,
      peer: use.peer,
      outcome: use.outcome,
    });
    this.unsavedUses.add(integration.id);
    this.scheduleSave();
  }

  /** Notes a request whose key is unknown, revoked or missing (memory only; saved later). Bounded whatever the rate. */
  noteBadKey(call: Omit<BadKeyCall, 'at'>): void {
    const c = {
      at: this.clock.now(),
      endpoint: call.endpoint.slice(0, 40),
      peer: call.peer.slice(0, 64),
      keySent: call.keySent,
    };
    this.badKeys.unshift(c);
    if (this.badKeys.length > BAD_KEYS_KEPT) this.badKeys.length = BAD_KEYS_KEPT;
    this.unsavedBadKeys.unshift(c);
    if (this.unsavedBadKeys.length > BAD_KEYS_KEPT) this.unsavedBadKeys.length = BAD_KEYS_KEPT;
    this.scheduleSave();
  }

  private scheduleSave() {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, SEEN_SAVE_INTERVAL_MS);
    // A pending save never keeps the process alive; shutdown saves what is left (save()).
    this.saveTimer.unref();
  }

  /** Writes what was noted since the last save (shutdown, tests, readers). A failure is reported, not thrown. */
  async save(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const uses = [...this.unsavedUses].flatMap((id) => {
      const use = this.lastUse.get(id);
      return use ? [{ id, use: stored(use) }] : [];
    });
    const bad = this.unsavedBadKeys;
    this.unsavedUses.clear();
    this.unsavedBadKeys = [];
    this.saving = this.saving.then(async () => {
      try {
        if (uses.length) await this.repo.recordSeen(uses);
        if (bad.length) await this.repo.recordBadKeys(bad, BAD_KEYS_KEPT);
      } catch (e) {
        this.onBackgroundError(e);
      }
    });
    return this.saving;
  }

  /** The integrations, each with its last configuration error and what it last sent (this process's newer memory first). */
  async list(): Promise<Integration[]> {
    return (await this.repo.list()).map((i) => {
      const mine = this.lastUse.get(i.id);
      return mine && (!i.lastSeen || mine.at >= i.lastSeen.at) ? { ...i, lastSeen: stored(mine) } : i;
    });
  }

  /** The newest requests with an unknown, revoked or missing key (saved ones and this process's), newest first. */
  async recentBadKeys(limit = 10): Promise<BadKeyCall[]> {
    const saved = await this.repo.recentBadKeys(limit);
    const seen = new Set(saved.map((c) => `${c.at}\0${c.endpoint}\0${c.peer}`));
    return [...this.badKeys.filter((c) => !seen.has(`${c.at}\0${c.endpoint}\0${c.peer}`)), ...saved]
      .sort((a, b) => b.at - a.at)
      .slice(0, limit);
  }

  async remove(name: string): Promise<void> {
    if (!(await this.repo.remove(name))) throw new SesameError('invalid_input', `no integration ${name}`);
    this.cache.clear();
    for (const [id] of this.lastUse) this.unsavedUses.delete(id);
    this.lastUse.clear();
    await this.record('integration.remove', name);
  }

  /** Integrations are the operator's (CLI): of no organization, about no user. */
  private async record(action: string, detail: string) {
    await this.audit.recordAudit(
      auditEvent(OPERATOR, this.clock.now(), { orgId: null, action, targetUserId: null, detail }),
    );
  }
}
