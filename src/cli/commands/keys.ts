/**
 * `sesame keys ...`: rotation of the server secrets (docs/admin-guide.md, "Key rotation").
 *
 *   sesame keys rotate [--hash] [--encryption] [--cookie]         (none given: all three)
 *   sesame keys reencrypt
 *   sesame keys drop-previous [--hash] [--encryption] [--cookie] [--force]
 *
 * Never prints a key, with one exception: for a key set in the environment, `rotate` cannot change
 * it and shows a freshly made key once, for the operator to put in the environment.
 */
import { createContext } from '../../app/context.js';
import type { Config } from '../../config/config.js';
import {
  dropPreviousSecrets,
  previousEnv,
  rotateSecrets,
  SecretsError,
  type SecretName,
} from '../../config/secrets.js';
import { ReencryptionError } from '../../domain/keys/reencryption.js';
import { FLOW_TTL_MS } from '../../domain/flows/sign-in-flow.js';
import type { CommandGroup } from '../command.js';
import { type CliIo, parse, UsageError } from '../io.js';

export interface KeysFlags {
  hash?: boolean;
  encryption?: boolean;
  cookie?: boolean;
  force?: boolean;
}

/** The keys named by the flags; none named means all three. */
function chosen(f: KeysFlags): SecretName[] {
  const keys: SecretName[] = [
    ...(f.hash ? ['hashKey' as const] : []),
    ...(f.encryption ? ['encryptionKey' as const] : []),
    ...(f.cookie ? ['cookieKey' as const] : []),
  ];
  return keys.length ? keys : ['hashKey', 'encryptionKey', 'cookieKey'];
}

const FLOW_MINUTES = FLOW_TTL_MS / 60_000;

/** What a previous key of each kind still reads, and when it may go. */
const AFTERWARDS: Record<SecretName, string> = {
  hashKey:
    'hash key: app passwords and integration keys move to the new key at their first use; sessions, sign-in links, recovery codes and remembered devices made before keep working through the old key. ' +
    'Drop it ("sesame keys drop-previous --hash") once the app passwords and integrations in use have been used since the restart: what has not moved by then stops working (and so do recovery codes and remembered devices made before the rotation).',
  encryptionKey:
    'encryption key: once every instance runs with the new key, run "sesame keys reencrypt" (TOTP seeds are sealed again under the new key), then "sesame keys drop-previous --encryption".',
  cookieKey:
    'cookie key: only sign-in forms open at the restart need the old one; drop it ("sesame keys drop-previous --cookie") a day later.',
};

