/**
 * Email through an SMTP server (nodemailer's SMTP transport), configured from one URL:
 * `smtp://user:pass@host:587` upgrades with STARTTLS when the server offers it (`?requireTLS=true`
 * insists), `smtps://user:pass@host:465` speaks TLS from the first byte. Certificates are verified.
 * Short timeouts make a dead or silent server fail in seconds rather than minutes, and every
 * failure becomes a DeliveryError whose message never contains the password.
 */
import type { Transporter } from 'nodemailer';
import { type Channel, DeliveryError, type Messenger, type OutgoingMessage } from './messenger.js';

export interface SmtpMailerOptions {
  /** smtp://[user:pass@]host[:port] or smtps://...; nodemailer reads further options from the query. */
  url: string;
  /** The `From` of every message: `Name <address>` or a bare address. */
  from: string;
  /** Milliseconds to connect and to get the greeting (default 5000); also DNS lookups. */
  connectTimeoutMs?: number;
  /** Milliseconds of silence in an open conversation before giving up (default 15000: leaves room for content scanning after DATA). */
  socketTimeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for a server with a private CA; the system CAs still apply otherwise. */
  ca?: string | Buffer;
}

export class SmtpMailer implements Messenger {
  /** Made at the first message: nodemailer costs ~100 ms to import, which commands that send nothing need not pay. */
  private transport: Promise<Transporter> | undefined;
  private readonly secrets: string[];

  constructor(private readonly options: SmtpMailerOptions) {
    if (!/^smtps?:\/\//i.test(options.url)) throw new Error('the SMTP URL must start with smtp:// or smtps://');
    this.secrets = secretForms(options.url);
  }

  private connect(): Promise<Transporter> {
    const o = this.options;
    const connect = o.connectTimeoutMs ?? 5_000;
    this.transport ??= import('nodemailer').then(({ default: nodemailer }) =>
      nodemailer.createTransport(
        {
          url: o.url,
          connectionTimeout: connect,
          greetingTimeout: connect,
          dnsTimeout: connect,
          socketTimeout: o.socketTimeoutMs ?? 15_000,
          ...(o.ca ? { tls: { ca: o.ca } } : {}),
          // Messages are plain text built by Sesame: never let a message reach for files or URLs.
          disableFileAccess: true,
          disableUrlAccess: true,
          logger: false,
        },
        { from: o.from },
      ),
    );
    return this.transport;
  }

  supports(channel: Channel): boolean {
    return channel === 'email';
  }

  async send(message: OutgoingMessage): Promise<void> {
    if (message.channel !== 'email') throw new DeliveryError(message.channel, 'the mail server only sends email');
    // One plain address only: nodemailer would read "a@x, b@y" as two recipients of the code.
    if (!SINGLE_ADDRESS.test(message.to))
      throw new DeliveryError('email', 'the recipient is not a single email address');
    try {
      await (await this.connect()).sendMail({
        to: message.to,
        subject: message.subject,
        text: message.text,
        headers: { 'Content-Language': message.locale },
      });
    } catch (e) {
      throw new DeliveryError('email', this.describe(e));
    }
  }

  /** The failure in a few words, with every form of the password blanked out. */
  private describe(e: unknown): string {
    const err = e as { message?: unknown; code?: unknown; responseCode?: unknown };
    let detail = typeof err?.message === 'string' && err.message ? err.message : String(e);
    if (typeof err?.code === 'string' && !detail.includes(err.code)) detail = `${err.code}: ${detail}`;
    for (const s of this.secrets) detail = detail.split(s).join('***');
    return `mail server: ${detail.replace(/\s+/g, ' ').trim().slice(0, 300)}`;
  }
}

/** The password as written in the URL, decoded, and as the AUTH PLAIN/LOGIN exchanges carry it (base64). */
function secretForms(url: string): string[] {
  let user = '';
  let pass = '';
  try {
    const u = new URL(url);
    user = safeDecode(u.username);
    pass = u.password;
  } catch {
    const m = /^smtps?:\/\/([^@/]*)@/i.exec(url);
    const auth = m?.[1] ?? '';
    const i = auth.indexOf(':');
    if (i >= 0) [user, pass] = [safeDecode(auth.slice(0, i)), auth.slice(i + 1)];
  }
  if (!pass) return [];
  const decoded = safeDecode(pass);
  const forms = new Set([
    pass,
    decoded,
    encodeURIComponent(decoded),
    b64(decoded),
    b64(`\u0000${user}\u0000${decoded}`),
    b64(`${user}\u0000${user}\u0000${decoded}`),
  ]);
  // Longest first, so that a form containing another is blanked whole.
  return [...forms].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

const SINGLE_ADDRESS = /^[^\s@,;:<>()[\]"\\]+@[^\s@,;:<>()[\]"\\]+$/;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
