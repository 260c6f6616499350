/**
 * Rules for main passwords (NIST SP 800-63B, OWASP ASVS 6.2): 8 to 128 characters counted as
 * Unicode code points, no composition rules, no truncation or case folding, and refused when on
 * the shipped list of common passwords or when it contains the user's own name or domain.
 */
import { SesameError } from '../errors.js';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

export interface PasswordContext {
  address?: string;
  name?: string;
}

export class PasswordPolicy {
  constructor(private readonly common: ReadonlySet<string>) {}

  /** Throws a SesameError naming the first rule the password breaks. */
  check(password: string, ctx: PasswordContext = {}): void {
    const length = [...password].length;
    if (length < PASSWORD_MIN)
      throw new SesameError('password_too_short', `password has ${length} characters`, {
        params: { min: PASSWORD_MIN },
      });
    if (length > PASSWORD_MAX)
      throw new SesameError('password_too_long', `password has ${length} characters`, {
        params: { max: PASSWORD_MAX },
      });
    const folded = password.toLowerCase();
    if (this.common.has(folded)) throw new SesameError('password_common', 'password is on the common-password list');
    for (const part of identityParts(ctx)) {
      if (folded.includes(part))
        throw new SesameError('password_contains_identity', "password contains the user's name, address or domain");
    }
  }
}

/** The pieces of a user's identity too guessable to appear in their password (4+ characters). */
function identityParts(ctx: PasswordContext): string[] {
  const parts = new Set<string>();
  if (ctx.address) {
    const [local = '', domain = ''] = ctx.address.toLowerCase().split('@');
    parts.add(local);
    for (const label of domain.split('.').slice(0, -1)) parts.add(label);
  }
  if (ctx.name) for (const w of ctx.name.toLowerCase().split(/\s+/)) parts.add(w);
  return [...parts].filter((p) => p.length >= 4);
}
