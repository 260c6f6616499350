/**
 * The `sesame` command for operators. Runs as the operator (whoever can read the data folder) on
 * the same store as the server. Wrong usage prints one line and exits 2; a refused command
 * prints the reason and exits 1, having changed nothing.
 *
 *   sesame org add <domain> [--name NAME]
 *   sesame user add <address> [--name NAME] [--admin] [--password-stdin]
 *   sesame user disable <address> | sesame user enable <address>
 *   sesame user mfa <address> disabled|enabled|enforced
 *   sesame user reregister <address>
 *   sesame user link <address>
 *   sesame org policy <domain> [--mfa-default STATE] [--methods LIST] [--remember-days N] [app-password options]
 *   sesame app-passwords list <address> | sesame app-passwords revoke-all <address>
 *   sesame migrate
 *   sesame backup <file> [--force] [--secrets-only] | sesame restore <file> [--force]   (storage/backup.ts)
 *   sesame keys rotate|reencrypt|drop-previous ...   (keys.ts)
 *   sesame oidc client add|list|remove, keys, rotate-keys, drop-previous-keys   (oidc.ts)
 *   sesame users import <file.csv> ... | sesame users export ...   (users.ts)
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createContext } from '../app/context.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { OPERATOR } from '../domain/accounts/actor.js';
import { isSesameError } from '../domain/errors.js';
import { BackupError, createBackup, describeBackup, describeRestore, restoreBackup } from '../storage/backup.js';
import { runKeysCommand, type KeysFlags } from './commands/keys.js';
import { OIDC_USAGE, runOidcCommand } from './commands/oidc.js';
import { runUsersCommand, USERS_USAGE } from './commands/users.js';
import { openStore } from '../storage/db.js';
import { migrateToLatest } from '../storage/migrator.js';
import { translator } from '../i18n/i18n.js';
import type { MessageId } from '../i18n/en.js';
import { formatTime, setPasswordUrl } from '../features/admin/routes.js';

export const USAGE = `usage:
  sesame org add <domain> [--name NAME]
  sesame user add <address> [--name NAME] [--admin] [--password-stdin]
  sesame user disable <address>
  sesame user enable <address>
  sesame user mfa <address> disabled|enabled|enforced
  sesame user reregister <address>
  sesame user link <address>
  sesame org policy <domain> [--mfa-default STATE] [--methods totp,webauthn,sms,voice,email] [--remember-days N]
        [--app-passwords on|off] [--app-passwords-keep on|off] [--app-password-cap N]
        [--app-password-protocols imap,pop3,smtp,dav,http] [--app-password-max-days N|never]
        [--app-password-unused-days N|never] [--revoke-on-password-change on|off]
        [--legacy-main-password until_enforced|never]
  sesame app-passwords list <address>
  sesame app-passwords revoke-all <address>
  sesame integration add <name>
  sesame integration list
  sesame integration remove <name>
  sesame migrate
  sesame backup <file> [--force] [--secrets-only]
  sesame restore <file> [--force]
  sesame keys rotate [--hash] [--encryption] [--cookie]
  sesame keys reencrypt
  sesame keys drop-previous [--hash] [--encryption] [--cookie] [--force]
${OIDC_USAGE}
${USERS_USAGE}`;

class UsageError extends Error {}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  readStdin: () => Promise<string>;
  env: Record<string, string | undefined>;
  /** Text to standard output as it is (no line end added): CSV with its CRLF line ends. */
  write?: (s: string) => void;
  /** Progress to standard error, redrawn in place (`\r`) on a terminal, whole lines otherwise. */
  progress?: { write: (s: string) => void; isTTY: boolean };
}

const defaultIo: CliIo = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
  write: (s) => process.stdout.write(s),
  progress: { write: (s) => process.stderr.write(s), isTTY: process.stderr.isTTY === true },
};

