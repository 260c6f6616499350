/**
 * MFA: each user's state (set by an admin), the organization's policy, and registered methods.
 *
 *   disabled  the password alone signs in (browser and, later, legacy protocols)
 *   enabled   the next browser sign-in makes the user register a method; then `enforced`
 *   enforced  every browser sign-in needs a second factor
 */
import { type AppPasswordPolicy, DEFAULT_APP_PASSWORD_POLICY } from '../app-passwords/model.js';

export const MFA_STATES = ['disabled', 'enabled', 'enforced'] as const;
export type MfaState = (typeof MFA_STATES)[number];

/** Methods in the order "How should we contact you?" offers them. */
export const METHOD_KINDS = ['totp', 'webauthn', 'sms', 'voice', 'email'] as const;
export type MethodKind = (typeof METHOD_KINDS)[number];

/** RFC 8176 authentication method reference per kind (recorded in sessions). */
export const AMR: Record<MethodKind | 'recovery', string> = {
  totp: 'otp',
  webauthn: 'hwk',
  sms: 'sms',
  voice: 'tel',
  email: 'email',
  recovery: 'recovery',
};

/** The `amr` values that stand for a second factor; `pwd` and `remembered` (a trusted device) do not. */
const SECOND_FACTOR_AMR: ReadonlySet<string> = new Set(Object.values(AMR));

/** Whether what a session proved (its `amr`) includes a second factor. */
export function provesSecondFactor(amr: readonly string[]): boolean {
  return amr.some((a) => SECOND_FACTOR_AMR.has(a));
}

export interface MfaMethod {
  id: string;
  userId: string;
  kind: MethodKind;
  /** What the user sees: "Authenticator app", "+31 6 •••• 5678", "a•••@example.org", a key's name. */
  label: string;
  /** Phone number (E.164) or email address for code methods; null otherwise. */
  target: string | null;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface OrgPolicy {
  orgId: string;
  mfaDefault: MfaState;
  allowedMethods: MethodKind[];
  /** Remember MFA on a trusted device for this many days; 0 = off. */
  rememberDays: number;
  appPasswords: AppPasswordPolicy;
  /** Main passwords on legacy protocols: accepted until the user's MFA is enforced, or never. */
  legacyMainPassword: 'until_enforced' | 'never';
  /**
   * Countries (ISO 3166-1 alpha-2, upper case) whose phone numbers may get text and voice codes;
   * null: the deployment's default list (SESAME_PHONE_COUNTRIES).
   */
  phoneCountries: string[] | null;
  /** IANA time zone in which the organization's pages show dates and times; null: UTC. */
  timeZone: string | null;
  /**
   * The country (ISO 3166-1 alpha-2) of phone numbers typed without a country code ("06 12345678"
   * in the Netherlands); null: none, so a number must be typed with its country code.
   */
  defaultCountry: string | null;
}

export const REMEMBER_DAYS_MAX = 365;

export function defaultPolicy(orgId: string): OrgPolicy {
  return {
    orgId,
    mfaDefault: 'disabled',
    allowedMethods: [...METHOD_KINDS],
    rememberDays: 0,
    appPasswords: { ...DEFAULT_APP_PASSWORD_POLICY, protocols: [...DEFAULT_APP_PASSWORD_POLICY.protocols] },
    legacyMainPassword: 'until_enforced',
    phoneCountries: null,
    timeZone: null,
    defaultCountry: null,
  };
}

/**
 * The policy an organization works under: the one it saved, or the default while it has saved none.
 * The one place that falls back; every reader of a policy goes through it.
 */
export async function policyOf(
  policies: { getPolicy(orgId: string): Promise<OrgPolicy | undefined> },
  orgId: string,
): Promise<OrgPolicy> {
  return (await policies.getPolicy(orgId)) ?? defaultPolicy(orgId);
}

export function isMfaState(v: unknown): v is MfaState {
  return typeof v === 'string' && (MFA_STATES as readonly string[]).includes(v);
}

export function isMethodKind(v: unknown): v is MethodKind {
  return typeof v === 'string' && (METHOD_KINDS as readonly string[]).includes(v);
}

/** "+31612345678" -> "+31 •••• 5678": enough to recognise, too little to phish with. */
export function maskPhone(e164: string): string {
  return `${e164.slice(0, 3)} •••• ${e164.slice(-4)}`;
}

/** "alice@example.org" -> "a•••@example.org". */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, 1)}•••${address.slice(at)}`;
}
