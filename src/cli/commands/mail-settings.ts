/**
 * `sesame org mail-settings <domain> [--imap host:port:tls|starttls] [--pop3 ...] [--smtp ...]
 * [--caldav https://host:port/path] [--carddav ...] [--user-name address|localpart] [--check] [--clear]`:
 * shows, changes (only the services given; `none` stops offering one), removes and checks the
 * organization's mail settings (issue #18, item 1). A failed check exits 1.
 */
import { OPERATOR } from '../../domain/accounts/actor.js';
import {
  type EndpointInput,
  isDav,
  MAIL_SERVICES,
  type MailService,
  type MailSettings,
  type MailSettingsInput,
  SECURITIES,
  type Security,
  type ServiceCheck,
  USUAL_PORTS,
} from '../../domain/mail-settings/model.js';
import type { CliIo } from '../io.js';
import { withContext } from '../context.js';
import type { Config } from '../../config/config.js';
import { parse, UsageError } from '../io.js';

export const MAIL_SETTINGS_USAGE = `  sesame org mail-settings <domain> [--imap host[:port[:tls|starttls]]|none] [--pop3 ...] [--smtp ...]
        [--caldav https://host[:port]/path|none] [--carddav ...] [--user-name address|localpart]
        [--check] [--clear]`;

const FLAGS = {
  imap: { type: 'string' },
  pop3: { type: 'string' },
  smtp: { type: 'string' },
  caldav: { type: 'string' },
  carddav: { type: 'string' },
  'user-name': { type: 'string' },
  check: { type: 'boolean' },
  clear: { type: 'boolean' },
} as const;

/**
 * `host[:port[:security]]` (an IPv6 address in brackets). Without a security, the one whose usual
 * port was given, else the service's usual one (TLS, STARTTLS for SMTP); without a port, the
 * usual port of that security. A port that is not a number goes to the domain, which refuses it.
 */
export function parseMailEndpoint(service: MailService, raw: string): EndpointInput | null {
  if (raw === 'none') return null;
  if (isDav(service)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new UsageError(`--${service} takes an https:// URL (such as https://dav.example.com/dav/) or none`);
    }
    if (url.protocol !== 'https:' || url.username || url.password || url.search || url.hash)
      throw new UsageError(`--${service} takes an https:// URL without user, query or fragment, or none`);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { host, port: url.port ? Number(url.port) : 443, security: 'tls', path: url.pathname };
  }
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::([^:]*))?(?::([^:]*))?$/.exec(raw);
  if (!m) throw new UsageError(`--${service} takes host[:port[:tls|starttls]] or none`);
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const portText = m[2];
  const port =
    portText === undefined || portText === '' ? undefined : /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  const usual = USUAL_PORTS[service];
  const security =
    m[3] ??
    (port !== undefined
      ? (SECURITIES.find((s) => usual[s] === port) ?? (service === 'smtp' ? 'starttls' : 'tls'))
      : service === 'smtp'
        ? 'starttls'
        : 'tls');
  return { host, port: port ?? usual[security as Security] ?? Number.NaN, security };
}

function describe(s: MailSettings, io: CliIo, domain: string) {
  io.out(`organization ${domain}: user-name=${s.userName}`);
  for (const k of MAIL_SERVICES) {
    const e = s.servers[k];
    const host = e && (e.host.includes(':') ? `[${e.host}]` : e.host);
    io.out(
      `${k}: ${!e ? 'not offered' : isDav(k) ? `https://${host}:${e.port}${e.path ?? '/'}` : `${host}:${e.port} ${e.security}`}`,
    );
  }
}

function describeCheck(r: ServiceCheck, io: CliIo) {
  const c = r.certificate;
  const cert = c
    ? ` (certificate for ${c.names.length ? c.names.join(', ') : c.subject}${Number.isFinite(c.validTo) ? `, valid until ${new Date(c.validTo).toISOString()}` : ''})`
    : '';
  const where = `${r.endpoint.host}:${r.endpoint.port} ${r.endpoint.security}`;
  io.out(`check ${r.service} ${where}: ${r.ok ? 'ok' : `failed at ${r.failed}: ${r.detail ?? ''}`}${cert}`);
}

export async function mailSettingsCommand(rest: string[], config: Readonly<Config>, io: CliIo): Promise<number> {
  // Parse before touching the store, so wrong usage changes nothing.
  const p = parse(rest, FLAGS, 1);
  const v = p.values as Record<string, string | boolean | undefined>;
  const changes = new Map<MailService, EndpointInput | null>();
  for (const k of MAIL_SERVICES) if (typeof v[k] === 'string') changes.set(k, parseMailEndpoint(k, v[k] as string));
  const userName = v['user-name'] as string | undefined;
  const changing = changes.size > 0 || userName !== undefined;
  if (v.clear && (changing || v.check)) throw new UsageError('--clear goes alone');
  return withContext(config, async (ctx) => {
    const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
    if (v.clear) {
      const removed = await ctx.mailSettings.clear(OPERATOR, o.id);
      io.out(`organization ${o.domain}: ${removed ? 'mail settings removed' : 'had no mail settings'}`);
      return 0;
    }
    let s = await ctx.mailSettings.get(OPERATOR, o.id);
    if (changing) {
      const input: MailSettingsInput = { userName: userName ?? s?.userName ?? 'address' };
      for (const k of MAIL_SERVICES) {
        const next = changes.has(k) ? changes.get(k) : s?.servers[k];
        if (next) input[k] = next;
      }
      s = await ctx.mailSettings.set(OPERATOR, o.id, input);
    }
    if (!s) {
      io.out(`organization ${o.domain}: no mail settings`);
      if (!v.check) return 0;
    } else describe(s, io, o.domain);
    if (!v.check) return 0;
    const results = await ctx.mailSettings.check(OPERATOR, o.id);
    for (const r of results) describeCheck(r, io);
    return results.every((r) => r.ok) ? 0 : 1;
  });
}