function parse(args: string[], options: ParseArgsConfig['options'], positionals: number) {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (r.positionals.length !== positionals) throw new UsageError(`expected ${positionals} argument(s), got ${r.positionals.length}`);
    return r;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

/** The app-password flags of `org policy`; wrong values are usage errors (exit 2), checked before anything opens. */
function appPasswordOptions(v: Record<string, string | undefined>) {
  const onOff = (name: string) => {
    const x = v[name];
    if (x === undefined) return undefined;
    if (x !== 'on' && x !== 'off') throw new UsageError(`--${name} takes on or off`);
    return x === 'on';
  };
  const num = (name: string, allowNever: boolean) => {
    const x = v[name];
    if (x === undefined) return undefined;
    if (allowNever && x === 'never') return null;
    if (!/^\d{1,4}$/.test(x)) throw new UsageError(`--${name} takes a whole number${allowNever ? ' or never' : ''}`);
    return Number(x);
  };
  const out = {
    allowed: onOff('app-passwords'),
    keepExistingWhenOff: onOff('app-passwords-keep'),
    cap: num('app-password-cap', false) ?? undefined,
    protocols: v['app-password-protocols']?.split(',').map((p) => p.trim()),
    maxLifetimeDays: num('app-password-max-days', true),
    revokeUnusedDays: num('app-password-unused-days', true),
    revokeOnPasswordChange: onOff('revoke-on-password-change'),
  };
  return Object.values(out).some((x) => x !== undefined) ? out : undefined;
}

/** Runs one CLI command; returns the exit code. */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [group, verb, ...rest] = argv;
  const cmd = `${group ?? ''} ${verb ?? ''}`.trim();
  const t = translator('en');
  if (group === 'help' || group === '--help' || group === '-h') {
    io.out(USAGE);
    return 0;
  }
  try {
    const config = loadConfig(io.env);
    if (group === 'migrate' && verb === undefined) {
      const store = openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
      try {
        const applied = await migrateToLatest(store.db);
        io.out(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
      } finally {
        await store.close();
      }
      return 0;
    }
    if (group === 'backup' || group === 'restore') {
      // The file may come after the flags, so everything after the command is parsed.
      const p = parse(argv.slice(1), group === 'backup' ? { force: { type: 'boolean' }, 'secrets-only': { type: 'boolean' } } : { force: { type: 'boolean' } }, 1);
      const v = p.values as { force?: boolean; 'secrets-only'?: boolean };
      const target = { dataDir: config.dataDir, databaseUrl: config.databaseUrl, file: p.positionals[0]!, force: v.force, env: io.env };
      try {
        const lines = group === 'backup' ? describeBackup(createBackup({ ...target, secretsOnly: v['secrets-only'] })) : describeRestore(await restoreBackup(target));
        for (const line of lines) io.out(line);
      } catch (e) {
        if (!(e instanceof BackupError)) throw e;
        io.err(`sesame: ${group}: ${e.message}`);
        return 1;
      }
      return 0;
    }
    if (group === 'keys') {
      if (verb !== 'rotate' && verb !== 'reencrypt' && verb !== 'drop-previous') throw new UsageError(verb ? `unknown command "${cmd}"` : 'keys needs rotate, reencrypt or drop-previous');
      const which = { hash: { type: 'boolean' }, encryption: { type: 'boolean' }, cookie: { type: 'boolean' } } as const;
      const p = parse(rest, verb === 'reencrypt' ? {} : verb === 'rotate' ? which : { ...which, force: { type: 'boolean' } }, 0);
      return await runKeysCommand(verb, p.values as KeysFlags, config, io);
    }
    if (group === 'oidc') return await runOidcCommand(argv.slice(1), config, io);
    if (group === 'users') return await runUsersCommand(argv.slice(1), config, io);
    const known = ['org add', 'org policy', 'user add', 'user disable', 'user enable', 'user mfa', 'user reregister', 'user link', 'app-passwords list', 'app-passwords revoke-all', 'integration add', 'integration list', 'integration remove'];
    if (!known.includes(cmd)) throw new UsageError(group ? `unknown command "${cmd}"` : 'no command given');
    // Parse before touching the store, so wrong usage changes nothing.
    const parsed =
      cmd === 'org add'
        ? parse(rest, { name: { type: 'string' } }, 1)
        : cmd === 'user add'
          ? parse(rest, { name: { type: 'string' }, admin: { type: 'boolean' }, 'password-stdin': { type: 'boolean' } }, 1)
          : cmd === 'user mfa'
            ? parse(rest, {}, 2)
            : cmd === 'org policy'
              ? parse(
                  rest,
                  {
                    'mfa-default': { type: 'string' },
                    methods: { type: 'string' },
                    'remember-days': { type: 'string' },
                    'app-passwords': { type: 'string' },
                    'app-passwords-keep': { type: 'string' },
                    'app-password-cap': { type: 'string' },
                    'app-password-protocols': { type: 'string' },
                    'app-password-max-days': { type: 'string' },
                    'app-password-unused-days': { type: 'string' },
                    'revoke-on-password-change': { type: 'string' },
                    'legacy-main-password': { type: 'string' },
                  },
                  1,
                )
              : cmd === 'integration list'
                ? parse(rest, {}, 0)
                : parse(rest, {}, 1);
    const arg = parsed.positionals[0] ?? '';
    const v = parsed.values as { name?: string; admin?: boolean; 'password-stdin'?: boolean; 'mfa-default'?: string; methods?: string; 'remember-days'?: string };
    const days = v['remember-days'];
    if (days !== undefined && !/^\d{1,3}$/.test(days)) throw new UsageError('--remember-days takes a whole number from 0 to 365');
    const ap = appPasswordOptions(parsed.values as Record<string, string | undefined>);
    const password = v['password-stdin'] ? (await io.readStdin()).replace(/\r?\n$/, '') : undefined;
    const ctx = await createContext(config);
    try {
      switch (cmd) {
        case 'org add': {
          const org = await ctx.accounts.addOrganization(OPERATOR, arg, v.name);
          io.out(`organization ${org.domain} ("${org.name}") added`);
          break;
        }
        case 'user add': {
          const user = await ctx.accounts.addUser(OPERATOR, { address: arg, name: v.name, role: v.admin ? 'admin' : 'user', password });
          io.out(`user ${user.address} added${user.role === 'admin' ? ' as admin' : ''}`);
          if (password === undefined) {
            const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, user.address);
            io.out(`one-time set-password link (valid until ${formatTime(link.expiresAt)}):`);
            io.out(setPasswordUrl(ctx, link.token));
          }
          break;
        }
        case 'user disable': {
          const user = await ctx.accounts.disableUser(OPERATOR, arg);
          io.out(`user ${user.address} disabled; their sessions are ended`);
          break;
        }
        case 'user mfa': {
          const user = await ctx.mfaAdmin.setUserState(OPERATOR, arg, parsed.positionals[1]!);
          io.out(`MFA for ${user.address} is now ${user.mfaState}`);
          break;
        }
        case 'user reregister': {
          const user = await ctx.mfaAdmin.requireReRegistration(OPERATOR, arg);
          io.out(`${user.address} must register MFA again at the next sign-in; methods cleared, sessions ended`);
          break;
        }
        case 'user link': {
          // The way back for a forgotten password, or an account someone else's guesses keep locked:
          // the link works while the account is locked, and setting the password lifts the lock.
          const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, arg);
          io.out(`one-time set-password link for ${link.user.address} (valid until ${formatTime(link.expiresAt)}):`);
          io.out(setPasswordUrl(ctx, link.token));
          break;
        }
        case 'org policy': {
          const org = await ctx.accounts.organizationByDomain(arg);
          const change = { legacyMainPassword: (parsed.values as Record<string, string | undefined>)['legacy-main-password'], mfaDefault: v['mfa-default'], allowedMethods: v.methods?.split(',').map((m) => m.trim()), rememberDays: days === undefined ? undefined : Number(days), appPasswords: ap };
          const p = Object.values(change).some((x) => x !== undefined) ? await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, change) : await ctx.mfaAdmin.getPolicy(OPERATOR, org.id);
          const a = p.appPasswords;
          io.out(`organization ${org.domain}: mfa-default=${p.mfaDefault} methods=${p.allowedMethods.join(',')} remember-days=${p.rememberDays} legacy-main-password=${p.legacyMainPassword}`);
          io.out(
            `app passwords: ${a.allowed ? 'on' : 'off'} keep-when-off=${a.keepExistingWhenOff ? 'on' : 'off'} cap=${a.cap} protocols=${a.protocols.join(',')} ` +
              `max-days=${a.maxLifetimeDays ?? 'never'} unused-days=${a.revokeUnusedDays ?? 'never'} revoke-on-password-change=${a.revokeOnPasswordChange ? 'on' : 'off'}`,
          );
          break;
        }
        case 'app-passwords list': {
          const { user, appPasswords } = await ctx.appPasswords.listFor(OPERATOR, arg);
          io.out(`${appPasswords.length} app password(s) of ${user.address}`);
          for (const p of appPasswords) {
            const used = p.lastUsedAt ? `${formatTime(p.lastUsedAt)} ${p.lastUsedProtocol ?? ''} ${p.lastUsedIp ?? ''}`.trim() : 'never';
            io.out(`${p.id}  "${p.name.replace(/[\u0000-\u001f\u007f]/g, '?')}"  created ${formatTime(p.createdAt)}  last used ${used}  expires ${p.expiresAt ? formatTime(p.expiresAt) : 'never'}  ${p.protocols.join(',')}`);
          }
          break;
        }
        case 'integration add': {
          const { integration, key } = await ctx.integrations.add(arg);
          io.out(`integration ${integration.name} added; its key (shown once; send it as "Authorization: Bearer <key>"):`);
          io.out(key);
          break;
        }
        case 'integration list': {
          for (const i of await ctx.integrations.list()) io.out(`${i.name}  added ${formatTime(i.createdAt)}`);
          break;
        }
        case 'integration remove': {
          await ctx.integrations.remove(arg);
          io.out(`integration ${arg} removed; its key no longer works`);
          break;
        }
        case 'app-passwords revoke-all': {
          const n = await ctx.appPasswords.revokeAllFor(OPERATOR, arg);
          io.out(`${n} app password(s) of ${arg.trim().toLowerCase()} deleted`);
          break;
        }
        case 'user enable': {
          const user = await ctx.accounts.enableUser(OPERATOR, arg);
          io.out(`user ${user.address} enabled`);
          break;
        }
      }
    } finally {
      await ctx.close();
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`sesame: ${e.message}. Run "sesame help" for usage.`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.err(e.message);
      return 2;
    }
    if (isSesameError(e)) {
      io.err(`sesame: ${cmd}: ${t(e.messageId as MessageId, e.params)} (${e.code})`);
      return 1;
    }
    throw e;
  }
}
