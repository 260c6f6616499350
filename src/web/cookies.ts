/**
 * Every cookie Sesame sets, named and configured once. Behind https the names carry the `__Host-`
 * prefix: the browser then accepts them only Secure, host-only and with Path=/, so a sibling domain
 * cannot plant or overwrite one.
 */

export interface CookieNames {
  session: string;
  csrf: string;
  lang: string;
  /** The sign-in flow (password done, second factor or registration pending). */
  flow: string;
  /** A signed-in user's flow (add a method, confirm it is them), wherever it was started. */
  securityInfoFlow: string;
  /** "Don't ask again on this device". */
  trust: string;
  /** A password reset whose link was opened (second factor and new password pending). */
  reset: string;
  /** A secret just made, sealed until the page after the redirect shows it once (web/one-time.ts). */
  shown: string;
}

export interface WebSettings {
  secureCookies: boolean;
  cookies: CookieNames;
}

/** The cookie names and their Secure flag for a server answering at `publicUrl`. */
export function webSettings(publicUrl: string): WebSettings {
  const secure = publicUrl.startsWith('https://');
  const prefix = secure ? '__Host-' : '';
  return {
    secureCookies: secure,
    cookies: {
      session: `${prefix}sesame_session`,
      csrf: `${prefix}sesame_csrf`,
      lang: `${prefix}sesame_lang`,
      flow: `${prefix}sesame_flow`,
      securityInfoFlow: `${prefix}sesame_flow_si`,
      trust: `${prefix}sesame_trust`,
      reset: `${prefix}sesame_reset`,
      shown: `${prefix}sesame_shown`,
    },
  };
}

/**
 * Session and flow cookies: never readable by scripts; SameSite=Lax so that following a link to
 * Sesame keeps the visitor signed in, while every state change also needs a CSRF token.
 */
export function sessionCookieOptions(web: WebSettings) {
  return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: web.secureCookies };
}

/** The chosen language, kept for a year. */
export function languageCookieOptions(web: WebSettings) {
  return { ...sessionCookieOptions(web), maxAge: 365 * 24 * 3600 };
}

/** The CSRF secret: signed, and never sent on a cross-site request at all. */
export function csrfCookieOptions(web: WebSettings) {
  return { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: web.secureCookies, signed: true };
}
