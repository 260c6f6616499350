/**
 * Server secrets: the key for keyed hashes (app passwords, integration keys, session tokens,
 * one-time links, ...), the cookie-signing key and the key that encrypts TOTP seeds. Taken from the
 * environment when given (base64, 32 bytes), else generated once into `<dataDir>/secrets.json` with
 * mode 0600. Never logged, never printed (the one exception: `sesame keys rotate` shows a freshly
 * made key once, for the operator to put in the environment; see docs/admin-guide.md).
 *
 * Rotation: each key may have previous keys, newest first, which are still accepted for reading
 * (hashes stored and values encrypted before the rotation) and never used to write. They come
 * from where the current key comes from: `SESAME_*_PREVIOUS` (comma-separated base64) beside an
 * environment key, or the `previous` object of secrets.json beside a key from the file:
 *
 *   {"hashKey": "...", "cookieKey": "...", "encryptionKey": "...", "previous": {"hashKey": ["..."]}}
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config.js';
import { fsyncDir } from '../lib/fsync.js';

export type SecretName = 'hashKey' | 'cookieKey' | 'encryptionKey';
export const SECRET_NAMES: readonly SecretName[] = ['hashKey', 'cookieKey', 'encryptionKey'];

export interface ServerSecrets {
  hashKey: Buffer;
  cookieKey: Buffer;
  encryptionKey: Buffer;
  /** Keys replaced by a rotation, newest first: accepted for reading what they made, never used to write. */
  previous?: Partial<Record<SecretName, Buffer[]>>;
}

/** Each key's environment variable and what it protects; docs/configuration.md is written from this table. */
export const SECRETS: Record<SecretName, { env: string; doc: string }> = {
  hashKey: {
    env: 'SESAME_HASH_KEY',
    doc: 'Key of the keyed hashes (HMAC-SHA-256) under which app passwords, integration keys, session tokens, sign-in flows, one-time links, recovery codes, remembered devices and emailed or texted codes are stored.',
  },
  cookieKey: { env: 'SESAME_COOKIE_KEY', doc: 'Key that signs the CSRF cookie.' },
  encryptionKey: {
    env: 'SESAME_ENCRYPTION_KEY',
    doc: 'Key that encrypts TOTP seeds at rest (and what a sign-in flow shows once: a new app password, new recovery codes).',
  },
};

/** The variable that lists a key's previous keys (comma-separated base64, newest first). */
export function previousEnv(key: SecretName): string {
  return `${SECRETS[key].env}_PREVIOUS`;
}

/** A refused key operation (rotate, drop previous keys); the message says why and never holds a key. */
export class SecretsError extends Error {
  constructor(
    readonly code: 'no_key' | 'bad_file',
    message: string,
  ) {
    super(message);
    this.name = 'SecretsError';
  }
}

/** What secrets.json holds (all base64). */
interface SecretsFile {
  hashKey?: string;
  cookieKey?: string;
  encryptionKey?: string;
  previous?: Partial<Record<SecretName, string[]>>;
}

function decode(name: string, value: string): Buffer {
  const b = Buffer.from(value.trim(), 'base64');
  if (b.length < 32) throw new Error(`${name} must be at least 32 bytes, base64-encoded (openssl rand -base64 32)`);
  return b;
}

function secretsPath(dataDir: string): string {
  return path.join(dataDir, 'secrets.json');
}

/** secrets.json, or {} when there is none. Errors name the file and never quote it (it holds keys). */
function readSecretsFile(file: string): SecretsFile {
  if (!fs.existsSync(file)) return {};
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new SecretsError('bad_file', `${file} is not valid JSON`);
  }
  const ok =
    typeof v === 'object' &&
    v !== null &&
    SECRET_NAMES.every((k) => (v as SecretsFile)[k] === undefined || typeof (v as SecretsFile)[k] === 'string') &&
    ((v as SecretsFile).previous === undefined ||
      (typeof (v as SecretsFile).previous === 'object' &&
        (v as SecretsFile).previous !== null &&
        Object.values((v as SecretsFile).previous!).every(
          (list) => Array.isArray(list) && list.every((s) => typeof s === 'string'),
        )));
  if (!ok)
    throw new SecretsError(
      'bad_file',
      `${file} is not a Sesame secrets file (each key a base64 string; "previous" an object of lists of them)`,
    );
  return v as SecretsFile;
}

