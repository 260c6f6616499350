/**
 * Syslog as RFC 5424 lines, sent over UDP (RFC 5426: one message per datagram) or TCP with
 * octet-counting framing (RFC 6587 3.4.1: `<length> <message>`, which survives newlines in a
 * message, unlike LF framing). Structured-data values are escaped per RFC 5424 6.3.3 (`"`, `\`
 * and `]` get a backslash); header fields are cut to their maximum lengths and to printable
 * US-ASCII, as the grammar requires.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export { parseSyslogUrl } from '../../lib/syslog-url.js';

export interface StructuredElement {
  /** `name@<private enterprise number>` for elements not registered with IANA. */
  id: string;
  params: [string, string][];
}

export interface SyslogMessage {
  /** 0-23 (e.g. 10 = authpriv). */
  facility: number;
  /** 0 (emergency) - 7 (debug). */
  severity: number;
  /** Epoch ms. */
  timestamp: number;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: StructuredElement[];
  msg: string;
}

/** Printable US-ASCII without spaces (PRINTUSASCII), at most `max` characters; empty becomes the NILVALUE `-`. */
function headerField(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s || '-';
}

/** SD-NAME: PRINTUSASCII except `=`, space, `]` and `"`, at most 32. */
function sdName(v: string): string {
  return v.replace(/[^\x21-\x7e]|[=\]"]/g, '').slice(0, 32);
}

/** PARAM-VALUE escaping (RFC 5424 6.3.3); control characters, which would break a line-based reader, become U+FFFD. */
export function escapeSdValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\u0000-\u001f\u007f]/g, '\uFFFD').replace(/["\\\]]/g, '\\$&');
}

/** One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`. */
export function formatRfc5424(m: SyslogMessage): string {
  const pri = Math.min(23, Math.max(0, m.facility)) * 8 + Math.min(7, Math.max(0, m.severity));
  const sd = m.sd.length
    ? m.sd
        .map((e) => `[${sdName(e.id)}${e.params.map(([k, v]) => ` ${sdName(k)}="${escapeSdValue(v)}"`).join('')}]`)
        .join('')
    : '-';
  // eslint-disable-next-line no-control-regex
  const msg = m.msg.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `<${pri}>1 ${new Date(m.timestamp).toISOString()} ${headerField(m.hostname, 255)} ${headerField(m.appName, 48)} ${headerField(m.procId, 128)} ${headerField(m.msgId, 32)} ${sd}${msg ? ` ${msg}` : ''}`;
}

/** RFC 6587 octet counting: the message's length in bytes, a space, the message. */
export function octetCounted(line: string): string {
  return `${Buffer.byteLength(line, 'utf8')} ${line}`;
}

export interface SyslogTransport {
  /** Sends the messages in order; rejects when they could not be handed to the network. */
  send(lines: string[]): Promise<void>;
  close(): Promise<void>;
}

/** The sender for a parsed `udp://` or `tcp://` target; `timeoutMs` bounds a TCP connect. */
export function createSyslogTransport(
  target: { protocol: 'udp' | 'tcp'; host: string; port: number },
  timeoutMs = 5_000,
): SyslogTransport {
  return target.protocol === 'udp'
    ? new UdpTransport(target.host, target.port)
    : new TcpTransport(target.host, target.port, timeoutMs);
}

class UdpTransport implements SyslogTransport {
  private readonly socket: dgram.Socket;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    // A datagram the network refused (ICMP unreachable) surfaces here; it must not crash the process.
    this.socket.on('error', () => undefined);
    this.socket.unref();
  }

  async send(lines: string[]): Promise<void> {
    for (const line of lines) {
      await new Promise<void>((resolve, reject) =>
        this.socket.send(Buffer.from(line, 'utf8'), this.port, this.host, (e) => (e ? reject(e) : resolve())),
      );
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.socket.close(() => r()));
  }
}

/** One connection, opened when first needed and again after it broke (the next send reconnects). */
class TcpTransport implements SyslogTransport {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {}

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port });
      const timer = setTimeout(
        () => s.destroy(new Error(`syslog server did not accept a connection within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      s.once('connect', () => {
        clearTimeout(timer);
        s.setKeepAlive(true, 60_000);
        this.socket = s;
        resolve(s);
      });
      s.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.on('close', () => {
        if (this.socket === s) this.socket = undefined;
      });
      // The server never speaks; reading keeps the socket from stalling if it does.
      s.resume();
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  async send(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const s = await this.connect();
    await new Promise<void>((resolve, reject) =>
      s.write(lines.map(octetCounted).join(''), 'utf8', (e) => (e ? reject(e) : resolve())),
    );
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.destroyed) await new Promise<void>((r) => s.end(() => r()));
  }
}
