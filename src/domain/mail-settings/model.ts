/**
 * The organization's mail, calendar and contacts servers as its users' apps must be told them
 * (issue #18, item 1): host, port and security per service, and the form of the user name. Later
 * items (configuration profiles, autoconfiguration, per-app help) read them; none is offered until
 * they exist. Validation lives here so that the page, the API and the CLI refuse the same things.
 */
import { SesameError } from '../errors.js';

export const MAIL_SERVICES = ['imap', 'pop3', 'smtp', 'caldav', 'carddav'] as const;
export type MailService = (typeof MAIL_SERVICES)[number];
export const DAV_SERVICES: readonly MailService[] = ['caldav', 'carddav'];
export const isDav = (s: MailService) => DAV_SERVICES.includes(s);

export const SECURITIES = ['tls', 'starttls'] as const;
export type Security = (typeof SECURITIES)[number];

export const USER_NAME_FORMS = ['address', 'localpart'] as const;
/** What apps sign in with: the whole address (the default), or the part before the @. */
export type UserNameForm = (typeof USER_NAME_FORMS)[number];

/** The services' own names, the same in every language (they go into messages as they are). */
export const SERVICE_NAMES: Record<MailService, string> = {
  imap: 'IMAP',
  pop3: 'POP3',
  smtp: 'SMTP',
  caldav: 'CalDAV',
  carddav: 'CardDAV',
};

/** The ports apps expect with each security; the CLI fills them in and the page suggests them. */
export const USUAL_PORTS: Record<MailService, Record<Security, number>> = {
  imap: { tls: 993, starttls: 143 },
  pop3: { tls: 995, starttls: 110 },
  // Submission: 465 is implicit TLS (RFC 8314), 587 STARTTLS.
  smtp: { tls: 465, starttls: 587 },
  caldav: { tls: 443, starttls: 443 },
  carddav: { tls: 443, starttls: 443 },
};

export interface Endpoint {
  /** Lower case; an internationalized name in its ASCII (punycode) form; an IPv6 literal without brackets. */
  host: string;
  port: number;
  security: Security;
  /** CalDAV and CardDAV only: where the service lives on that host, starting with '/'. */
  path?: string;
}

export interface MailSettings {
  orgId: string;
  servers: Partial<Record<MailService, Endpoint>>;
  userName: UserNameForm;
  updatedAt: number;
}

/** What an admin gives: every service's fields as typed (a missing or null service: not offered). */
export interface EndpointInput {
  host: string;
  port: number;
  security: string;
  path?: string;
}
export type MailSettingsInput = Partial<Record<MailService, EndpointInput | null>> & { userName?: string };

/** One refused field: which (`imap.host`, `userName`, ...) and why, as an error code with its message's values. */
export interface MailSettingsProblem {
  field: string;
  error: SesameError;
}

/**
 * Every problem of a settings change at once (a form shows each beside its field); it is the
 * first problem's error, so the API and the CLI answer that one's code and sentence.
 */
