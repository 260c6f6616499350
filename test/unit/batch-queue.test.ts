import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchQueue } from '../../src/lib/batch-queue.js';

describe('batch queue', () => {
  it('writes on its interval, in chunks, in order, and everything on flush', async () => {
    const writes: number[][] = [];
    const q = new BatchQueue<number>({ write: async (items) => void writes.push(items), intervalMs: 20, chunk: 3 });
    for (let i = 0; i < 7; i++) q.push(i);
    assert.equal(writes.length, 0, 'nothing is written on push');
    // The interval's write runs chunk by chunk with a turn of the loop between: wait for all of it
    // (a fixed pause was too short on a loaded machine), but never call flush() here.
    for (const deadline = Date.now() + 5_000; writes.flat().length < 7 && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(writes, [[0, 1, 2], [3, 4, 5], [6]]);
    q.push(7);
    await q.flush();
    assert.deepEqual(writes.at(-1), [7]);
    assert.equal(q.size, 0);
  });

  it('writes at once when too much waits, and keeps going after a failed write', async () => {
    const written: number[] = [];
    const failed: number[][] = [];
    let first = true;
    const q = new BatchQueue<number>({
      write: async (items) => {
        if (first) {
          first = false;
          throw new Error('store down');
        }
        written.push(...items);
      },
      intervalMs: 10_000,
      chunk: 2,
      maxPending: 4,
      onError: (_e, items) => failed.push(items),
    });
    for (let i = 0; i < 4; i++) q.push(i);
    await q.flush();
    assert.deepEqual(failed, [[0, 1]]);
    assert.deepEqual(written, [2, 3]);
  });
});
