/**
 * Server-side browser sessions. The cookie holds a 256-bit random token; the store keeps only its
 * keyed hash. A session records what was proved (`amr`, e.g. ["pwd"]) rather than a flag, so
 * that later steps (MFA, recent authentication before sensitive changes: recent-auth.ts) can ask for more.
 * Timeouts are enforced here, server-side: idle (last use) and absolute (since sign-in).
 */
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { findByKeyedHash, randomToken } from '../../lib/crypto/tokens.js';
import type { Clock } from '../clock.js';

export interface Session {
  id: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  amr: string[];
  ip: string;
  userAgent: string;
  /** When this session last proved a second factor; null if never. */
  mfaAt: number | null;
  /** When the password was last re-entered in this session ("Confirm your password"); null if never. */
  reauthAt?: number | null;
  /** How it was started: `web` (the pages, a cookie) or `api` (a bearer token); "My sessions" shows it. */
  via?: SessionVia;
}

export type SessionVia = 'web' | 'api';

export interface SessionRepository {
  create(s: Session & { tokenHash: string }): Promise<void>;
  findByTokenHash(tokenHash: string): Promise<Session | undefined>;
  findById(id: string): Promise<Session | undefined>;
  touch(id: string, at: number): Promise<void>;
  delete(id: string): Promise<void>;
  deleteAllForUser(userId: string): Promise<number>;
  recordMfa(id: string, amr: string[], at: number): Promise<void>;
  /** Replaces the session's token hash and records a fresh second factor, in one write. */
  reissue(id: string, tokenHash: string, amr: string[], mfaAt: number): Promise<void>;
  /** Replaces the session's token hash and records the password re-entered at `at`, in one write. */
  reissueAfterPassword(id: string, tokenHash: string, at: number): Promise<void>;
  /** The user's sessions, newest first (expired ones included; the service filters). */
  listForUser(userId: string): Promise<Session[]>;
  /** Ends one session of the user; false when the user has no session with that id. */
  deleteForUser(userId: string, id: string): Promise<boolean>;
  /** Ends every session of the user but `keepId`; returns how many ended. */
  deleteOthersForUser(userId: string, keepId: string): Promise<number>;
}

export interface SessionSettings {
  idleMs: number;
  absoluteMs: number;
}

const TOKEN_PURPOSE = 'session';
/** Writing last-seen on every request would cost a write per page; a minute's slack is harmless. */
const TOUCH_EVERY_MS = 60_000;

export class SessionService {
  constructor(
    private readonly repo: SessionRepository,
    private readonly hasher: KeyedHasher,
    private readonly clock: Clock,
    private readonly settings: SessionSettings,
  ) {}

  /** Starts a new session (always a new id: no fixation) and returns the token for the cookie. */
  async start(
    userId: string,
    amr: string[],
    meta: { ip: string; userAgent: string; via?: SessionVia },
    mfaAt: number | null = null,
  ): Promise<{ token: string; session: Session }> {
    const token = randomToken(32);
    const now = this.clock.now();
    const session: Session = {
      id: randomToken(16),
      userId,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.settings.absoluteMs,
      amr,
      ip: meta.ip,
      userAgent: meta.userAgent.slice(0, 500),
      mfaAt,
      reauthAt: null,
      via: meta.via ?? 'web',
    };
    await this.repo.create({ ...session, tokenHash: this.hasher.digest(TOKEN_PURPOSE, token) });
    return { token, session };
  }

  /** The live session behind a cookie token, or undefined (unknown, idle too long, or past its absolute end). */
  async resume(token: string | undefined): Promise<Session | undefined> {
    if (!token || token.length > 100) return undefined;
    // A session started before a rotation of the hash key is found under the previous key; it is
    // short-lived, so it is not moved to the new key but simply ends on its own.
    const s = (await findByKeyedHash(this.hasher, TOKEN_PURPOSE, token, (h) => this.repo.findByTokenHash(h)))?.found;
    if (!s) return undefined;
    const now = this.clock.now();
    if (now >= s.expiresAt || now - s.lastSeenAt >= this.settings.idleMs) {
      await this.repo.delete(s.id);
      return undefined;
    }
    if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
      await this.repo.touch(s.id, now);
      s.lastSeenAt = now;
    }
    return s;
  }

  /** A fresh second factor was proved in this session (step-up before a sensitive change). */
  async recordMfa(id: string, amr: string[], at: number): Promise<void> {
    await this.repo.recordMfa(id, amr, at);
  }

  /**
   * The user proved a second factor again in this session (step-up): the session gets a new token,
   * so whatever held the old one (a planted or stolen cookie) is left behind (checklist 27). The
   * session keeps its start and absolute end. Returns the new token for the cookie.
   */
  async reauthenticated(id: string, amr: string[], at: number): Promise<string> {
    const token = randomToken(32);
    await this.repo.reissue(id, this.hasher.digest(TOKEN_PURPOSE, token), amr, at);
    return token;
  }

  /**
   * The user re-entered their password in this session ("Confirm your password", recent
   * authentication for a user without a method): like a step-up, the session gets a new token so a
   * stolen copy of the old one does not share the proof. Returns the new token.
   */
  async reauthenticatedWithPassword(id: string, at: number): Promise<string> {
    const token = randomToken(32);
    await this.repo.reissueAfterPassword(id, this.hasher.digest(TOKEN_PURPOSE, token), at);
    return token;
  }

  async end(id: string): Promise<void> {
    await this.repo.delete(id);
  }

  /** Whether session `id` is still live: not ended, not idle too long, not past its absolute end. */
  async isLive(id: string): Promise<boolean> {
    const s = await this.repo.findById(id);
    const now = this.clock.now();
    return s !== undefined && now < s.expiresAt && now - s.lastSeenAt < this.settings.idleMs;
  }

  async endAllForUser(userId: string): Promise<number> {
    return this.repo.deleteAllForUser(userId);
  }

  /** The user's live sessions (browser and API), most recently used first ("My sessions"). */
  async listLive(userId: string): Promise<Session[]> {
    const now = this.clock.now();
    const live = (await this.repo.listForUser(userId)).filter(
      (s) => now < s.expiresAt && now - s.lastSeenAt < this.settings.idleMs,
    );
    return live.sort((a, b) => b.lastSeenAt - a.lastSeenAt || b.createdAt - a.createdAt);
  }

  /** Ends one of the user's own sessions; false when it is not theirs (or already over). */
  async endOwn(userId: string, id: string): Promise<boolean> {
    return this.repo.deleteForUser(userId, id);
  }

  /** Ends every session of the user except `keepId` (the one asking); returns how many ended. */
  async endOthers(userId: string, keepId: string): Promise<number> {
    return this.repo.deleteOthersForUser(userId, keepId);
  }
}
