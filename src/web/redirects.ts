/**
 * Where to go after sign-in: only a path on this site. Refuses `//evil`, `/\evil`, `https:evil`,
 * `javascript:` and anything with control characters (checklist 34).
 */
export function safeNext(raw: unknown, fallback = '/account'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 500) return fallback;
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\')) return fallback;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) return fallback;
  try {
    const u = new URL(raw, 'http://sesame.invalid');
    if (u.origin !== 'http://sesame.invalid') return fallback;
    // Resolving dot segments can make a scheme-relative URL of a path: `/.//evil` and `/a/..//evil`
    // both become `//evil`, which a browser takes as another host. Checked again after resolving.
    const out = u.pathname + u.search + u.hash;
    return out.startsWith('//') ? fallback : out;
  } catch {
    return fallback;
  }
}
