/** Links and redirects: where a page may send the browser, and the URLs Sesame hands out. */

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

/** The path of the set-password page for a one-time link's token. */
export function setPasswordPath(token: string): string {
  return `/set-password?token=${encodeURIComponent(token)}`;
}

/** The one-time set-password link as a user opens it (printed by the CLI, shown to admins). */
export function setPasswordUrl(publicUrl: string, token: string): string {
  return `${publicUrl}${setPasswordPath(token)}`;
}

/** Where the OpenID Connect provider lives under the public URL; the issuer is SESAME_PUBLIC_URL + this. */
export const OIDC_PREFIX = '/oidc';

/** The OIDC issuer identifier for this deployment. */
export function oidcIssuer(publicUrl: string): string {
  return `${publicUrl.replace(/\/$/, '')}${OIDC_PREFIX}`;
}
