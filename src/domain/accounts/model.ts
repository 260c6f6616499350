/**
 * Organizations and users. An organization is keyed by its mail domain; a user by their address,
 * which must be in that domain. Addresses and domains are compared lower-cased (the local part
 * too: mail systems treat it case-insensitively in practice, and two accounts differing only in
 * case would be a phishing aid).
 */
import { SesameError } from '../errors.js';

export type UserStatus = 'active' | 'disabled';
export type UserRole = 'user' | 'admin';

export interface Organization {
  id: string;
  domain: string;
  name: string;
  createdAt: number;
}

export interface User {
  id: string;
  orgId: string;
  address: string;
  name: string;
  status: UserStatus;
  role: UserRole;
  createdAt: number;
  /** Set when the main password was last set; null while the account has none yet. */
  passwordChangedAt: number | null;
  /** disabled, enabled (must register at next sign-in) or enforced; see domain/mfa/model.ts. */
  mfaState: 'disabled' | 'enabled' | 'enforced';
}

/** A user as the account service sees it at sign-in: with the password hash. Never leaves the domain. */
export interface UserCredentials extends User {
  passwordHash: string | null;
}

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const LOCAL_RE = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Lower-cases and checks a mail domain such as `contoso.test`. */
export function normalizeDomain(raw: string): string {
  const d = raw.trim().toLowerCase();
  if (!DOMAIN_RE.test(d))
    throw new SesameError('invalid_domain', `not a mail domain: ${JSON.stringify(raw.slice(0, 100))}`);
  return d;
}

/** Lower-cases and checks an address such as `alice@contoso.test`; returns it and its domain. */
export function normalizeAddress(raw: string): { address: string; domain: string } {
  const a = raw.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  if (a.length > 254 || at < 1)
    throw new SesameError('invalid_address', `not an address: ${JSON.stringify(raw.slice(0, 100))}`);
  const local = a.slice(0, at);
  const domain = a.slice(at + 1);
  if (local.length > 64 || !LOCAL_RE.test(local) || !DOMAIN_RE.test(domain)) {
    throw new SesameError('invalid_address', `not an address: ${JSON.stringify(raw.slice(0, 100))}`);
  }
  return { address: a, domain };
}

/** Display names: 1 to 200 characters, no control characters (they would break logs and mail headers). */
export function normalizeDisplayName(raw: string): string {
  const n = raw.trim().normalize('NFC');
  // eslint-disable-next-line no-control-regex
  if (n.length < 1 || n.length > 200 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(n)) {
    throw new SesameError('invalid_name', 'display name must be 1 to 200 characters without control characters', {
      params: { max: 200 },
    });
  }
  return n;
}
