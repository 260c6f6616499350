/**
 * The `sesame` command for operators. Runs as the operator (whoever can read the data folder) on
 * the same store as the server. Wrong usage prints one line and exits 2; a refused command
 * prints the reason and exits 1, having changed nothing. This file is the dispatcher: the first
 * word picks a command group from COMMANDS (one file each in commands/), which parses its own flags
 * before it opens anything.
 *
 *   sesame org add <domain> [--name NAME]
 *   sesame user add <address> [--name NAME] [--admin] [--password-stdin]
 *   sesame user disable <address> | sesame user enable <address>
 *   sesame user mfa <address> disabled|enabled|enforced
 *   sesame user reregister <address>
 *   sesame user link <address>
 *   sesame org policy <domain> [--mfa-default STATE] [--methods LIST] [--remember-days N] [app-password options]
 *   sesame org mail-settings <domain> [--imap ...] ... [--check] [--clear]   (commands/mail-settings.ts)
 *   sesame locks show|lift <address> | sesame locks lift-ip <ip>   (commands/locks.ts)
 *   sesame app-passwords list <address> | sesame app-passwords revoke-all <address>
 *   sesame integration config <target> ...   (commands/integration-config.ts)
 *   sesame migrate
 *   sesame backup <file> [--force] [--secrets-only] | sesame restore <file> [--force]   (commands/store.ts)
 *   sesame retention [--apply]   (commands/retention.ts)
 *   sesame keys rotate|reencrypt|drop-previous ...   (commands/keys.ts)
 *   sesame oidc client add|list|remove, keys, rotate-keys, drop-previous-keys   (commands/oidc.ts)
 *   sesame users import <file.csv> ... | sesame users export ...   (commands/users.ts)
 *   sesame group list|add|remove|members|add-member|remove-member|import|limits ...   (commands/group.ts)
 *   sesame location list|add|remove|show-country ...   (commands/location.ts)
 */
import { ConfigError, loadConfig } from '../config/config.js';
import { isSesameError } from '../domain/errors.js';
import type { MessageId } from '../i18n/en.js';
import { translator } from '../i18n/i18n.js';
import type { CommandGroup } from './command.js';
import { appPasswords } from './commands/app-passwords.js';
import { GROUP_USAGE, group } from './commands/group.js';
import { integration } from './commands/integration.js';
import { INTEGRATION_CONFIG_USAGE } from './commands/integration-config.js';
import { keys } from './commands/keys.js';
import { LOCATION_USAGE, location } from './commands/location.js';
import { LOCKS_USAGE, locks } from './commands/locks.js';
import { OIDC_USAGE, oidc } from './commands/oidc.js';
import { org } from './commands/org.js';
import { MAIL_SETTINGS_USAGE } from './commands/mail-settings.js';
import { retention } from './commands/retention.js';
import { backup, migrate, restore } from './commands/store.js';
import { user } from './commands/user.js';
import { USERS_USAGE, users } from './commands/users.js';
import { type CliIo, defaultIo, UsageError } from './io.js';

export type { CliIo } from './io.js';

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
        [--app-password-protocols imap,pop3,smtp,dav,http,ldap,radius] [--app-password-max-days N|never]
        [--app-password-unused-days N|never] [--revoke-on-password-change on|off]
        [--notify-admins-new-country on|off]
        [--legacy-main-password until_enforced|never] [--phone-countries NL,BE]
        [--time-zone Europe/Amsterdam] [--default-country NL]
${MAIL_SETTINGS_USAGE}
${LOCKS_USAGE}
  sesame app-passwords list <address>
  sesame app-passwords revoke-all <address>
  sesame app-passwords pin <address> <id> [--location NAME]... [--network CIDR] | --none
  sesame integration add <name>
  sesame integration list
  sesame integration remove <name>
  sesame integration check <name>
${INTEGRATION_CONFIG_USAGE}
  sesame migrate
  sesame backup <file> [--force] [--secrets-only]
  sesame restore <file> [--force]
  sesame retention [--apply]
  sesame keys rotate [--hash] [--encryption] [--cookie]
  sesame keys reencrypt
  sesame keys drop-previous [--hash] [--encryption] [--cookie] [--force]
${OIDC_USAGE}
${USERS_USAGE}
${GROUP_USAGE}
${LOCATION_USAGE}`;

/** Every command group, by its first word; each file in commands/ holds one or a few. */
const COMMANDS: Record<string, CommandGroup> = {
  org,
  user,
  'app-passwords': appPasswords,
  integration,
  migrate,
  backup,
  restore,
  retention,
  keys,
  oidc,
  users,
  locks,
  group,
  location,
};

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
    const command = group !== undefined && Object.hasOwn(COMMANDS, group) ? COMMANDS[group] : undefined;
    if (!command) throw new UsageError(group ? `unknown command "${cmd}"` : 'no command given');
    return await command.run({ verb, rest, args: argv.slice(1), config, io });
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
