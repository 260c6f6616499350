/**
 * Dovecot's doveadm HTTP API, told when what it may have cached about a user is stale (an app
 * password revoked or expired, the user disabled, a new main password, an MFA state change): it
 * flushes the user's entries from Dovecot's auth cache (so the change holds at once, not at the
 * cache TTL) and kicks the user's open IMAP/POP3 sessions. When an organization's policy narrows
 * what legacy sign-ins may do, the same happens for every user of the organization.
 * Best effort: a failure is logged; the change itself has already happened in the store.
 */
export interface DovecotAdmin {
  revoked(user: string): Promise<void>;
  /** The policy of the organization whose users' addresses end in `@domain` narrowed. */
  policyNarrowed(domain: string): Promise<void>;
}

export interface DovecotAdminOptions {
  /** e.g. http://127.0.0.1:8082/doveadm/v1 */
  url: string;
  apiKey: string;
  timeoutMs?: number;
  log: { warn(obj: object, msg: string): void };
}

type DoveadmCommand = [name: string, params: Record<string, unknown>, tag: string];

/**
 * The commands for a narrowed organization policy. The whole auth cache is flushed, not the
 * organization's users one by one: Dovecot matches a per-user flush against every cache entry for
 * every name given (auth_cache_clear_users), so naming thousands of users costs entries x users,
 * while the whole cache goes in one pass; the price is one extra Sesame check per other cached
 * login (an indexed read for an app password, an Argon2 hash for a main password), once, and
 * narrowing a policy is rare. An empty user
 * list means "all": with no `user` parameter at all, Dovecot 2.3.19's doveadm HTTP server dies on
 * "Missing user parameter" and drops the connection. `kick` takes one user mask with wildcards
 * (two masks: exit code 64, "Multiple username masks not supported"), and every address of an
 * organization is in its domain, so `*@domain` ends exactly its users' sessions without listing
 * them. (Both checked against Dovecot 2.3.19.1: 3 entries of two domains flushed, the domain's two
 * sessions kicked and the other domain's left open; a kick that matches nobody answers exit code 68.)
 */
export function policyNarrowedCommands(domain: string): DoveadmCommand[] {
  return [
    ['authCacheFlush', { user: [] }, 'flush'],
    ['kick', { mask: [`*@${domain}`] }, 'kick'],
  ];
}

export function createDovecotAdmin(o: DovecotAdminOptions): DovecotAdmin {
  const auth = `X-Dovecot-API ${Buffer.from(o.apiKey).toString('base64')}`;
  const send = async (commands: DoveadmCommand[]) => {
    try {
      const res = await fetch(o.url, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(commands),
        signal: AbortSignal.timeout(o.timeoutMs ?? 3000),
        redirect: 'error',
      });
      if (!res.ok) o.log.warn({ status: res.status }, 'doveadm API refused the cache flush');
      else await res.arrayBuffer();
    } catch (e) {
      o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'doveadm API not reached for the cache flush');
    }
  };
  return {
    revoked: (user) =>
      send([
        ['authCacheFlush', { user: [user] }, 'flush'],
        ['kick', { mask: [user] }, 'kick'],
      ]),
    policyNarrowed: (domain) => send(policyNarrowedCommands(domain)),
  };
}

export const noDovecotAdmin: DovecotAdmin = { revoked: async () => undefined, policyNarrowed: async () => undefined };
