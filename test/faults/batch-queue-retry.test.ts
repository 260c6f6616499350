/**
 * The batch queue across a store outage (issue #6 item 4): the sign-in log rows of the legacy
 * endpoints are written after the answer, in batches; a batch the store refuses is held and tried
 * again a bounded number of times, so a short outage loses nothing, a long one gives up with one
 * line per lost batch, and memory stays bounded. The end-to-end proof on a real PostgreSQL restart
 * is in postgres-restart.test.ts; these pin the rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchQueue } from '../../src/lib/batch-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store that refuses writes while `down` is true, and records what it accepted. */
function flakyStore() {
  const s = {
    down: true,
    tries: 0,
    written: [] as number[],
    write: async (items: number[]) => {
      s.tries++;
      if (s.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      s.written.push(...items);
    },
  };
  return s;
}

describe('batch queue across a store outage', () => {
  it('holds a batch the store refuses and writes it once the store is back: nothing lost, in order', async () => {
    const store = flakyStore();
    const retried: [number[], number][] = [];
    const lost: number[][] = [];
    const q = new BatchQueue<number>({
      write: store.write,
      intervalMs: 5,
      retries: 5,
      retryDelayMs: 20,
      retryMaxDelayMs: 40,
      onRetry: (_e, items, attempt) => retried.push([items, attempt]),
      onError: (_e, items) => lost.push(items),
    });
    for (let i = 0; i < 3; i++) q.push(i);
    await sleep(50); // first write at 5 ms fails, first retry at +20 ms fails
    assert.deepEqual(store.written, []);
    assert.equal(q.heldSize, 3);
    store.down = false;
    for (let i = 3; i < 5; i++) q.push(i);
    await sleep(150);
    assert.deepEqual([...store.written].sort(), [0, 1, 2, 3, 4], 'every item written once');
    assert.equal(q.heldSize, 0);
    assert.deepEqual(lost, []);
    assert.ok(
      retried.length >= 1 && retried.every(([items, a], i) => a === i + 1 && items.join() === '0,1,2'),
      `the refused batch was held and retried (${JSON.stringify(retried)})`,
    );
  });

  it('gives up after its retries, through onError with the lost items', async () => {
    const store = flakyStore();
    const lost: number[][] = [];
    const attempts: number[] = [];
    const q = new BatchQueue<number>({
      write: store.write,
      intervalMs: 1,
      retries: 3,
      retryDelayMs: 5,
      retryMaxDelayMs: 10,
      onRetry: (_e, _i, a) => attempts.push(a),
      onError: (_e, items) => lost.push(items),
    });
    q.push(1);
    q.push(2);
    // Until it gives up (about 30 ms of delays; a busy CI machine may take far longer to run them),
    // then a little more, so that a fourth retry, were there one, would have shown.
    for (const until = Date.now() + 10_000; lost.length === 0 && Date.now() < until; ) await sleep(10);
    await sleep(50);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(lost, [[1, 2]], 'given up once, with what was lost');
    assert.equal(store.tries, 4, 'the first write and three retries');
    assert.equal(q.heldSize, 0);
  });

  it('flush() tries what is held without using up a retry; close() gives up what is still held', async () => {
    const store = flakyStore();
    const lost: number[][] = [];
    const q = new BatchQueue<number>({
      write: store.write,
      intervalMs: 10_000,
      retries: 1,
      retryDelayMs: 10_000,
      onError: (_e, items) => lost.push(items),
    });
    q.push(7);
    await q.flush();
    assert.equal(q.heldSize, 1);
    // A reader flushing again and again during the outage (the sign-in log page reloaded) must not make the batch given up sooner.
    for (let i = 0; i < 5; i++) await q.flush();
    assert.equal(q.heldSize, 1);
    assert.deepEqual(lost, []);
    store.down = false;
    await q.flush();
    assert.deepEqual(store.written, [7], 'flush() writes what was held once the store is back');
    store.down = true;
    q.push(8);
    await q.close();
    assert.deepEqual(lost, [[8]], 'close() reports what it could not write');
    assert.equal(q.heldSize, 0);
  });

  it('holds at most maxHeld items: beyond it the oldest are given up', async () => {
    const store = flakyStore();
    const lost: number[][] = [];
    const q = new BatchQueue<number>({
      write: store.write,
      intervalMs: 10_000,
      chunk: 2,
      retries: 5,
      retryDelayMs: 10_000,
      maxHeld: 4,
      onError: (_e, items) => lost.push(items),
    });
    for (let i = 0; i < 6; i++) q.push(i);
    await q.flush();
    assert.deepEqual(lost, [[0, 1]], 'the oldest chunk went first');
    assert.equal(q.heldSize, 4);
    await q.close();
  });

  it('without retries (the default), a refused batch is given up at once, as before', async () => {
    const store = flakyStore();
    const lost: number[][] = [];
    const q = new BatchQueue<number>({
      write: store.write,
      intervalMs: 10_000,
      onError: (_e, items) => lost.push(items),
    });
    q.push(1);
    await q.flush();
    assert.deepEqual(lost, [[1]]);
    assert.equal(q.heldSize, 0);
  });
});