export async function runKeysCommand(
  verb: string,
  flags: KeysFlags,
  config: Readonly<Config>,
  io: CliIo,
): Promise<number> {
  try {
    if (verb === 'rotate') return rotate(chosen(flags), config, io);
    if (verb === 'reencrypt') return await reencrypt(config, io);
    return await dropPrevious(chosen(flags), Boolean(flags.force), config, io);
  } catch (e) {
    if (e instanceof SecretsError || e instanceof ReencryptionError) {
      io.err(`sesame: keys ${verb}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

function rotate(keys: SecretName[], config: Readonly<Config>, io: CliIo): number {
  const steps = rotateSecrets(config.dataDir, io.env, keys);
  const inFile = steps.filter((s) => s.source === 'file');
  for (const s of inFile)
    io.out(
      `${s.key}: new key written to ${config.dataDir}/secrets.json (mode 0600); the old one is kept as a previous key (${s.previousKeys} now)`,
    );
  for (const s of steps.filter((x) => x.source === 'environment')) {
    const prev = previousEnv(s.key);
    io.out(
      `${s.key} comes from ${s.env} in the environment, which this command cannot change. Set these instead (the new key is shown this once and stored nowhere):`,
    );
    io.out(`  ${s.env}=${s.newKey}`);
    io.out(`  ${prev}=<the current value of ${s.env}>${s.previousKeys > 1 ? `,<the current value of ${prev}>` : ''}`);
  }
  io.out('next steps:');
  io.out(
    config.databaseUrl && inFile.length
      ? '  - DATABASE_URL is set, so instances share the store: give every instance the same keys (copy secrets.json to each, or better set the keys in the environment), then restart them all.'
      : '  - restart Sesame: a running server keeps the keys it started with.',
  );
  for (const s of steps) io.out(`  - ${AFTERWARDS[s.key]}`);
  return 0;
}

async function reencrypt(config: Readonly<Config>, io: CliIo): Promise<number> {
  const ctx = await createContext(config);
  try {
    const r = await ctx.reencrypt({ write: true });
    const left = r.flowValues.unreadable;
    io.out(
      `re-encrypted under the current encryption key: ${r.seeds.stale} of ${r.seeds.total} TOTP seed(s), ${r.flowValues.stale - left} of ${r.flowValues.total} value(s) in sign-in flows still open`,
    );
    if (left)
      io.out(
        `  ${left} value(s) in sign-in flows open under no configured key: left as they are (those flows fail at their next step, and expire within ${FLOW_MINUTES} minutes)`,
      );
    const oidc = await ctx.oidc.keys.reseal({ write: true });
    if (oidc.total)
      io.out(
        `  OpenID Connect signing keys: ${oidc.stale - oidc.unreadable} of ${oidc.total} sealed again${oidc.unreadable ? `; ${oidc.unreadable} open under no configured key (run "sesame oidc rotate-keys", then "sesame oidc drop-previous-keys")` : ''}`,
      );
    const previous = ctx.secrets.previous?.encryptionKey?.length ?? 0;
    if (previous) {
      io.out(
        '  nothing stored needs the previous encryption key any more, provided every instance already runs with the current key (one still running with the old key keeps sealing under it).',
      );
      io.out(
        '  next: "sesame keys drop-previous --encryption" (or remove SESAME_ENCRYPTION_KEY_PREVIOUS), then restart Sesame.',
      );
    }
    return 0;
  } finally {
    await ctx.close();
  }
}

async function dropPrevious(keys: SecretName[], force: boolean, config: Readonly<Config>, io: CliIo): Promise<number> {
  if (keys.includes('encryptionKey') && !force) {
    // Dropping the key that still opens stored seeds would lock their owners out of their authenticator app.
    const ctx = await createContext(config);
    try {
      const r = await ctx.reencrypt({ write: false });
      const oidcStale = (await ctx.oidc.keys.reseal({ write: false })).stale;
      if (oidcStale) {
        io.err(
          `sesame: keys drop-previous: ${oidcStale} OpenID Connect signing key(s) are not under the current encryption key yet: run "sesame keys reencrypt" first (or add --force). Nothing was changed.`,
        );
        return 1;
      }
      if (r.seeds.stale || r.flowValues.stale) {
        io.err(
          `sesame: keys drop-previous: ${r.seeds.stale} TOTP seed(s) and ${r.flowValues.stale} value(s) in sign-in flows are not under the current encryption key yet: ` +
            'run "sesame keys reencrypt" first (or add --force to drop the previous key anyway: those seeds would stop working). Nothing was changed.',
        );
        return 1;
      }
    } finally {
      await ctx.close();
    }
  }
  const steps = dropPreviousSecrets(config.dataDir, io.env, keys);
  for (const s of steps) {
    if (s.source === 'environment') {
      io.out(
        s.previousKeys
          ? `${s.key} comes from the environment: remove ${previousEnv(s.key)} (it lists ${s.previousKeys} key(s)) where Sesame's environment is set`
          : `${s.key}: ${previousEnv(s.key)} is not set; nothing to drop`,
      );
    } else {
      io.out(
        s.previousKeys
          ? `${s.key}: ${s.previousKeys} previous key(s) removed from ${config.dataDir}/secrets.json`
          : `${s.key}: no previous key in ${config.dataDir}/secrets.json; nothing to drop`,
      );
    }
  }
  if (steps.some((s) => s.previousKeys))
    io.out('next: restart Sesame (a running server keeps the keys it started with).');
  return 0;
}

export const keys: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (verb !== 'rotate' && verb !== 'reencrypt' && verb !== 'drop-previous')
      throw new UsageError(verb ? `unknown command "keys ${verb}"` : 'keys needs rotate, reencrypt or drop-previous');
    const which = { hash: { type: 'boolean' }, encryption: { type: 'boolean' }, cookie: { type: 'boolean' } } as const;
    const p = parse(
      rest,
      verb === 'reencrypt' ? {} : verb === 'rotate' ? which : { ...which, force: { type: 'boolean' } },
      0,
    );
    return runKeysCommand(verb, p.values as KeysFlags, config, io);
  },
};
