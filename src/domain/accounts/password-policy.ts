/**
 * Rules for main passwords (NIST SP 800-63B, OWASP ASVS 6.2): 8 to 128 characters counted as
 * Unicode code points, no composition rules, no truncation or case folding, and refused when on
 * the shipped lists of common passwords (English and Dutch) or when it contains the user's own
 * name or domain. A listed word followed only by digits and punctuation (`wachtwoord1`,
 * `welkom2024!`, `sunshine99`) counts as listed: that is the first thing a guesser tries, and
 * the Dutch list is of words, not of passwords with their usual endings.
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
    if (this.isCommon(folded)) throw new SesameError('password_common', 'password is on the common-password list');
    for (const part of identityParts(ctx)) {
      if (folded.includes(part))
        throw new SesameError('password_contains_identity', "password contains the user's name, address or domain");
    }
  }

  /** Listed as is, or a listed word of 4+ characters followed only by digits, punctuation, symbols or spaces. */
  private isCommon(folded: string): boolean {
    if (this.common.has(folded)) return true;
    const stem = folded.replace(/[\p{N}\p{P}\p{S}\s]+$/u, '');
    return stem !== folded && [...stem].length >= 4 && this.common.has(stem);
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