/** Writes `content` to a private temporary file beside `file` (mode 0600) and returns its name. */
function writeTemp(file: string, content: SecretsFile): string {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, `${JSON.stringify(content, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

/** Replaces secrets.json in one step (rename), so a reader sees the old file or the new one, never half of one. */
function replaceSecretsFile(file: string, content: SecretsFile): void {
  const tmp = writeTemp(file, content);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/** Where one server secret comes from, as `loadSecrets` would take it. */
export interface SecretSource {
  key: SecretName;
  /** The environment variable that overrides secrets.json for this key. */
  env: string;
  source: 'environment' | 'file' | 'missing';
  value?: Buffer;
  /** Previous keys, newest first, from the same place as the key (the *_PREVIOUS variable or secrets.json's `previous`). */
  previous: Buffer[];
}

/** Each key's source, and the problems that are wrong whatever the mode. Decoding errors throw. */
function resolve(
  file: string,
  stored: SecretsFile,
  env: Record<string, string | undefined>,
): { sources: SecretSource[]; problems: string[] } {
  const problems: string[] = [];
  const sources = SECRET_NAMES.map((key): SecretSource => {
    const envName = SECRETS[key].env;
    const prevName = previousEnv(key);
    const fromEnv = env[envName];
    const prevEnv = env[prevName];
    if (fromEnv) {
      const previous = (prevEnv ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s, i) => decode(`${prevName} (key ${i + 1})`, s));
      return { key, env: envName, source: 'environment', value: decode(envName, fromEnv), previous };
    }
    // Previous keys belong with the current one: beside a key from the file they would be ignored.
    if (prevEnv)
      problems.push(
        `${prevName} is set without ${envName}: previous keys come from where the current key comes from (set ${envName} too, or list the previous keys in ${file} under "previous")`,
      );
    const previous = (stored.previous?.[key] ?? []).map((s, i) => decode(`${file}:previous.${key}[${i}]`, s));
    if (stored[key])
      return { key, env: envName, source: 'file', value: decode(`${file}:${key}`, stored[key]), previous };
    return { key, env: envName, source: 'missing', previous };
  });
  return { sources, problems };
}

/** Where a key was taken from, for messages (never the key). */
function label(s: SecretSource, file: string, previousIndex?: number): string {
  if (previousIndex === undefined) return s.source === 'environment' ? s.env : `${s.key} in ${file}`;
  return s.source === 'environment'
    ? `${previousEnv(s.key)} (key ${previousIndex + 1})`
    : `previous.${s.key}[${previousIndex}] in ${file}`;
}

/**
 * What production mode refuses about the keys: keys generated per instance where several instances
 * share a database, one key used for two purposes, and a previous key that is the current one.
 */
function productionProblems(sources: SecretSource[], file: string, databaseUrl: string): string[] {
  const problems: string[] = [];
  if (databaseUrl) {
    const notEnv = sources.filter((s) => s.source !== 'environment');
    if (notEnv.length) {
      problems.push(
        `SESAME_MODE=production with DATABASE_URL needs ${notEnv.map((s) => s.env).join(', ')} from the environment: instances sharing a database ` +
          `must share their keys, and keys generated into each instance's own ${path.basename(file)} would differ (what one instance stores, another could not read)`,
      );
    }
  }
  const all = sources.flatMap((s) =>
    s.value
      ? [
          { s, i: undefined as number | undefined, value: s.value },
          ...s.previous.map((value, i) => ({ s, i: i as number | undefined, value })),
        ]
      : [],
  );
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      const x = all[a]!;
      const y = all[b]!;
      if (!x.value.equals(y.value)) continue;
      if (x.s === y.s && x.i === undefined) {
        problems.push(
          `${label(y.s, file, y.i)} is the current ${label(x.s, file)}: a previous key must differ from the current one (remove it from the previous keys)`,
        );
      } else if (x.s === y.s) {
        problems.push(
          `${label(x.s, file, x.i)} and ${label(y.s, file, y.i)} are the same key: list each previous key once`,
        );
      } else {
        problems.push(
          `${label(x.s, file, x.i)} and ${label(y.s, file, y.i)} are the same key: each key must be used for one purpose only (make each with openssl rand -base64 32)`,
        );
      }
    }
  }
  return problems;
}

export interface LoadSecretsOptions {
  /** `production` refuses unsafe keys (see productionProblems) before anything is generated. */
  mode?: 'development' | 'production';
  /** Set: several instances may share the store, so production mode needs keys from the environment. */
  databaseUrl?: string;
}

/**
 * Loads or creates the secrets; the data folder is created with mode 0700 if missing. Throws
 * ConfigError listing every problem (nothing is written then).
 */
