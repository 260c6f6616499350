/**
 * Authenticated encryption for secrets Sesame must be able to read back (TOTP seeds, flow data
 * that holds a pending seed). AES-256-GCM with a random 96-bit nonce; the associated data binds
 * a ciphertext to its row (e.g. "totp:<methodId>"), so a seed copied into another row fails to
 * decrypt instead of silently working for another account.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface Aead {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
}

const VERSION = 'v1';

export function createAead(key: Buffer): Aead {
  if (key.length < 32) throw new Error('encryption key must be 32 bytes');
  const k = key.subarray(0, 32);
  return {
    seal(plaintext, aad) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', k, iv);
      c.setAAD(Buffer.from(aad));
      const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
      return [VERSION, iv.toString('base64url'), body.toString('base64url'), c.getAuthTag().toString('base64url')].join('.');
    },
    open(sealed, aad) {
      const [v, iv, body, tag] = sealed.split('.');
      if (v !== VERSION || !iv || body === undefined || !tag) throw new Error('not a sealed value');
      const d = createDecipheriv('aes-256-gcm', k, Buffer.from(iv, 'base64url'));
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
    },
  };
}
