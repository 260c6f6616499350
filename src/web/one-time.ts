/**
 * Post/redirect/get for a secret made by a form (a new app password, new recovery codes): the POST
 * makes it and redirects (303); the GET it redirects to shows it, once. In between the secret is
 * kept in a short-lived cookie sealed (AES-256-GCM) under a key derived from the cookie key, bound
 * to the session and to what it shows: never in a URL, never in the store, unreadable to scripts,
 * and useless in another session. The GET that shows it clears the cookie, so a reload or a second
 * GET shows "already shown", and a reload of the POST's page is a GET that makes nothing.
 */
import { hkdfSync } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../domain/clock.js';
import type { Session } from '../domain/sessions/session.js';
import { createAead } from '../lib/crypto/aead.js';
import { sessionCookieOptions, type WebSettings } from './cookies.js';
import type { Services } from './services.js';

/** How long the secret waits for the page that shows it. */
export const SHOWN_ONCE_SECONDS = 300;

const derive = (cookieKey: Buffer) =>
  Buffer.from(hkdfSync('sha256', cookieKey, Buffer.alloc(0), 'sesame one-time display', 32));

export interface OneTimeDisplay {
  /** Seals `value` for the next GET of this session that asks for `what` (e.g. `app-password:<id>`). */
  keep(reply: FastifyReply, session: Session, what: string, value: unknown): void;
  /** The value kept for `what` in this session, once: the cookie is cleared whatever it held. */
  take(req: FastifyRequest, reply: FastifyReply, session: Session, what: string): unknown;
}

export function oneTimeDisplay(secrets: Services['secrets'], web: WebSettings, clock: Clock): OneTimeDisplay {
  const aead = createAead(derive(secrets.cookieKey), (secrets.previous?.cookieKey ?? []).map(derive));
  const name = web.cookies.shown;
  const opts = sessionCookieOptions(web);
  const aad = (session: Session, what: string) => `shown-once\0${session.id}\0${what}`;
  return {
    keep(reply, session, what, value) {
      const sealed = aead.seal(
        JSON.stringify({ until: clock.now() + SHOWN_ONCE_SECONDS * 1000, value }),
        aad(session, what),
      );
      reply.setCookie(name, sealed, { ...opts, maxAge: SHOWN_ONCE_SECONDS });
    },
    take(req, reply, session, what) {
      const sealed = req.cookies[name];
      if (sealed === undefined) return undefined;
      reply.clearCookie(name, opts);
      try {
        const kept = JSON.parse(aead.open(sealed, aad(session, what))) as { until: number; value: unknown };
        return clock.now() <= kept.until ? kept.value : undefined;
      } catch {
        return undefined; // another session's, another secret's, expired keys, or not ours at all
      }
    },
  };
}
