/**
 * Dovecot's doveadm HTTP API, told when what it may have cached about a user is stale (an app
 * password revoked, the user disabled, a new main password, an MFA state change): it flushes the
 * user's entries from Dovecot's auth cache (so the change holds at once, not at the cache TTL) and
 * kicks the user's open IMAP/POP3 sessions.
 * Best effort: a failure is logged; the revocation itself has already happened in the store.
 */
export interface DovecotAdmin {
  revoked(user: string): Promise<void>;
}

export interface DovecotAdminOptions {
  /** e.g. http://127.0.0.1:8082/doveadm/v1 */
  url: string;
  apiKey: string;
  timeoutMs?: number;
  log: { warn(obj: object, msg: string): void };
}

export function createDovecotAdmin(o: DovecotAdminOptions): DovecotAdmin {
  const auth = `X-Dovecot-API ${Buffer.from(o.apiKey).toString('base64')}`;
  return {
    async revoked(user) {
      const body = JSON.stringify([
        ['authCacheFlush', { user: [user] }, 'flush'],
        ['kick', { mask: [user] }, 'kick'],
      ]);
      try {
        const res = await fetch(o.url, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(o.timeoutMs ?? 3000), redirect: 'error' });
        if (!res.ok) o.log.warn({ status: res.status }, 'doveadm API refused the cache flush');
        else await res.arrayBuffer();
      } catch (e) {
        o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'doveadm API not reached for the cache flush');
      }
    },
  };
}

export const noDovecotAdmin: DovecotAdmin = { revoked: async () => undefined };