export class MailSettingsError extends SesameError {
  constructor(readonly problems: MailSettingsProblem[]) {
    const first = problems[0]!.error;
    super(first.code, problems.map((p) => `${p.field}: ${p.error.detail}`).join('; '), { params: first.params });
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * A host name of letter-digit-hyphen labels (an internationalized name is taken in its punycode
 * form), an IPv4 address, or an IPv6 address (brackets optional); undefined when it is none of
 * these. A trailing dot is dropped: apps are given the name as people write it.
 */
export function parseHost(raw: string): string | undefined {
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes(':')) {
    if (!/^[0-9a-f:.]+$/.test(h)) return undefined;
    try {
      return new URL(`http://[${h}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (/^[\d.]+$/.test(h)) return IPV4.test(h) ? h : undefined;
  if (h === '' || h.length > 253 || /[\s/?#@\\%]/.test(h)) return undefined;
  if (!/^[\x21-\x7e]*$/.test(h)) {
    try {
      h = new URL(`http://${h}/`).hostname;
    } catch {
      return undefined;
    }
  }
  const labels = h.split('.');
  // A name whose last label is all digits reads as a broken IPv4 address to every resolver.
  if (/^\d+$/.test(labels.at(-1)!)) return undefined;
  return h.length <= 253 && labels.every((l) => LABEL.test(l)) ? h : undefined;
}

const problem = (
  field: string,
  code: ConstructorParameters<typeof SesameError>[0],
  detail: string,
  service?: MailService,
) => ({
  field,
  error: new SesameError(code, detail, { params: service ? { service: SERVICE_NAMES[service] } : {} }),
});

/** The settings `input` asks for, or MailSettingsError with every problem (and then nothing is to change). */
export function validateMailSettings(input: MailSettingsInput): Pick<MailSettings, 'servers' | 'userName'> {
  const problems: MailSettingsProblem[] = [];
  const servers: MailSettings['servers'] = {};
  for (const s of MAIL_SERVICES) {
    const e = input[s];
    if (e === undefined || e === null) continue;
    const host = typeof e.host === 'string' ? parseHost(e.host) : undefined;
    if (host === undefined) problems.push(problem(`${s}.host`, 'mail_host_invalid', `host ${String(e.host)}`, s));
    const port = e.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      problems.push(problem(`${s}.port`, 'mail_port_invalid', `port ${String(port)}`, s));
    const security = e.security as Security;
    if (!SECURITIES.includes(security))
      problems.push(problem(`${s}.security`, 'mail_security_invalid', `security ${String(e.security)}`, s));
    else if (isDav(s) && security !== 'tls')
      problems.push(problem(`${s}.security`, 'mail_starttls_not_for_dav', `security ${security}`, s));
    let path: string | undefined;
    if (isDav(s)) {
      path = e.path === undefined || e.path === '' ? '/' : e.path;
      if (typeof path !== 'string' || !/^\/[\x21-\x7e]*$/.test(path) || path.length > 200 || /[?#]/.test(path))
        problems.push(problem(`${s}.path`, 'mail_path_invalid', `path ${String(e.path)}`, s));
    }
    if (host !== undefined) servers[s] = { host, port, security, ...(path !== undefined ? { path } : {}) };
  }
  const userName = (input.userName ?? 'address') as UserNameForm;
  if (!USER_NAME_FORMS.includes(userName))
    problems.push(problem('userName', 'mail_user_name_invalid', `userName ${String(input.userName)}`));
  if (problems.length === 0 && Object.keys(servers).length === 0)
    problems.push(problem('imap.host', 'mail_servers_none', 'no service given'));
  if (problems.length) throw new MailSettingsError(problems);
  return { servers, userName };
}

/** The user name an app signs in with, in the organization's form. */
export function userNameFor(s: Pick<MailSettings, 'userName'>, address: string): string {
  return s.userName === 'localpart' ? address.slice(0, address.lastIndexOf('@')) : address;
}

export interface MailSettingsRepository {
  get(orgId: string): Promise<MailSettings | undefined>;
  save(s: MailSettings): Promise<void>;
  /** Whether there were settings to remove. */
  remove(orgId: string): Promise<boolean>;
}

/**
 * Where a service's check stopped. `connect`: no TCP connection (refused, no such name, timed
 * out); `greeting`: the server did not greet as the protocol says; `starttls`: it refused the
 * upgrade or did not offer it; `tls`: the handshake failed; the `certificate_*` stages: the
 * handshake went through but an app would refuse the certificate.
 */
export const CHECK_STAGES = [
  'connect',
  'greeting',
  'starttls',
  'tls',
  'certificate_untrusted',
  'certificate_name',
  'certificate_expired',
] as const;
export type CheckStage = (typeof CHECK_STAGES)[number];

export interface CertificateFacts {
  subject: string;
  /** The names in its subjectAltName (DNS names and IP addresses). */
  names: string[];
  validTo: number;
}

/** What trying one service found: ok, or the stage that failed, with a short technical detail. */
export interface ProbeResult {
  ok: boolean;
  failed?: CheckStage;
  detail?: string;
  certificate?: CertificateFacts;
  ms: number;
}

export interface ServiceCheck extends ProbeResult {
  service: MailService;
  endpoint: Endpoint;
}

/**
 * Connects to a service as its apps would (adapters/mail-server-check.ts): TCP, the protocol's
 * STARTTLS when asked, the TLS handshake, and the certificate judged for `endpoint.host`. Never
 * rejects; every step has a time limit.
 */
export interface MailServerProbe {
  probe(service: MailService, endpoint: Endpoint): Promise<ProbeResult>;
}
