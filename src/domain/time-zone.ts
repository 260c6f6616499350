/**
 * The organization's time zone: an IANA name the runtime's ICU knows ("Europe/Amsterdam"),
 * kept in its canonical spelling so "europe/amsterdam" and "Europe/Amsterdam" are one setting.
 */
import { SesameError } from './errors.js';

/** The canonical name of `raw`; throws `invalid_policy` for a name ICU does not know. */
export function parseTimeZone(raw: string): string {
  const name = raw.trim();
  try {
    if (!/^[A-Za-z0-9_+\-/]{1,64}$/.test(name)) throw new RangeError();
    return new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new SesameError('invalid_policy', `unknown time zone ${JSON.stringify(name.slice(0, 64))}`, {
      params: { zone: name.slice(0, 64) },
    });
  }
}

/** The wall-clock fields of instant `ms` in zone `tz`, as UTC milliseconds (so their difference is the zone's offset). */
function wallClock(ms: number, tz: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(ms);
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second'));
}

/**
 * A date-time typed without a zone (a `datetime-local` field: "2026-12-07T09:30") read in zone
 * `tz`, as an ISO instant with `Z`; anything else (already zoned, empty, not a date) unchanged, for
 * the filter's own parser to accept or refuse. Around a daylight-saving change the later reading wins.
 */
export function localToInstant(value: unknown, tz: string): unknown {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?$/.test(value.trim())) return value;
  const asUtc = Date.parse(`${value.trim()}Z`);
  if (!Number.isFinite(asUtc)) return value;
  let ms = asUtc - (wallClock(asUtc, tz) - asUtc);
  ms = asUtc - (wallClock(ms, tz) - ms);
  return new Date(ms).toISOString();
}

/** Instant `ms` as a `datetime-local` value ("2026-12-07T09:30") in zone `tz`. */
export function instantToLocal(ms: number, tz: string): string {
  return new Date(wallClock(ms, tz)).toISOString().slice(0, 16);
}
