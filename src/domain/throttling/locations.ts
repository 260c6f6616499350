/**
 * Familiar locations for the smart lockout (after Microsoft Entra's): a network the account's main
 * password was given correctly from, within the last 90 days. Guesses from anywhere else count on
 * a separate counter, so an attacker elsewhere can lock that counter, never the one the owner's
 * office, home or phone uses. A network is the client's IPv4 /24 or IPv6 /64: a phone or laptop
 * that renews its address within its provider's block stays familiar.
 */
import net from 'node:net';
import type { CounterStore } from './throttle.js';

/** Days a network stays familiar after a correct main password from it (renewed by the next one after that). */
export const FAMILIAR_DAYS = 90;
export const FAMILIAR_WINDOW_S = FAMILIAR_DAYS * 86_400;

/** The network an IP belongs to, as a stable string ("203.0.113.0/24", "2001:db8:1:2::/64"); unparsable input is its own network. */
export function networkOf(ip: string): string {
  const v4 = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (net.isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (net.isIPv6(ip)) return `${expandV6(ip).slice(0, 4).join(':')}::/64`;
  return ip;
}

function expandV6(ip: string): string[] {
  const noZone = ip.split('%')[0]!;
  const [head, tail] = noZone.includes('::') ? noZone.split('::') : [noZone, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::a.b.c.d) is two groups; the /64 never reaches it, so it only has to count right.
  const groups = (parts: string[]) => parts.reduce((n, p) => n + (p.includes('.') ? 2 : 1), 0);
  const fill = tail === undefined ? [] : Array(8 - groups(left) - groups(right)).fill('0');
  return [...left, ...fill, ...right].map((g) => (g.includes('.') ? g : (Number.parseInt(g, 16) || 0).toString(16)));
}

/** Which of the account's main-password counters an attempt from this network counts on. */
export type Familiarity = 'familiar' | 'unfamiliar';

/**
 * The account part of every main-password lock key: the canonical address, or for anything that is
 * not an address the lower-cased text as typed, so that locks behave alike for real and made-up
 * accounts. The browser, the JSON API and the mail protocols share these counters: they guard one
 * secret, the main password.
 */
export function lockAccount(addressOrTyped: string): string {
  return addressOrTyped.trim().toLowerCase();
}

/** The main-password failure counter (and lock) of an account, one per kind of location. */
export function mainPasswordKey(account: string, f: Familiarity): string {
  return `pw:${f}:${account}`;
}

/** The sign-in page's and the API's failure counter (and lock) for one client IP, and its window. */
export function webIpKey(ip: string): string {
  return `pwd:ip:${ip}`;
}
export const WEB_IP_WINDOW_S = 900;

/** The second step's failure counter (and lock) of a user, wherever they sign in from. */
export function secondFactorKey(userId: string): string {
  return `mfa:user:${userId}`;
}

/** Main-password checks (Argon2 hashes) from one client IP within a minute, on every path. */
export function ipRateKey(ip: string): string {
  return `pwd:ip-rate:${ip}`;
}

/** The row that says `account` gave its main password correctly from the network of `ip` (within FAMILIAR_DAYS). */
export function familiarKey(account: string, ip: string): string {
  return `fam:${account}:${networkOf(ip)}`;
}

/** Reads and records familiar networks in the counter store (rows that expire by themselves after FAMILIAR_DAYS). */
export class FamiliarLocations {
  constructor(private readonly counters: CounterStore) {}

  async of(account: string, ip: string): Promise<Familiarity> {
    const { counts } = await this.counters.peek(
      [],
      [{ key: familiarKey(account, ip), windowSeconds: FAMILIAR_WINDOW_S }],
    );
    return (counts[0] ?? 0) > 0 ? 'familiar' : 'unfamiliar';
  }

  /** The main password was given correctly from `ip`'s network. */
  async remember(account: string, ip: string): Promise<void> {
    await this.counters.take(familiarKey(account, ip), FAMILIAR_WINDOW_S);
  }
}
