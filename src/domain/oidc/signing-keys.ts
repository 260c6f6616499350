/**
 * The OpenID Connect provider's signing keys (RS256). Kept in the store so that every instance
 * signs and verifies with the same keys; the private key is sealed under the encryption key, bound
 * to its key id. The newest key signs; older keys stay in the published key set (so tokens they
 * signed still verify) until `sesame oidc drop-previous-keys` removes them.
 *
 *   sesame oidc rotate-keys          -> a new key signs from the next reload (at most a minute)
 *   (wait for the old ID tokens to expire: 1 hour by default)
 *   sesame oidc drop-previous-keys   -> only the newest key is left
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { Aead } from '../../lib/crypto/aead.js';
import type { Clock } from '../clock.js';
import { SEALED_AAD } from '../keys/sealed.js';

export interface StoredSigningKey {
  kid: string;
  /** The private JWK, sealed with AAD SEALED_AAD.oidcSigningKey(kid). */
  sealed: string;
  createdAt: number;
}

export interface SigningKeyRepository {
  /** Every key, newest first (ties broken by kid, so every instance picks the same signer). */
  list(): Promise<StoredSigningKey[]>;
  add(k: StoredSigningKey): Promise<void>;
  /** Removes every key but the newest; returns how many were removed. */
  dropAllButNewest(): Promise<number>;
  /** Replaces a key's sealed value if it is still `from` (another writer may have been first). */
  replaceSealed(kid: string, from: string, to: string): Promise<boolean>;
}

/** A private JWK as oidc-provider's `jwks` option takes it. */
export type PrivateJwk = Record<string, unknown> & { kid: string; kty: string };

export class SigningKeys {
  constructor(
    private readonly repo: SigningKeyRepository,
    private readonly aead: Aead,
    private readonly clock: Clock,
  ) {}

  /** Makes a new RSA key that signs from now on (the others keep verifying). Returns its key id. */
  async rotate(): Promise<string> {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    // A thumbprint-like id: derived from the public modulus, so it says nothing secret.
    const kid = createHash('sha256').update(String(jwk.n)).digest('base64url').slice(0, 16);
    const full: PrivateJwk = { ...jwk, kid, kty: 'RSA', alg: 'RS256', use: 'sig' };
    await this.repo.add({
      kid,
      sealed: this.aead.seal(JSON.stringify(full), SEALED_AAD.oidcSigningKey(kid)),
      createdAt: this.clock.now(),
    });
    return kid;
  }

  /**
   * The private keys, newest (the signer) first; makes the first key when there is none. A key no
   * configured encryption key opens (its key was dropped before the OIDC keys were rotated) is left
   * out, since it can neither sign nor be published; when none opens, a new key is made, so the
   * provider still starts (apps then see a new key id in the key set).
   */
  async privateJwks(): Promise<PrivateJwk[]> {
    const open = (keys: StoredSigningKey[]) =>
      keys.flatMap((k) => {
        try {
          return [JSON.parse(this.aead.open(k.sealed, SEALED_AAD.oidcSigningKey(k.kid))) as PrivateJwk];
        } catch {
          return [];
        }
      });
    let jwks = open(await this.repo.list());
    if (jwks.length === 0) {
      await this.rotate();
      jwks = open(await this.repo.list());
    }
    return jwks;
  }

  /** Key ids, newest first, without opening anything (to notice a rotation cheaply). */
  async kids(): Promise<string[]> {
    return (await this.repo.list()).map((k) => k.kid);
  }

  /** Key ids and ages for `sesame oidc keys`. */
  async describe(): Promise<{ kid: string; createdAt: number; signing: boolean }[]> {
    return (await this.repo.list()).map((k, i) => ({ kid: k.kid, createdAt: k.createdAt, signing: i === 0 }));
  }

  /**
   * `sesame keys reencrypt` (`write`) and the check before `keys drop-previous --encryption`: the
   * keys not sealed under the current encryption key, sealed again under it. A key no configured
   * encryption key opens is counted as unreadable and left as it is.
   */
  async reseal(opts: { write: boolean }): Promise<{ total: number; stale: number; unreadable: number }> {
    const r = { total: 0, stale: 0, unreadable: 0 };
    for (const k of await this.repo.list()) {
      r.total++;
      if (this.aead.isCurrent(k.sealed)) continue;
      r.stale++;
      if (!opts.write) continue;
      try {
        await this.repo.replaceSealed(k.kid, k.sealed, this.aead.reseal(k.sealed, SEALED_AAD.oidcSigningKey(k.kid)));
      } catch {
        r.unreadable++;
      }
    }
    return r;
  }

  /** Removes every key but the newest: tokens the removed keys signed no longer verify. */
  async dropPrevious(): Promise<number> {
    return this.repo.dropAllButNewest();
  }
}
