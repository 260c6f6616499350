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
  const rules = new Intl.PluralRules(locale);
  return (id, params) => {
    const text = cat[id] ?? en[id] ?? id;
    if (!params) return text;
    return (text.includes(', plural,') ? plurals(text, params, rules) : text).replace(/\{(\w+)\}/g, (m, k: string) =>
      k in params ? String(params[k]) : m,
    );
  };
}

/**
 * Chooses the words that fit a number, as ICU MessageFormat writes it (the subset messages use):
 * `{count, plural, one {# session} other {# sessions}}`, with `=0 {...}` for an exact value and `#`
 * for the number. The categories are the language's own (Intl.PluralRules): "1 users" and
 * "sessie(s)" were what a single message for every number gave.
 */
function plurals(text: string, params: Record<string, string | number>, rules: Intl.PluralRules): string {
  let out = '';
  let i = 0;
  for (;;) {
    const start = text.indexOf('{', i);
    const head = start === -1 ? null : /^\{(\w+), plural,/.exec(text.slice(start));
    if (start === -1) return out + text.slice(i);
    if (!head) {
      out += text.slice(i, start + 1);
      i = start + 1;
      continue;
    }
    const n = Number(params[head[1]!]);
    const branches = new Map<string, string>();
    let j = start + head[0].length;
    for (;;) {
      const key = /^\s*(=\d+|zero|one|two|few|many|other)\s*\{/.exec(text.slice(j));
      if (!key) break;
      let depth = 1;
      let k = j + key[0].length;
      const bodyStart = k;
      for (; k < text.length && depth > 0; k++) depth += text[k] === '{' ? 1 : text[k] === '}' ? -1 : 0;
      branches.set(key[1]!, text.slice(bodyStart, k - 1));
      j = k;
    }
    const close = text.indexOf('}', j);
    const chosen = branches.get(`=${n}`) ?? branches.get(rules.select(n)) ?? branches.get('other') ?? '';
    out += text.slice(i, start) + chosen.replaceAll('#', String(n));
    i = close + 1;
  }
}

/** Whether `id` is a known message (error codes map to `error.<code>`). */
export function hasMessage(id: string): id is MessageId {
  return id in en;
}
