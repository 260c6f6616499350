/**
 * Message lookup and language choice. The language comes from the `lang` cookie set by the
 * visible switch, else from Accept-Language, else English.
 */
import { isLocale, type Locale } from '../domain/locale.js';
import { en, type MessageId } from './en.js';
import { nl } from './nl.js';

export { isLocale, LOCALES, type Locale } from '../domain/locale.js';

const CATALOGUES: Record<Locale, Record<MessageId, string>> = { en, nl };

/** Picks the best supported language from an Accept-Language header (q-values honoured). */
export function negotiateLocale(acceptLanguage: string | undefined): Locale {
  if (!acceptLanguage) return 'en';
  const ranked = acceptLanguage
    .split(',')
    .slice(0, 20)
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { base: tag.toLowerCase().split('-')[0] ?? '', q: q ? Number(q.slice(2)) || 0 : 1, i };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranked) if (isLocale(r.base)) return r.base;
  return 'en';
}

export type Translate = (id: MessageId, params?: Record<string, string | number>) => string;

export function translator(locale: Locale): Translate {
  const cat = CATALOGUES[locale];
  return (id, params) => {
    const text = cat[id] ?? en[id] ?? id;
    return params ? text.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m)) : text;
  };
}

/** Whether `id` is a known message (error codes map to `error.<code>`). */
export function hasMessage(id: string): id is MessageId {
  return id in en;
}
