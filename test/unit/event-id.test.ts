/** Log-row ids are UUID version 7: well-formed, unique, and sorted by time (so inserts append to the index). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventId } from '../../src/domain/audit/event-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('event ids', () => {
  it('are RFC 9562 version-7 UUIDs carrying the time in their first 48 bits', () => {
    const at = Date.UTC(2026, 10, 27, 3, 0, 0, 123);
    const id = eventId(at);
    assert.match(id, V7);
    assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), at);
  });

  it('sort by time, and never repeat within one millisecond', () => {
    const base = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 2000 }, (_, i) => eventId(base + Math.floor(i / 100)));
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 100; i < ids.length; i += 100) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    for (const id of ids) assert.match(id, V7);
  });
});