export function loadSecrets(
  dataDir: string,
  env: Record<string, string | undefined> = process.env,
  opts: LoadSecretsOptions = {},
): ServerSecrets {
  const file = secretsPath(dataDir);
  const stored = readSecretsFile(file);
  const { sources, problems } = resolve(file, stored, env);
  if (opts.mode === 'production') problems.push(...productionProblems(sources, file, opts.databaseUrl ?? ''));
  if (problems.length) throw new ConfigError(problems);
  const out = { previous: {} } as ServerSecrets & { previous: Record<SecretName, Buffer[]> };
  let changed = false;
  for (const s of sources) {
    out.previous[s.key] = s.previous;
    if (s.value) {
      out[s.key] = s.value;
    } else {
      const fresh = randomBytes(32);
      stored[s.key] = fresh.toString('base64');
      out[s.key] = fresh;
      changed = true;
    }
  }
  if (changed) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(file)) {
      replaceSecretsFile(file, stored);
    } else {
      // link() fails if another process (a CLI beside the server) created the file first:
      // then its keys win and we read them, so that both processes agree.
      const tmp = writeTemp(file, stored);
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        return loadSecrets(dataDir, env, opts);
      } finally {
        fs.unlinkSync(tmp);
      }
    }
  }
  return out;
}

/**
 * The secrets as `loadSecrets` would take them (environment first, then secrets.json), but
 * creating nothing: `sesame backup` must copy the keys that exist, never invent fresh ones.
 */
export function inspectSecrets(dataDir: string, env: Record<string, string | undefined> = process.env): SecretSource[] {
  const file = secretsPath(dataDir);
  const { sources, problems } = resolve(file, readSecretsFile(file), env);
  if (problems.length) throw new ConfigError(problems);
  return sources;
}

/** What `rotateSecrets` did for one key, or (for a key from the environment) what the operator must do. */
export interface RotationStep {
  key: SecretName;
  env: string;
  source: 'environment' | 'file';
  /**
   * For a key from the environment only: a fresh key (base64) to set as `env`, the current value
   * moving to the front of the *_PREVIOUS variable. Shown once to the operator, never stored.
   */
  newKey?: string;
  /** How many previous keys there are after the rotation. */
  previousKeys: number;
}

/**
 * Rotates keys: for each key from secrets.json, a new random key replaces it and the old one goes to
 * the front of its `previous` list, in one atomic replacement of the file (mode 0600). Keys from the
 * environment cannot be changed here: a fresh key is returned for the operator to set instead.
 */
export function rotateSecrets(
  dataDir: string,
  env: Record<string, string | undefined>,
  keys: readonly SecretName[],
): RotationStep[] {
  const file = secretsPath(dataDir);
  const stored = readSecretsFile(file);
  const { sources, problems } = resolve(file, stored, env);
  if (problems.length) throw new ConfigError(problems);
  const steps: RotationStep[] = [];
  let changed = false;
  for (const s of sources.filter((x) => keys.includes(x.key))) {
    if (s.source === 'environment') {
      steps.push({
        key: s.key,
        env: s.env,
        source: 'environment',
        newKey: randomBytes(32).toString('base64'),
        previousKeys: s.previous.length + 1,
      });
    } else if (s.source === 'file') {
      const previous = [stored[s.key]!, ...(stored.previous?.[s.key] ?? [])];
      stored.previous = { ...stored.previous, [s.key]: previous };
      stored[s.key] = randomBytes(32).toString('base64');
      changed = true;
      steps.push({ key: s.key, env: s.env, source: 'file', previousKeys: previous.length });
    } else {
      throw new SecretsError(
        'no_key',
        `there is no ${s.key} to rotate: it is neither in ${s.env} nor in ${file} (it is generated at the first start of the server)`,
      );
    }
  }
  if (changed) replaceSecretsFile(file, stored);
  return steps;
}

/** What `dropPreviousSecrets` did for one key (file), or what the operator must do (environment). */
export interface DropStep {
  key: SecretName;
  env: string;
  source: 'environment' | 'file';
  /** Previous keys removed from secrets.json, or (environment) listed in the *_PREVIOUS variable now. */
  previousKeys: number;
}

/** Forgets the previous keys of the keys given, in secrets.json (atomically); for keys from the environment, says what to unset. */
export function dropPreviousSecrets(
  dataDir: string,
  env: Record<string, string | undefined>,
  keys: readonly SecretName[],
): DropStep[] {
  const file = secretsPath(dataDir);
  const stored = readSecretsFile(file);
  const { sources, problems } = resolve(file, stored, env);
  if (problems.length) throw new ConfigError(problems);
  const steps: DropStep[] = [];
  let changed = false;
  for (const s of sources.filter((x) => keys.includes(x.key))) {
    if (s.source === 'missing')
      throw new SecretsError('no_key', `there is no ${s.key}: it is neither in ${s.env} nor in ${file}`);
    steps.push({ key: s.key, env: s.env, source: s.source, previousKeys: s.previous.length });
    if (s.source === 'file' && stored.previous?.[s.key]) {
      delete stored.previous[s.key];
      if (Object.keys(stored.previous).length === 0) delete stored.previous;
      changed = true;
    }
  }
  if (changed) replaceSecretsFile(file, stored);
  return steps;
}
