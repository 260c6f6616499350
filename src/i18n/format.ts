/** How times are written for people: on pages (their language, their organization's time zone), in mails and by the CLI. */
import type { Locale } from '../domain/locale.js';

/** `2026-12-06 19:07:56 UTC`: one form for every reader, whatever their time zone (the CLI, logs, exports). */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

/** Times as a page shows them to one reader. */
export interface TimeFormat {
  /** The exact time: "7 dec 2026, 16:05:12 CET", "Dec 7, 2026, 4:05:12 PM UTC". */
  at(ms: number): string;
  /** The day only: "7 dec 2026". */
  day(ms: number): string;
  /** How long ago (or how far ahead) from now: "5 minuten geleden", "in 3 days", "yesterday". */
  ago(ms: number): string;
  /** Whether `ago` reads better than `at` in a list: within a week either way. */
  recent(ms: number): boolean;
  /** The hour and minute only: "16:00". */
  clock(ms: number): string;
  /** The machine-readable form for `<time datetime>`. */
  iso(ms: number): string;
  /** The time zone the times are in. */
  readonly timeZone: string;
}

const WEEK = 7 * 24 * 3600_000;
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600_000],
  ['month', 30 * 24 * 3600_000],
  ['week', WEEK],
  ['day', 24 * 3600_000],
  ['hour', 3600_000],
  ['minute', 60_000],
  ['second', 1000],
];

// Building an Intl formatter costs tens of microseconds; a page may format a hundred times.
const formats = new Map<
  string,
  { at: Intl.DateTimeFormat; day: Intl.DateTimeFormat; clock: Intl.DateTimeFormat; rel: Intl.RelativeTimeFormat }
>();

function formatsFor(locale: Locale, timeZone: string) {
  const key = `${locale}|${timeZone}`;
  let f = formats.get(key);
  if (!f) {
    f = {
      at: new Intl.DateTimeFormat(locale, {
        dateStyle: 'medium',
        timeStyle: 'long',
        timeZone,
      }),
      day: new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone }),
      clock: new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone }),
      rel: new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }),
    };
    formats.set(key, f);
  }
  return f;
}

/**
 * The times of one page: `locale` is the reader's language, `timeZone` their organization's (an
 * IANA name; UTC when it has none), `now` the moment relative times count from.
 */
export function timeFormat(locale: Locale, timeZone: string | null | undefined, now: number): TimeFormat {
  const zone = timeZone ?? 'UTC';
  const f = formatsFor(locale, zone);
  return {
    timeZone: zone,
    at: (ms) => f.at.format(ms),
    day: (ms) => f.day.format(ms),
    clock: (ms) => f.clock.format(ms),
    iso: (ms) => new Date(ms).toISOString(),
    recent: (ms) => Math.abs(now - ms) < WEEK,
    ago(ms) {
      const d = ms - now;
      if (Math.abs(d) < 45_000) return f.rel.format(0, 'second');
      for (const [unit, size] of UNITS)
        if (Math.abs(d) >= size || unit === 'second') return f.rel.format(Math.round(d / size), unit);
      return f.rel.format(0, 'second');
    },
  };
}
