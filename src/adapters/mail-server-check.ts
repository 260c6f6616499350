/**
 * The check of the organization's mail settings (domain/mail-settings): for one service, a TCP
 * connection, the protocol's STARTTLS when the settings say so (IMAP `STARTTLS`, POP3 `STLS`, SMTP
 * `EHLO` then `STARTTLS`), then the TLS handshake with the host as SNI, and the certificate judged
 * as an app would: chained to a CA Node.js trusts (its built-in list, Mozilla's) or to one in
 * SESAME_TLS_CHECK_CA_FILE, for that host name, and in date. For implicit TLS on a mail service the
 * greeting is read after the handshake, so a web server on the IMAP port does not pass. Outbound
 * only; every step has a time limit.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type {
  CertificateFacts,
  CheckStage,
  Endpoint,
  MailServerProbe,
  MailService,
  ProbeResult,
} from '../domain/mail-settings/model.js';

export interface MailServerCheckOptions {
  /** PEM file of CAs trusted besides Node's built-in ones (a private CA of the organization's servers). */
  extraCaFile?: string;
  /** Time limit of each step (connect, each reply, the handshake). */
  stepTimeoutMs?: number;
  /** Name resolution (tests point names at loopback); the system's resolver otherwise. */
  lookup?: net.LookupFunction;
}

/** A stage's failure, carried to the one place that turns it into a result. */
class StageFailure extends Error {
  constructor(
    readonly stage: CheckStage,
    detail: string,
  ) {
    super(detail);
  }
}

/** What OpenSSL's verification errors mean to an admin. */
function stageOfVerifyError(code: string): CheckStage {
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'certificate_expired';
  return 'certificate_untrusted';
}

