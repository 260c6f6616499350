import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SesameError } from '../../src/domain/errors.js';
import { instantToLocal, localToInstant, parseTimeZone } from '../../src/domain/time-zone.js';
import { timeFormat } from '../../src/i18n/format.js';

const T = Date.UTC(2026, 11, 7, 15, 5, 12);

describe('times for people (#17, item 3)', () => {
  it("writes a time in the reader's language and the organization's zone", () => {
    assert.equal(timeFormat('nl', 'Europe/Amsterdam', T).at(T), '7 dec 2026, 16:05:12 CET');
    assert.equal(timeFormat('en', null, T).at(T), 'Dec 7, 2026, 3:05:12 PM UTC');
    assert.equal(timeFormat('en', 'America/New_York', T).day(T), 'Dec 7, 2026');
  });
  it('says how long ago in words, and whether a time is recent enough to say so', () => {
    const nl = timeFormat('nl', 'Europe/Amsterdam', T);
    const en = timeFormat('en', 'UTC', T);
    assert.equal(en.ago(T - 10_000), 'now');
    assert.equal(en.ago(T - 5 * 60_000), '5 minutes ago');
    assert.equal(nl.ago(T - 5 * 60_000), '5 minuten geleden');
    assert.equal(en.ago(T - 3 * 3600_000), '3 hours ago');
    assert.equal(nl.ago(T - 24 * 3600_000), 'gisteren');
    assert.equal(en.ago(T + 3 * 24 * 3600_000), 'in 3 days');
    assert.equal(en.recent(T - 6 * 24 * 3600_000), true);
    assert.equal(en.recent(T - 8 * 24 * 3600_000), false);
  });
  it('knows time zones by their canonical names and refuses others', () => {
    assert.equal(parseTimeZone(' europe/amsterdam '), 'Europe/Amsterdam');
    assert.equal(parseTimeZone('UTC'), 'UTC');
    for (const bad of ['Mars/Olympus_Mons', '', '../../etc', 'x'.repeat(80)])
      assert.throws(
        () => parseTimeZone(bad),
        (e: unknown) => e instanceof SesameError && e.code === 'invalid_policy',
        bad,
      );
  });
  it("reads a time typed in the organization's zone, across daylight-saving time", () => {
    assert.equal(localToInstant('2026-12-07T16:05', 'Europe/Amsterdam'), '2026-12-07T15:05:00.000Z', 'winter: +01:00');
    assert.equal(localToInstant('2026-07-01T12:00', 'Europe/Amsterdam'), '2026-07-01T10:00:00.000Z', 'summer: +02:00');
    assert.equal(localToInstant('2026-12-07T10:00', 'America/New_York'), '2026-12-07T15:00:00.000Z');
    assert.equal(
      localToInstant('2026-12-07T10:00Z', 'Europe/Amsterdam'),
      '2026-12-07T10:00Z',
      'a zoned time is left alone',
    );
    assert.equal(localToInstant('', 'Europe/Amsterdam'), '');
    assert.equal(localToInstant(undefined, 'Europe/Amsterdam'), undefined);
    assert.equal(instantToLocal(T, 'Europe/Amsterdam'), '2026-12-07T16:05');
    assert.equal(instantToLocal(Date.UTC(2026, 6, 1, 10), 'Europe/Amsterdam'), '2026-07-01T12:00');
  });
});
