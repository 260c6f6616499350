/**
 * Server secrets: the key for keyed hashes (session tokens, one-time links), the cookie-signing
 * key and the key that encrypts TOTP seeds. Taken from the environment when given (base64, 32
 * bytes), else generated once into `<dataDir>/secrets.json` with mode 0600. Never logged.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface ServerSecrets {
  hashKey: Buffer;
  cookieKey: Buffer;
  encryptionKey: Buffer;
}

const NAMES = {
  hashKey: 'SESAME_HASH_KEY',
  cookieKey: 'SESAME_COOKIE_KEY',
  encryptionKey: 'SESAME_ENCRYPTION_KEY',
} as const;

function decode(name: string, value: string): Buffer {
  const b = Buffer.from(value, 'base64');
  if (b.length < 32) throw new Error(`${name} must be at least 32 bytes, base64-encoded (openssl rand -base64 32)`);
  return b;
}

/** Loads or creates the secrets; the data folder is created with mode 0700 if missing. */
export function loadSecrets(dataDir: string, env: Record<string, string | undefined> = process.env): ServerSecrets {
  const file = path.join(dataDir, 'secrets.json');
  let stored: Record<string, string> = {};
  if (fs.existsSync(file)) {
    stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  }
  const out: Partial<ServerSecrets> = {};
  let changed = false;
  for (const [key, envName] of Object.entries(NAMES) as [keyof ServerSecrets, string][]) {
    const fromEnv = env[envName];
    if (fromEnv) {
      out[key] = decode(envName, fromEnv);
    } else if (stored[key]) {
      out[key] = decode(`${file}:${key}`, stored[key]);
    } else {
      const fresh = randomBytes(32);
      stored[key] = fresh.toString('base64');
      out[key] = fresh;
      changed = true;
    }
  }
  if (changed) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
    if (fs.existsSync(file)) {
      fs.renameSync(tmp, file);
    } else {
      // link() fails if another process (a CLI beside the server) created the file first:
      // then its keys win and we read them, so that both processes agree.
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        fs.unlinkSync(tmp);
        return loadSecrets(dataDir, env);
      }
      fs.unlinkSync(tmp);
    }
  }
  return out as ServerSecrets;
}
