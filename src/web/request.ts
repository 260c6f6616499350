/**
 * What Sesame adds to every request of the browser-facing routes: the visitor's language and its
 * translator (set by the language hook), and the session and user when signed in (set by the
 * session loader in guards.ts). Machine-facing routes have none of these.
 */
import type { User } from '../domain/accounts/model.js';
import type { Session } from '../domain/sessions/session.js';
import type { Locale, Translate } from '../i18n/i18n.js';

declare module 'fastify' {
  interface FastifyRequest {
    locale: Locale;
    t: Translate;
    session?: Session;
    user?: User;
    /** The signed-in user's organization's time zone (IANA), for the page's dates; unset: UTC. */
    timeZone?: string | null;
    /** The moment of the request by the application's clock, for "5 minutes ago". */
    clockNow?: number;
  }
}
