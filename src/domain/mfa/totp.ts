/**
 * TOTP (RFC 6238) on otpauth: 160-bit secrets, 6 digits, 30-second steps, SHA-1 (what every
 * authenticator app supports). A code is accepted within ±1 step of now, and only if its step is
 * after the last step accepted for that method (recorded atomically by the caller), so a code that
 * worked once never works again, in this browser or another.
 */
import { Secret, TOTP } from 'otpauth';

export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function totpUri(secretBase32: string, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    secret: Secret.fromBase32(secretBase32),
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD,
    algorithm: 'SHA1',
  }).toString();
}

/** The time step a code matches (now ±1), or undefined. Constant-time per candidate (otpauth compares with timingSafeEqual). */
export function matchTotp(secretBase32: string, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const totp = new TOTP({
    secret: Secret.fromBase32(secretBase32),
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD,
    algorithm: 'SHA1',
  });
  const delta = totp.validate({ token: code, timestamp: nowMs, window: 1 });
  if (delta === null) return undefined;
  return Math.floor(nowMs / 1000 / TOTP_PERIOD) + delta;
}
