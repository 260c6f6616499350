/**
 * The associated data each encrypted value is sealed with, in one place: the code that seals and
 * opens a value and `sesame keys reencrypt` (which opens and seals every stored value again under
 * the current key) must agree on it, or a re-encrypted value would no longer open.
 */
export const SEALED_AAD = {
  /** A TOTP seed: bound to its method, in mfa_methods and in a flow's pending enrolment. */
  totpSeed: (methodId: string) => `totp:${methodId}`,
  /** The app password a registration flow shows once. */
  flowAppPassword: (flowId: string) => `ap:${flowId}`,
  /** The recovery codes a flow shows once. */
  flowRecoveryCodes: (flowId: string) => `rc:${flowId}`,
  /** A signing key of the OpenID Connect provider (its private JWK). */
  oidcSigningKey: (kid: string) => `oidc-key:${kid}`,
} as const;
