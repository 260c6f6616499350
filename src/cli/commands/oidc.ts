/**
 * `sesame oidc ...`: the operator's side of the OpenID Connect provider.
 *
 *   sesame oidc client add <domain> <name> --redirect-uri URI [--redirect-uri URI ...] [--public] [--require-mfa]
 *   sesame oidc client list <domain>
 *   sesame oidc client remove <domain> <client-id>
 *   sesame oidc keys                  the signing keys, newest (signing) first
 *   sesame oidc rotate-keys           a new signing key; the old ones keep verifying
 *   sesame oidc drop-previous-keys    only the newest key is left
 *
 * Same conventions as the rest of the CLI: wrong usage prints one line and exits 2; a refused
 * command prints why, exits 1 and changes nothing.
 */
import { parseArgs } from 'node:util';
import { createContext } from '../../app/context.js';
import type { Config } from '../../config/config.js';
import { OPERATOR } from '../../domain/accounts/actor.js';
import { isSesameError } from '../../domain/errors.js';
import { translator } from '../../i18n/i18n.js';
import type { MessageId } from '../../i18n/en.js';
import { formatTime } from '../../i18n/format.js';
import { OIDC_PREFIX } from '../../web/links.js';
import { printUrl } from '../public-url.js';
import type { CommandGroup } from '../command.js';
import type { CliIo } from '../io.js';

export const OIDC_USAGE = `  sesame oidc client add <domain> <name> --redirect-uri URI [--redirect-uri URI ...] [--public] [--require-mfa]
  sesame oidc client list <domain>
  sesame oidc client remove <domain> <client-id>
  sesame oidc keys | sesame oidc rotate-keys | sesame oidc drop-previous-keys`;

/** The options and positional count of each command, checked before the store is opened. */
const COMMANDS: Record<
  string,
  { options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>; positionals: number }
> = {
  'client add': {
    options: {
      'redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean' },
      'require-mfa': { type: 'boolean' },
    },
    positionals: 2,
  },
  'client list': { options: {}, positionals: 1 },
  'client remove': { options: {}, positionals: 2 },
  keys: { options: {}, positionals: 0 },
  'rotate-keys': { options: {}, positionals: 0 },
  'drop-previous-keys': { options: {}, positionals: 0 },
};

/** Runs `sesame oidc <args>`; returns the exit code. */
export async function runOidcCommand(args: string[], config: Readonly<Config>, io: CliIo): Promise<number> {
  const cmd = args[0] === 'client' ? `client ${args[1] ?? ''}`.trim() : (args[0] ?? '');
  const rest = args.slice(cmd.split(' ').length);
  const spec = COMMANDS[cmd];
  const usage = (why: string) => {
    io.err(`sesame: ${why}. Run "sesame help" for usage.`);
    return 2;
  };
  if (!spec)
    return usage(cmd ? `unknown command "oidc ${cmd}"` : 'oidc needs client, keys, rotate-keys or drop-previous-keys');
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true });
  } catch (e) {
    return usage((e as Error).message.split('\n')[0]!);
  }
  if (parsed.positionals.length !== spec.positionals)
    return usage(`expected ${spec.positionals} argument(s), got ${parsed.positionals.length}`);
  const uris = (parsed.values['redirect-uri'] as string[] | undefined) ?? [];
  if (cmd === 'client add' && uris.length === 0) return usage('client add needs at least one --redirect-uri');
  const [a, b] = parsed.positionals as [string, string];
  const ctx = await createContext(config);
  try {
    switch (cmd) {
      case 'client add': {
        const org = await ctx.accounts.organizationByDomain(a);
        const { client, secret } = await ctx.oidc.clients.add(OPERATOR, org.id, {
          name: b,
          redirectUris: uris,
          kind: parsed.values.public ? 'public' : 'confidential',
          requireMfa: parsed.values['require-mfa'] === true,
        });
        io.out(
          `client "${client.name}" added to ${org.domain} (${client.kind}${client.requireMfa ? ', second factor always required' : ''})`,
        );
        printUrl(io, ctx.config, OIDC_PREFIX, 'issuer: ');
        io.out(`client_id: ${client.id}`);
        if (secret) io.out(`client_secret (shown once): ${secret}`);
        break;
      }
      case 'client list': {
        const org = await ctx.accounts.organizationByDomain(a);
        for (const c of await ctx.oidc.clients.list(OPERATOR, org.id))
          io.out(
            `${c.id}  "${c.name.replace(/[\u0000-\u001f\u007f]/g, '?')}"  ${c.kind}${c.requireMfa ? ' mfa-always' : ''}  ${c.redirectUris.join(' ')}`,
          );
        break;
      }
      case 'client remove': {
        const org = await ctx.accounts.organizationByDomain(a);
        await ctx.oidc.clients.remove(OPERATOR, org.id, b);
        io.out(`client ${b} removed; its tokens no longer work`);
        break;
      }
      case 'keys': {
        for (const k of await ctx.oidc.keys.describe())
          io.out(`${k.kid}  made ${formatTime(k.createdAt)}  ${k.signing ? 'signing' : 'verifying only'}`);
        break;
      }
      case 'rotate-keys': {
        const kid = await ctx.oidc.keys.rotate();
        io.out(
          `new signing key ${kid}; every instance signs with it within a minute, and the previous keys keep verifying until "sesame oidc drop-previous-keys"`,
        );
        break;
      }
      case 'drop-previous-keys': {
        const n = await ctx.oidc.keys.dropPrevious();
        io.out(`${n} previous signing key(s) removed; tokens they signed no longer verify`);
        break;
      }
    }
    return 0;
  } catch (e) {
    if (!isSesameError(e)) throw e;
    io.err(`sesame: oidc ${cmd}: ${translator('en')(e.messageId as MessageId, e.params)} (${e.code})`);
    return 1;
  } finally {
    await ctx.close();
  }
}

export const oidc: CommandGroup = { run: ({ args, config, io }) => runOidcCommand(args, config, io) };
