/**
 * How soon a change made through one instance must be seen by another (docs/performance.md,
 * "Answers kept in memory"): on SQLite at the next attempt; on PostgreSQL within CONFIRM_MS of
 * the change (storage/verify-listener.ts), since another instance learns of it by a notification.
 * The instance that made the change sees it at its next attempt on both stores.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONFIRM_MS } from '../../src/storage/verify-listener.js';
import type { StoreKind } from './stores.js';

/** The documented bound for another instance, per store (ms after the change returned). */
export function propagationMs(kind: StoreKind): number {
  return kind === 'sqlite' ? 0 : CONFIRM_MS;
}

/**
 * Tries `attempt` until `seen` holds for its answer and returns how long that took (ms from the
 * call). Fails when an attempt *started* later than the bound still has the old answer: on SQLite
 * the first attempt must see it.
 */
export async function seenWithin<T>(
  kind: StoreKind,
  what: string,
  attempt: () => Promise<T>,
  seen: (answer: T) => boolean,
): Promise<number> {
  const bound = propagationMs(kind);
  const t0 = performance.now();
  for (;;) {
    const startedAt = performance.now() - t0;
    const answer = await attempt();
    if (seen(answer)) return performance.now() - t0;
    assert.ok(
      startedAt < bound,
      `${what}: an attempt started ${startedAt.toFixed(1)} ms after the change (bound ${bound} ms on ${kind}) still had the old answer: ${JSON.stringify(answer).slice(0, 200)}`,
    );
    await sleep(2);
  }
}