/** Lines read from a socket, each wait bounded by the step time limit. */
class LineReader {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private ended: string | undefined;
  private readonly onData = (d: Buffer) => {
    this.buffer += d.toString('latin1');
    // A greeting longer than this is not a mail server's.
    if (this.buffer.length > 64 * 1024) this.buffer = this.buffer.slice(-64 * 1024);
    this.waiter?.();
  };
  private readonly onEnd = () => {
    this.ended ??= 'the server closed the connection';
    this.waiter?.();
  };
  private readonly onError = (e: Error) => {
    this.ended ??= (e as NodeJS.ErrnoException).code ?? e.message;
    this.waiter?.();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Lets go of the socket (before it is handed to TLS), which must have nothing unread. */
  release() {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
  }

  /** Waits for a complete reply `done` accepts (given what was read so far); returns it and consumes it. */
  async reply(stage: CheckStage, what: string, done: (text: string) => boolean): Promise<string> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      if (this.buffer.endsWith('\n') && done(this.buffer)) {
        const text = this.buffer;
        this.buffer = '';
        return text;
      }
      if (this.ended !== undefined) throw new StageFailure(stage, `${what}: ${this.ended}${shown(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new StageFailure(stage, `${what}: no answer within ${this.timeoutMs} ms${shown(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  send(line: string) {
    this.socket.write(`${line}\r\n`);
  }
}

/** What the server said, cut short and on one line, for the detail. */
function shown(text: string): string {
  const t = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return t ? ` (server said: ${t.slice(0, 120)})` : '';
}
const lastLine = (text: string) => text.trimEnd().split('\n').pop()!.trim();
/** An SMTP reply is complete when its last line has a space after the code (RFC 5321, 4.2.1). */
const smtpComplete = (text: string) => /^\d{3}(?: |$)/.test(lastLine(text));

/** The protocol's greeting, which names it (read before STARTTLS, or after an implicit-TLS handshake). */
async function greeting(service: MailService, r: LineReader) {
  if (service === 'imap') {
    const g = await r.reply('greeting', 'IMAP greeting', () => true);
    if (!/^\* (OK|PREAUTH)\b/i.test(g)) throw new StageFailure('greeting', `not an IMAP greeting${shown(g)}`);
  } else if (service === 'pop3') {
    const g = await r.reply('greeting', 'POP3 greeting', () => true);
    if (!/^\+OK\b/.test(g)) throw new StageFailure('greeting', `not a POP3 greeting${shown(g)}`);
  } else if (service === 'smtp') {
    const g = await r.reply('greeting', 'SMTP greeting', smtpComplete);
    if (!/^220[ -]/.test(lastLine(g))) throw new StageFailure('greeting', `not an SMTP greeting${shown(g)}`);
  }
}

/** The protocol's upgrade, after which the TLS handshake may start on the same connection. */
async function startTls(service: MailService, r: LineReader) {
  await greeting(service, r);
  if (service === 'imap') {
    r.send('a1 STARTTLS');
    const a = await r.reply('starttls', 'IMAP STARTTLS', (t) => /^a1 /im.test(lastLine(t)));
    if (!/^a1 OK\b/i.test(lastLine(a))) throw new StageFailure('starttls', `STARTTLS refused${shown(a)}`);
  } else if (service === 'pop3') {
    r.send('STLS');
    const a = await r.reply('starttls', 'POP3 STLS', () => true);
    if (!/^\+OK\b/.test(a)) throw new StageFailure('starttls', `STLS refused${shown(a)}`);
  } else {
    r.send('EHLO sesame-check.invalid');
    const ehlo = await r.reply('starttls', 'SMTP EHLO', smtpComplete);
    if (!/^250 /.test(lastLine(ehlo))) throw new StageFailure('starttls', `EHLO refused${shown(ehlo)}`);
    if (!/^250[ -]STARTTLS\b/im.test(ehlo)) throw new StageFailure('starttls', 'STARTTLS not offered after EHLO');
    r.send('STARTTLS');
    const a = await r.reply('starttls', 'SMTP STARTTLS', smtpComplete);
    if (!/^220 /.test(lastLine(a))) throw new StageFailure('starttls', `STARTTLS refused${shown(a)}`);
  }
}

function certificateFacts(cert: tls.PeerCertificate): CertificateFacts | undefined {
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const names = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .map((n) => n.replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
  const cn = cert.subject?.CN;
  return {
    subject: Array.isArray(cn) ? cn.join(', ') : (cn ?? ''),
    names,
    validTo: Date.parse(cert.valid_to),
  };
}

export class SocketMailServerProbe implements MailServerProbe {
  private readonly stepMs: number;
  constructor(private readonly o: MailServerCheckOptions = {}) {
    this.stepMs = o.stepTimeoutMs ?? 5000;
  }

  async probe(service: MailService, e: Endpoint): Promise<ProbeResult> {
    const t0 = Date.now();
    const sockets: net.Socket[] = [];
    let certificate: CertificateFacts | undefined;
    try {
      const ca = await this.trusted();
      const plain = await this.connect(e);
      sockets.push(plain);
      if (e.security === 'starttls') {
        const reader = new LineReader(plain, this.stepMs);
        await startTls(service, reader);
        reader.release();
      }
      const secure = await this.handshake(plain, e, ca);
      sockets.push(secure);
      certificate = certificateFacts(secure.getPeerCertificate());
      this.judge(secure, e);
      if (e.security === 'tls' && service !== 'caldav' && service !== 'carddav')
        await greeting(service, new LineReader(secure, this.stepMs));
      return { ok: true, ...(certificate ? { certificate } : {}), ms: Date.now() - t0 };
    } catch (err) {
      const f = err instanceof StageFailure ? err : new StageFailure('connect', String((err as Error).message));
      return {
        ok: false,
        failed: f.stage,
        detail: f.message,
        ...(certificate ? { certificate } : {}),
        ms: Date.now() - t0,
      };
    } finally {
      for (const s of sockets.reverse()) s.destroy();
    }
  }

  /** Node's built-in CAs and the extra file's, read at each check so that a replaced file counts at once. */
  private async trusted(): Promise<string[] | undefined> {
    if (!this.o.extraCaFile) return undefined;
    try {
      return [...tls.rootCertificates, await fs.readFile(this.o.extraCaFile, 'utf8')];
    } catch (e) {
      throw new StageFailure('tls', `SESAME_TLS_CHECK_CA_FILE: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }

  private connect(e: Endpoint): Promise<net.Socket> {
    const s = net.connect({ host: e.host, port: e.port, ...(this.o.lookup ? { lookup: this.o.lookup } : {}) });
    return this.settle(s, 'connect', 'connect', `no connection within ${this.stepMs} ms`);
  }

  /** The handshake, without refusing the certificate: judge() says what an app would think of it. */
  private handshake(socket: net.Socket, e: Endpoint, ca: string[] | undefined): Promise<tls.TLSSocket> {
    const s = tls.connect({
      socket,
      // SNI carries names only, never an address (RFC 6066, 3).
      ...(net.isIP(e.host) ? {} : { servername: e.host }),
      ...(ca ? { ca } : {}),
      rejectUnauthorized: false,
      // Node would check the name against `host`, which a handed-over socket does not give it
      // (an address without SNI is then judged as "localhost"); judge() checks it against ours.
      checkServerIdentity: () => undefined,
    });
    return this.settle(s, 'secureConnect', 'tls', `no TLS handshake within ${this.stepMs} ms`);
  }

  /**
   * `s` once it emits `ready`, or a StageFailure of `stage` on its first error or after the step's
   * time (the socket destroyed then).
   */
  private settle<S extends net.Socket>(s: S, ready: string, stage: 'connect' | 'tls', late: string): Promise<S> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.destroy();
        reject(new StageFailure(stage, late));
      }, this.stepMs);
      s.once(ready, () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        // Later errors reach whoever reads the socket (LineReader, TLS); none may go unhandled.
        s.on('error', () => undefined);
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        s.destroy();
        reject(new StageFailure(stage, err.code ?? err.message));
      });
    });
  }

  private judge(s: tls.TLSSocket, e: Endpoint) {
    if (!s.authorized) {
      const code = String(s.authorizationError ?? 'UNKNOWN');
      throw new StageFailure(stageOfVerifyError(code), code);
    }
    const mismatch = tls.checkServerIdentity(e.host, s.getPeerCertificate());
    if (mismatch) throw new StageFailure('certificate_name', mismatch.message);
  }
}
