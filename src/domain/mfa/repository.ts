/** What MFA needs from storage. Secrets go in sealed (TOTP seed) or hashed (recovery codes). */
import type { MfaMethod, MfaState, MethodKind, OrgPolicy } from './model.js';

export interface NewMethod {
  userId: string;
  kind: MethodKind;
  label: string;
  target: string | null;
  /** Sealed TOTP seed (AEAD, bound to the method id, which the caller chose). */
  secretEnc?: string | null;
  /** TOTP step of the code that confirmed the enrolment: it cannot be used again. */
  lastStep?: number | null;
  webauthn?: { credentialId: string; publicKey: string; signCount: number; transports: string };
}

export interface WebAuthnCredential {
  methodId: string;
  userId: string;
  credentialId: string;
  publicKey: string;
  signCount: number;
  transports: string[];
}

export interface MfaRepository {
  getPolicy(orgId: string): Promise<OrgPolicy | undefined>;
  savePolicy(p: OrgPolicy, at: number): Promise<void>;

  getState(userId: string): Promise<{ state: MfaState; defaultMethodId: string | null }>;
  setState(userId: string, state: MfaState): Promise<void>;
  /** Moves `enabled` to `enforced` (registration done); leaves other states alone. */
  /** `enabled` becomes `enforced` (the first proof of a method); true when the state changed. */
  promoteEnabled(userId: string): Promise<boolean>;
  setDefaultMethod(userId: string, methodId: string | null): Promise<void>;

  addMethod(id: string, m: NewMethod, at: number): Promise<MfaMethod>;
  listMethods(userId: string): Promise<MfaMethod[]>;
  getMethod(userId: string, methodId: string): Promise<MfaMethod | undefined>;
  /** The sealed TOTP seed and last accepted step of a method. */
  getTotpSecret(userId: string, methodId: string): Promise<{ secretEnc: string; lastStep: number | null } | undefined>;
  /** Atomically records `step` as the last accepted one; false if it is at or before the last one (replay). */
  acceptTotpStep(methodId: string, step: number, at: number): Promise<boolean>;
  deleteMethod(userId: string, methodId: string): Promise<boolean>;
  deleteAllMethods(userId: string): Promise<number>;
  touchMethod(methodId: string, at: number): Promise<void>;

  getWebAuthnCredentials(userId: string): Promise<WebAuthnCredential[]>;
  updateWebAuthnCounter(methodId: string, signCount: number, at: number): Promise<void>;

  /** Replaces the user's recovery codes (old ones void). */
  replaceRecoveryCodes(userId: string, hashes: string[], at: number): Promise<void>;
  /** Atomically marks a code used; true for exactly one caller. */
  consumeRecoveryCode(userId: string, hash: string, at: number): Promise<boolean>;
  countUnusedRecoveryCodes(userId: string): Promise<number>;
  deleteRecoveryCodes(userId: string): Promise<void>;

  addTrustedDevice(tokenHash: string, userId: string, at: number, expiresAt: number): Promise<void>;
  isTrustedDevice(tokenHash: string, userId: string, now: number): Promise<boolean>;
  deleteTrustedDevices(userId: string): Promise<void>;
}
