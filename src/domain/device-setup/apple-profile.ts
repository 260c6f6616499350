/**
 * An Apple configuration profile (`.mobileconfig`) that sets up one app password on an iPhone,
 * iPad or Mac (issue #18, item 2): a mail account (IMAP or POP3, with SMTP), a CalDAV and a
 * CardDAV account, each only when the organization has that server AND the app password may use
 * its protocol. Keys and types follow Apple's published schema (github.com/apple/device-management,
 * mdm/profiles: TopLevel, com.apple.mail.managed, com.apple.caldav.account,
 * com.apple.carddav.account).
 */
import { createHash } from 'node:crypto';
import type { Protocol } from '../app-passwords/model.js';
import { type Endpoint, type MailSettings, userNameFor } from '../mail-settings/model.js';

/**
 * plist (with its XML libraries) is loaded at the first profile: ~0.1 s of CPU that every CLI
 * command and server start would otherwise pay for a download few of them serve.
 */
let plistLibrary: Promise<typeof import('plist')> | undefined;
const plist = () => (plistLibrary ??= import('plist'));

/** What a profile for these servers and protocols would set up; `mail` null: no mail account. */
export interface ProfileContents {
  mail: { incoming: 'imap' | 'pop3'; sends: boolean } | null;
  caldav: boolean;
  carddav: boolean;
}

/** What the profile would hold, or null when it would hold nothing (an app password for SMTP only, say). */
export function profileContents(
  settings: Pick<MailSettings, 'servers'>,
  protocols: readonly Protocol[],
): ProfileContents | null {
  const s = settings.servers;
  const incoming = protocols.includes('imap') && s.imap ? 'imap' : protocols.includes('pop3') && s.pop3 ? 'pop3' : null;
  const c: ProfileContents = {
    mail: incoming ? { incoming, sends: protocols.includes('smtp') && s.smtp !== undefined } : null,
    caldav: protocols.includes('dav') && s.caldav !== undefined,
    carddav: protocols.includes('dav') && s.carddav !== undefined,
  };
  return c.mail || c.caldav || c.carddav ? c : null;
}

/** The words a device shows for the profile and its accounts, in the reader's language. */
export interface ProfileLabels {
  /** The profile's name in Settings, e.g. "Contoso: Mail on my iPhone". */
  displayName: string;
  /** The profile's description on the install screen. */
  description: string;
  mailAccount: string;
  calendarAccount: string;
  contactsAccount: string;
}

export interface ProfileInput {
  settings: Pick<MailSettings, 'servers' | 'userName'>;
  organization: string;
  address: string;
  displayName: string;
  appPassword: { id: string; protocols: readonly Protocol[]; password: string };
  /** Reverse-DNS prefix of the identifiers (from the public host name: `test.contoso.id`). */
  identifierPrefix: string;
  labels: ProfileLabels;
}

/**
 * A stable UUID per app password and payload: installing a second profile for the same app
 * password replaces the first (same PayloadIdentifier) instead of adding a duplicate account.
 */
function uuidFor(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5 layout (name-based), variant RFC 4122
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex').toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const davUrl = (e: Endpoint) =>
  `https://${e.host.includes(':') ? `[${e.host}]` : e.host}${e.port === 443 ? '' : `:${e.port}`}${e.path ?? '/'}`;

/** The profile as an XML property list (unsigned); null when it would hold no account. */
export async function appleProfile(p: ProfileInput): Promise<string | null> {
  const contents = profileContents(p.settings, p.appPassword.protocols);
  if (!contents) return null;
  const servers = p.settings.servers;
  const user = userNameFor(p.settings, p.address);
  const password = p.appPassword.password;
  const id = `${p.identifierPrefix}.app-password.${p.appPassword.id}`;
  const payload = (kind: string, type: string, name: string) => ({
    PayloadType: type,
    PayloadVersion: 1,
    PayloadIdentifier: `${id}.${kind}`,
    PayloadUUID: uuidFor(`${id}.${kind}`),
    PayloadDisplayName: name,
  });
  const content: Record<string, unknown>[] = [];
  if (contents.mail) {
    const incoming = servers[contents.mail.incoming]!;
    // Apple requires an outgoing server in every mail account. An app password that may not send
    // gets the submission server without credentials (EmailAuthNone): the account reads mail, and
    // the profile carries no SMTP login. With no submission server known, the incoming host stands in.
    const smtp = servers.smtp;
    const out = smtp ?? { host: incoming.host, port: 587, security: 'starttls' as const };
    content.push({
      ...payload('mail', 'com.apple.mail.managed', p.labels.mailAccount),
      EmailAccountDescription: p.labels.mailAccount,
      EmailAccountName: p.displayName,
      EmailAccountType: contents.mail.incoming === 'imap' ? 'EmailTypeIMAP' : 'EmailTypePOP',
      EmailAddress: p.address,
      IncomingMailServerAuthentication: 'EmailAuthPassword',
      IncomingMailServerHostName: incoming.host,
      IncomingMailServerPortNumber: incoming.port,
      // Both TLS and STARTTLS are "use SSL" to Apple: the port tells which (993/995/465 implicit).
      IncomingMailServerUseSSL: true,
      IncomingMailServerUsername: user,
      IncomingPassword: password,
      OutgoingMailServerHostName: out.host,
      OutgoingMailServerPortNumber: out.port,
      OutgoingMailServerUseSSL: true,
      ...(contents.mail.sends
        ? {
            OutgoingMailServerAuthentication: 'EmailAuthPassword',
            OutgoingMailServerUsername: user,
            OutgoingPassword: password,
            OutgoingPasswordSameAsIncomingPassword: true,
          }
        : { OutgoingMailServerAuthentication: 'EmailAuthNone' }),
    });
  }
  for (const [on, kind, type, prefix, label] of [
    [contents.caldav, 'caldav', 'com.apple.caldav.account', 'CalDAV', p.labels.calendarAccount],
    [contents.carddav, 'carddav', 'com.apple.carddav.account', 'CardDAV', p.labels.contactsAccount],
  ] as const) {
    if (!on) continue;
    const e = servers[kind]!;
    content.push({
      ...payload(kind, type, label),
      [`${prefix}AccountDescription`]: label,
      [`${prefix}HostName`]: e.host,
      [`${prefix}Port`]: e.port,
      [`${prefix}UseSSL`]: true,
      [`${prefix}PrincipalURL`]: davUrl(e),
      [`${prefix}Username`]: user,
      [`${prefix}Password`]: password,
    });
  }
  const { build } = await plist();
  return build({
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: id,
    PayloadUUID: uuidFor(id),
    PayloadDisplayName: p.labels.displayName,
    PayloadDescription: p.labels.description,
    PayloadOrganization: p.organization,
    PayloadRemovalDisallowed: false,
    PayloadContent: content,
  } as never);
}

/** `test.contoso.id` for `https://id.contoso.test`: the profile identifiers' reverse-DNS prefix. */
export function identifierPrefixFor(publicHost: string): string {
  // An address is no name to reverse (a development URL such as http://127.0.0.1:8080).
  if (publicHost.includes(':') || /^[\d.]+$/.test(publicHost)) return 'sesame';
  const labels = publicHost
    .toLowerCase()
    .split('.')
    .map((l) => l.replace(/[^a-z0-9-]/g, '-'))
    .filter(Boolean);
  return labels.length ? labels.reverse().join('.') : 'sesame';
}
