/**
 * Authenticated encryption for secrets Sesame must be able to read back (TOTP seeds, flow data
 * that holds a pending seed). AES-256-GCM with a random 96-bit nonce; the associated data binds
 * a ciphertext to its row (e.g. "totp:<methodId>"), so a seed copied into another row fails to
 * decrypt instead of silently working for another account.
 *
 * Key rotation: values are sealed under the current key and opened under whichever configured key
 * sealed them. A sealed value names its key by a short id (`v2.<key id>.<nonce>.<body>.<tag>`), so
 * the key is found without trial decryption and `sesame keys reencrypt` can tell, without opening
 * anything, which values still need the previous key. Values sealed before key ids existed
 * (`v1.<nonce>.<body>.<tag>`) are tried under each key in turn: GCM's tag tells which one fits.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export interface Aead {
  /** Seals under the current key. */
  seal(plaintext: string, aad: string): string;
  /** Opens a value sealed under the current key or a previous one; throws AeadError otherwise. */
  open(sealed: string, aad: string): string;
  /** Whether `sealed` names the current key (it says nothing about whether it opens). */
  isCurrent(sealed: string): boolean;
  /** `sealed` under the current key: the same string if it already is, else opened and sealed again. */
  reseal(sealed: string, aad: string): string;
}

/** A value no configured key opens (or not a sealed value at all). Never holds key material. */
export class AeadError extends Error {
  constructor(
    readonly code: 'not_sealed' | 'unknown_key' | 'no_key_fits',
    message: string,
  ) {
    super(message);
    this.name = 'AeadError';
  }
}

const V1 = 'v1';
const V2 = 'v2';

/**
 * A key's public id: 48 bits of an HMAC under the key itself, so it reveals nothing about the key
 * and two different keys get the same id with a chance of 2^-48.
 */
export function aeadKeyId(key: Buffer): string {
  return createHmac('sha256', key.subarray(0, 32))
    .update('sesame aead key id')
    .digest()
    .subarray(0, 6)
    .toString('base64url');
}

function openWith(k: Buffer, iv: string, body: string, tag: string, aad: string): string {
  const d = createDecipheriv('aes-256-gcm', k, Buffer.from(iv, 'base64url'));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
}

/** `previous`: keys replaced by a rotation, newest first; they open what they sealed, and seal nothing. */
export function createAead(key: Buffer, previous: readonly Buffer[] = []): Aead {
  for (const k of [key, ...previous]) if (k.length < 32) throw new Error('encryption key must be 32 bytes');
  const keys = [key, ...previous].map((k) => ({ k: k.subarray(0, 32), id: aeadKeyId(k) }));
  const current = keys[0]!;
  const byId = new Map(keys.map((e) => [e.id, e.k]));
  const aead: Aead = {
    seal(plaintext, aad) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', current.k, iv);
      c.setAAD(Buffer.from(aad));
      const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
      return [
        V2,
        current.id,
        iv.toString('base64url'),
        body.toString('base64url'),
        c.getAuthTag().toString('base64url'),
      ].join('.');
    },
    open(sealed, aad) {
      const parts = sealed.split('.');
      if (parts[0] === V2 && parts.length === 5 && parts[1] && parts[2] && parts[4]) {
        const k = byId.get(parts[1]);
        if (!k)
          throw new AeadError(
            'unknown_key',
            `sealed under encryption key ${parts[1]}, which is not configured (neither the current key nor a previous one)`,
          );
        return openWith(k, parts[2], parts[3]!, parts[4], aad);
      }
      if (parts[0] === V1 && parts.length === 4 && parts[1] && parts[3]) {
        for (const { k } of keys) {
          try {
            return openWith(k, parts[1], parts[2]!, parts[3], aad);
          } catch {
            // the tag does not fit this key: try the next one
          }
        }
        throw new AeadError(
          'no_key_fits',
          'sealed under an encryption key that is not configured (neither the current key nor a previous one opens it)',
        );
      }
      throw new AeadError('not_sealed', 'not a sealed value');
    },
    isCurrent(sealed) {
      return sealed.startsWith(`${V2}.${current.id}.`);
    },
    reseal(sealed, aad) {
      return aead.isCurrent(sealed) ? sealed : aead.seal(aead.open(sealed, aad), aad);
    },
  };
  return aead;
}
