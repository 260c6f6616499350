/**
 * Good app passwords' verification rows kept in memory (issue #21, item 1): a phone polling every
 * few minutes is answered without the store. Whatever can change an answer is announced by the
 * store (migration 29: SQLite raises an epoch, PostgreSQL notifies); the store's `Freshness` turns
 * that into a token, and every row is kept under the token it was read at. A new token drops them
 * all; no token (PostgreSQL's listening connection not known to be healthy) means nothing is kept
 * or answered from memory. Only rows the store gave are kept: a wrong password is always read.
 */
import type { VerificationRow } from '../app-passwords/model.js';

export interface Freshness {
  /**
   * Equal from one call to the next while nothing that decides an answer has changed; undefined
   * when that cannot be known now. Synchronous and cheap: asked at every attempt.
   */
  token(): number | undefined;
}

/** What the cache did for the attempts so far (for metrics): answered, read and kept, or bypassed. */
export interface AnswerCacheCounts {
  hits: number;
  misses: number;
  /** Attempts while the store could not vouch for memory (PostgreSQL's listener not confirmed). */
  bypassed: number;
  rows: number;
}

export class AnswerCache {
  private readonly rows = new Map<string, VerificationRow>();
  private hits = 0;
  private misses = 0;
  private bypassed = 0;
  /** The token the rows were read under. */
  private heldAt: number | undefined;

  constructor(
    private readonly freshness: Freshness,
    /** Rows kept at most (a few hundred bytes each); past it, all go and the cache fills again. */
    private readonly max = 100_000,
  ) {}

  /** The token now, dropping every row if it moved. Undefined: answer from the store, keep nothing. */
  token(): number | undefined {
    const t = this.freshness.token();
    if (t !== this.heldAt) {
      this.rows.clear();
      this.heldAt = t;
    }
    return t;
  }

  /** The row kept for `hash` under `token` (token() just gave it), counting the attempt. */
  get(hash: string, token: number | undefined): VerificationRow | undefined {
    if (token === undefined) {
      this.bypassed++;
      return undefined;
    }
    const row = this.rows.get(hash);
    if (row) this.hits++;
    else this.misses++;
    return row;
  }

  counts(): AnswerCacheCounts {
    return { hits: this.hits, misses: this.misses, bypassed: this.bypassed, rows: this.rows.size };
  }

  /**
   * Keeps a row read after token() gave `token`, if the token has not moved since: a change that
   * committed while the row was being read may have made it stale, and it is then not kept.
   */
  put(hash: string, row: VerificationRow, token: number | undefined): void {
    if (token === undefined || this.token() !== token) return;
    if (this.rows.size >= this.max) this.rows.clear();
    this.rows.set(hash, row);
  }

  get size(): number {
    return this.rows.size;
  }
}
