/**
 * What mail apps fetch to set themselves up (issue #18, item 3): Mozilla's autoconfiguration
 * document (Thunderbird, Thunderbird for Android/K-9 Mail, Evolution, ...) and Microsoft's
 * Autodiscover "plain old XML" answer (Outlook and the apps that follow it), both made from the
 * organization's mail settings only. Pure: no store, no clock. Neither holds a password, nor
 * anything about a user beyond the address the app itself sent (Autodiscover's LoginName); the
 * answer depends on the domain alone, so asking reveals nothing about who exists.
 */
import type { Endpoint, MailSettings } from './model.js';
import { userNameFor } from './model.js';

/** Text or attribute value made safe for XML 1.0: the five markup characters, and no control characters. */
export function xmlEscape(s: string): string {
  return (
    s
      // Characters XML 1.0 does not allow at all (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF).
      // eslint-disable-next-line no-control-regex
      .replace(
        /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
        '',
      )
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

const el = (name: string, value: string | number) => `<${name}>${xmlEscape(String(value))}</${name}>`;

export interface ClientConfigOrg {
  domain: string;
  name: string;
}

type ServerSettings = Pick<MailSettings, 'servers' | 'userName'>;

/** Mozilla's socketType for a security: implicit TLS is "SSL", the upgrade "STARTTLS"; never "plain". */
const socketType = (e: Endpoint) => (e.security === 'tls' ? 'SSL' : 'STARTTLS');

function mozillaServer(tag: 'incomingServer' | 'outgoingServer', type: string, e: Endpoint, username: string) {
  return [
    `    <${tag} type="${type}">`,
    `      ${el('hostname', e.host)}`,
    `      ${el('port', e.port)}`,
    `      ${el('socketType', socketType(e))}`,
    // The password travels inside TLS; app passwords are checked as plain passwords by Sesame.
    `      ${el('authentication', 'password-cleartext')}`,
    `      ${el('username', username)}`,
    `    </${tag}>`,
  ].join('\n');
}

/**
 * Mozilla's clientConfig version 1.1 (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat):
 * IMAP before POP3 (apps take the first incoming server they can use), then SMTP submission. The
 * user name is the placeholder the app fills in itself: %EMAILADDRESS% or %EMAILLOCALPART%.
 */
export function mozillaAutoconfig(org: ClientConfigOrg, s: ServerSettings): string {
  const username = s.userName === 'localpart' ? '%EMAILLOCALPART%' : '%EMAILADDRESS%';
  const parts: string[] = [];
  if (s.servers.imap) parts.push(mozillaServer('incomingServer', 'imap', s.servers.imap, username));
  if (s.servers.pop3) parts.push(mozillaServer('incomingServer', 'pop3', s.servers.pop3, username));
  if (s.servers.smtp) parts.push(mozillaServer('outgoingServer', 'smtp', s.servers.smtp, username));
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<clientConfig version="1.1">',
    `  <emailProvider id="${xmlEscape(org.domain)}">`,
    `    ${el('domain', org.domain)}`,
    `    ${el('displayName', org.name)}`,
    `    ${el('displayShortName', org.name)}`,
    ...parts,
    '  </emailProvider>',
    '</clientConfig>',
    '',
  ].join('\n');
}

export const AUTODISCOVER_RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
export const AUTODISCOVER_OUTLOOK_NS =
  'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';

function autodiscoverProtocol(type: string, e: Endpoint, loginName: string) {
  return [
    '      <Protocol>',
    `        ${el('Type', type)}`,
    `        ${el('Server', e.host)}`,
    `        ${el('Port', e.port)}`,
    `        ${el('LoginName', loginName)}`,
    `        ${el('DomainRequired', 'off')}`,
    `        ${el('SPA', 'off')}`,
    // Both securities encrypt the connection, so SSL is "on" for both: an app too old to read
    // Encryption then fails on a STARTTLS port rather than sending the password unencrypted.
    // Encryption (which overrides SSL where understood) says which: SSL = implicit TLS, TLS = STARTTLS.
    `        ${el('SSL', 'on')}`,
    `        ${el('Encryption', e.security === 'tls' ? 'SSL' : 'TLS')}`,
    `        ${el('AuthRequired', 'on')}`,
    '      </Protocol>',
  ].join('\n');
}

/**
 * Microsoft's POX Autodiscover answer for an email (not Exchange) account: one Protocol per
 * service offered (IMAP, POP3, SMTP), LoginName in the organization's form for `address`.
 */
export function autodiscoverResponse(s: ServerSettings, address: string): string {
  const login = userNameFor(s, address);
  const protocols: string[] = [];
  if (s.servers.imap) protocols.push(autodiscoverProtocol('IMAP', s.servers.imap, login));
  if (s.servers.pop3) protocols.push(autodiscoverProtocol('POP3', s.servers.pop3, login));
  if (s.servers.smtp) protocols.push(autodiscoverProtocol('SMTP', s.servers.smtp, login));
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<Autodiscover xmlns="${AUTODISCOVER_RESPONSE_NS}">`,
    `  <Response xmlns="${AUTODISCOVER_OUTLOOK_NS}">`,
    '    <Account>',
    `      ${el('AccountType', 'email')}`,
    `      ${el('Action', 'settings')}`,
    ...protocols,
    '    </Account>',
    '  </Response>',
    '</Autodiscover>',
    '',
  ].join('\n');
}

/** Whether the settings hold anything these documents describe (mail apps: IMAP, POP3 or SMTP). */
export const hasMailServers = (s: ServerSettings) => Boolean(s.servers.imap || s.servers.pop3 || s.servers.smtp);

/** Longest Autodiscover request read; Outlook's is a few hundred bytes. */
export const MAX_AUTODISCOVER_REQUEST = 4096;

/**
 * The EMailAddress of an Outlook Autodiscover request, or undefined. Read with a regular expression
 * over a bounded body, never an XML parser: nothing is expanded, nothing fetched. Character
 * references in the address (&amp; for &) are decoded; any other entity makes it unreadable.
 */
export function autodiscoverRequestAddress(body: string): string | undefined {
  if (body.length > MAX_AUTODISCOVER_REQUEST) return undefined;
  const m = /<(?:[A-Za-z_][\w.-]*:)?EMailAddress\s*>([^<]{1,320})<\/(?:[A-Za-z_][\w.-]*:)?EMailAddress\s*>/.exec(body);
  if (!m) return undefined;
  const raw = m[1]!.trim();
  const named: Record<string, string> = { amp: '&', apos: "'", quot: '"', lt: '<', gt: '>' };
  let bad = false;
  const text = raw.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]+);|&/g, (all, ref: string | undefined) => {
    if (ref === undefined) {
      bad = true;
      return all;
    }
    if (ref.startsWith('#x')) return String.fromCodePoint(Math.min(parseInt(ref.slice(2), 16), 0x10ffff));
    if (ref.startsWith('#')) return String.fromCodePoint(Math.min(parseInt(ref.slice(1), 10), 0x10ffff));
    const c = named[ref];
    if (c === undefined) bad = true;
    return c ?? all;
  });
  return bad || text === '' ? undefined : text;
}
