/**
 * The messaging layer against real counterparts on loopback: an SMTP server (smtp-server), an
 * HTTP listener standing in for the text/voice gateway, and the outbox file; plus the
 * configuration rules that keep the outbox out of production and secrets out of error messages.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { parseMessage, startSmtp } from '../support/sinks.js';
import {
  createMessenger,
  DevOutbox,
  SmtpMailer,
  WebhookGateway,
  type MessengerSettings,
} from '../../src/adapters/messaging/index.js';
import { DeliveryError, type OutgoingMessage } from '../../src/adapters/messaging/messenger.js';

const email: OutgoingMessage = {
  channel: 'email',
  to: 'alice@example.org',
  subject: 'Your Sesame code',
  text: 'Your code is 123456.\nIt is valid for 10 minutes.',
  locale: 'en',
};
const sms: OutgoingMessage = {
  channel: 'sms',
  to: '+31612345678',
  subject: 'ignored',
  text: 'Sesame code: 654321',
  locale: 'nl',
};

// ---- helpers ------------------------------------------------------------------------------

/** A loopback port that nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function expectDelivery(p: Promise<unknown>, channel: string, pattern: RegExp): Promise<DeliveryError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DeliveryError, `expected DeliveryError, got ${String(e)}`);
    assert.equal(e.channel, channel);
    assert.match(e.message, pattern);
    return e;
  }
  assert.fail('expected a DeliveryError');
}

/** A self-signed certificate for 127.0.0.1, or undefined when openssl is not installed. */
function selfSignedCert(dir: string): { key: string; cert: string } | undefined {
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    };
  } catch {
    return undefined;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-msg-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- SMTP ---------------------------------------------------------------------------------

describe('SMTP mailer', () => {
  it('hands a message to a real SMTP server: envelope, headers and text body', async () => {
    const smtp = await startSmtp();
    try {
      const mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${smtp.port}`, from: 'Sesame <sesame@id.example.org>' });
      assert.equal(mailer.supports('email'), true);
      assert.equal(mailer.supports('sms'), false);
      await mailer.send(email);
      assert.equal(smtp.received.length, 1);
      const got = smtp.received[0]!;
      assert.equal(got.from, 'sesame@id.example.org');
      assert.deepEqual(got.to, ['alice@example.org']);
      const { headers, body } = parseMessage(got.raw);
      assert.equal(headers.get('from'), 'Sesame <sesame@id.example.org>');
      assert.equal(headers.get('to'), 'alice@example.org');
      assert.equal(headers.get('subject'), 'Your Sesame code');
      assert.match(headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(headers.get('content-language'), 'en');
      assert.equal(body, email.text);
      // Never more than the one recipient, whatever the domain hands over.
      await expectDelivery(
        mailer.send({ ...email, to: 'alice@example.org, mallory@evil.example' }),
        'email',
        /single email address/,
      );
      await expectDelivery(
        mailer.send({ ...email, to: 'Mallory <mallory@evil.example>' }),
        'email',
        /single email address/,
      );
      assert.equal(smtp.received.length, 1);
    } finally {
      await smtp.stop();
    }
  });

  it('logs in with the URL credentials; a refused login is a DeliveryError without the password', async () => {
    const password = 'pa:ss/w0rd@%-secret';
    const smtp = await startSmtp({
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'mailer' && auth.password === password) callback(null, { user: 'mailer' });
        else callback(new Error(`Invalid username or password (${auth.password})`));
      },
    });
    try {
      const enc = encodeURIComponent(password);
      await new SmtpMailer({ url: `smtp://mailer:${enc}@127.0.0.1:${smtp.port}`, from: 'sesame@id.example.org' }).send(
        email,
      );
      assert.equal(smtp.received[0]?.user, 'mailer');

      // The test server even echoes the wrong password back; the error must not carry it.
      const wrong = 'Wr0ng-Secret-Value';
      const e = await expectDelivery(
        new SmtpMailer({ url: `smtp://mailer:${wrong}@127.0.0.1:${smtp.port}`, from: 'sesame@id.example.org' }).send(
          email,
        ),
        'email',
        /could not send email/,
      );
      assert.ok(!e.message.includes(wrong), e.message);
      assert.ok(!e.message.includes(Buffer.from(wrong).toString('base64')), e.message);
      assert.equal(smtp.received.length, 1);
    } finally {
      await smtp.stop();
    }
  });

  it('with ?requireTLS=true refuses a server that does not offer STARTTLS', async () => {
    const smtp = await startSmtp();
    try {
      await expectDelivery(
        new SmtpMailer({ url: `smtp://127.0.0.1:${smtp.port}/?requireTLS=true`, from: 'sesame@id.example.org' }).send(
          email,
        ),
        'email',
        /STARTTLS/,
      );
      assert.equal(smtp.received.length, 0);
    } finally {
      await smtp.stop();
    }
  });

  it('fails fast with a DeliveryError when nothing listens on the port', async () => {
    const port = await deadPort();
    const started = Date.now();
    const e = await expectDelivery(
      new SmtpMailer({ url: `smtp://mailer:TopSecret123@127.0.0.1:${port}`, from: 'sesame@id.example.org' }).send(
        email,
      ),
      'email',
      /ECONNREFUSED/,
    );
    assert.ok(Date.now() - started < 10_000);
    assert.ok(!e.message.includes('TopSecret123'));
  });

  it('gives up on a server that accepts the connection but never greets', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      await expectDelivery(
        new SmtpMailer({ url: `smtp://127.0.0.1:${port}`, from: 'sesame@id.example.org', connectTimeoutMs: 300 }).send(
          email,
        ),
        'email',
        /greeting|timeout/i,
      );
      assert.ok(Date.now() - started < 2_000);
    } finally {
      silent.close();
    }
  });

  describe('with TLS (self-signed certificate made by openssl)', () => {
    let pem: { key: string; cert: string } | undefined;
    before(() => {
      pem = selfSignedCert(tmp);
    });

    it('smtp:// upgrades with STARTTLS when offered, and verifies the certificate', async (t) => {
      if (!pem) return t.skip('openssl not installed');
      const smtp = await startSmtp({ disabledCommands: [], key: pem.key, cert: pem.cert });
      try {
        await new SmtpMailer({
          url: `smtp://127.0.0.1:${smtp.port}`,
          from: 'sesame@id.example.org',
          ca: pem.cert,
        }).send(email);
        assert.equal(smtp.received[0]?.secure, true);
        // Without trusting the certificate, the upgrade fails: no silent fallback to plain text.
        await expectDelivery(
          new SmtpMailer({ url: `smtp://127.0.0.1:${smtp.port}`, from: 'sesame@id.example.org' }).send(email),
          'email',
          /certificate/i,
        );
        assert.equal(smtp.received.length, 1);
      } finally {
        await smtp.stop();
      }
    });

    it('smtps:// speaks TLS from the first byte', async (t) => {
      if (!pem) return t.skip('openssl not installed');
      const smtp = await startSmtp({ secure: true, disabledCommands: [], key: pem.key, cert: pem.cert });
      try {
        await new SmtpMailer({
          url: `smtps://127.0.0.1:${smtp.port}`,
          from: 'sesame@id.example.org',
          ca: pem.cert,
        }).send(email);
        assert.equal(smtp.received[0]?.secure, true);
        assert.equal(parseMessage(smtp.received[0]!.raw).body, email.text);
      } finally {
        await smtp.stop();
      }
    });
  });
});

// ---- webhook gateway ----------------------------------------------------------------------

describe('webhook gateway', () => {
  const secret = 'gateway-shared-secret-0123456789';
  let server: http.Server;
  let base = '';
  let requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  let answer: (res: http.ServerResponse) => void = (res) => res.writeHead(204).end();

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const reset = (a: (res: http.ServerResponse) => void) => {
    requests = [];
    answer = a;
  };

  it('POSTs {to, channel, text, locale} as JSON with the shared-secret header', async () => {
    reset((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"42"}'));
    const gw = new WebhookGateway({ url: `${base}/send?route=eu`, secret });
    assert.deepEqual([gw.supports('sms'), gw.supports('voice'), gw.supports('email')], [true, true, false]);
    await gw.send(sms);
    await gw.send({ ...sms, channel: 'voice', text: 'Your code is 6 5 4 3 2 1' });
    assert.equal(requests.length, 2);
    const [first, second] = requests;
    assert.equal(first!.method, 'POST');
    assert.equal(first!.url, '/send?route=eu');
    assert.match(first!.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(first!.headers['x-sesame-secret'], secret);
    assert.deepEqual(JSON.parse(first!.body), {
      to: '+31612345678',
      channel: 'sms',
      text: 'Sesame code: 654321',
      locale: 'nl',
    });
    assert.deepEqual(JSON.parse(second!.body), {
      to: '+31612345678',
      channel: 'voice',
      text: 'Your code is 6 5 4 3 2 1',
      locale: 'nl',
    });
  });

  it('any non-2xx answer is a DeliveryError naming the status, never the secret', async () => {
    reset((res) => res.writeHead(500).end(`upstream failed for ${secret}`));
    const e = await expectDelivery(new WebhookGateway({ url: base, secret }).send(sms), 'sms', /gateway answered 500/);
    assert.ok(!e.message.includes(secret));
    reset((res) => res.writeHead(307, { location: 'http://127.0.0.1:9/elsewhere' }).end());
    await expectDelivery(new WebhookGateway({ url: base, secret }).send(sms), 'sms', /gateway answered 307/);
    assert.equal(requests.length, 1, 'the redirect is not followed');
  });

  it('a gateway that never answers is a DeliveryError after the timeout', async () => {
    reset(() => {}); // keeps the request open
    const started = Date.now();
    const e = await expectDelivery(
      new WebhookGateway({ url: base, secret, timeoutMs: 300 }).send({ ...sms, channel: 'voice' }),
      'voice',
      /did not answer within 300 ms/,
    );
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2_000, `took ${took} ms`);
    assert.ok(!e.message.includes(secret));
  });

  it('refuses a recipient that is not an E.164 number before calling the gateway', async () => {
    reset((res) => res.writeHead(204).end());
    await expectDelivery(new WebhookGateway({ url: base, secret }).send({ ...sms, to: '0612345678' }), 'sms', /E\.164/);
    assert.equal(requests.length, 0);
  });

  it('an unreachable gateway is a DeliveryError', async () => {
    const port = await deadPort();
    await expectDelivery(
      new WebhookGateway({ url: `http://127.0.0.1:${port}/send`, secret }).send(sms),
      'sms',
      /gateway unreachable/,
    );
  });
});

// ---- outbox and routing -------------------------------------------------------------------

describe('development outbox', () => {
  it('appends one JSON line per message to a 0600 file, creating it and its folder', async () => {
    const file = path.join(tmp, 'nested', 'outbox.jsonl');
    const outbox = new DevOutbox(file, () => new Date('2030-01-02T03:04:05.000Z'));
    assert.ok(outbox.supports('email') && outbox.supports('sms') && outbox.supports('voice'));
    await outbox.send(email);
    await outbox.send(sms);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l)),
      [
        {
          at: '2030-01-02T03:04:05.000Z',
          channel: 'email',
          to: email.to,
          subject: email.subject,
          text: email.text,
          locale: 'en',
        },
        {
          at: '2030-01-02T03:04:05.000Z',
          channel: 'sms',
          to: sms.to,
          subject: sms.subject,
          text: sms.text,
          locale: 'nl',
        },
      ],
    );
  });

  it('tightens an existing file to 0600', async () => {
    const file = path.join(tmp, 'loose.jsonl');
    fs.writeFileSync(file, '', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    await new DevOutbox(file).send(email);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });
});

describe('createMessenger', () => {
  const none: MessengerSettings = {
    mode: 'development',
    smtpUrl: '',
    mailFrom: 'sesame@localhost',
    smsWebhookUrl: '',
    smsWebhookSecret: '',
    devOutbox: '',
  };

  it('sends everything to the outbox in development when nothing is configured', async () => {
    const file = path.join(tmp, 'dev-outbox.jsonl');
    const m = createMessenger({ ...none, devOutbox: file });
    assert.deepEqual(m.routes, { email: 'outbox', sms: 'outbox', voice: 'outbox' });
    assert.equal(m.outboxFile, file);
    assert.ok(m.supports('email') && m.supports('sms') && m.supports('voice'));
    await m.send(sms);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).to, sms.to);
  });

  it('routes email to SMTP and text/voice to the webhook when configured', async () => {
    const smtp = await startSmtp();
    try {
      const m = createMessenger(
        {
          ...none,
          smtpUrl: `smtp://127.0.0.1:${smtp.port}`,
          mailFrom: 'sesame@id.example.org',
          devOutbox: path.join(tmp, 'unused.jsonl'),
        },
        { webhookTimeoutMs: 300 },
      );
      assert.deepEqual(m.routes, { email: 'smtp', sms: 'outbox', voice: 'outbox' });
      await m.send(email);
      assert.equal(smtp.received.length, 1);
      const both = createMessenger({
        ...none,
        mode: 'production',
        smtpUrl: 'smtp://127.0.0.1:25',
        smsWebhookUrl: 'https://gw.example.org/send',
        smsWebhookSecret: 'x'.repeat(16),
      });
      assert.deepEqual(both.routes, { email: 'smtp', sms: 'webhook', voice: 'webhook' });
      assert.equal(both.outboxFile, '');
      assert.ok(!fs.existsSync(path.join(tmp, 'unused.jsonl')));
    } finally {
      await smtp.stop();
    }
  });

  it('in production never falls back to the outbox: unconfigured text and voice are not supported', async () => {
    const m = createMessenger({ ...none, mode: 'production', smtpUrl: 'smtp://127.0.0.1:25' });
    assert.deepEqual([m.supports('email'), m.supports('sms'), m.supports('voice')], [true, false, false]);
    await expectDelivery(m.send(sms), 'sms', /not configured/);
    assert.throws(
      () =>
        createMessenger({
          ...none,
          mode: 'production',
          smtpUrl: 'smtp://127.0.0.1:25',
          devOutbox: path.join(tmp, 'x.jsonl'),
        }),
      /not allowed in production/,
    );
  });
});

// ---- configuration ------------------------------------------------------------------------

describe('messaging configuration', () => {
  const problemsOf = (env: Record<string, string>): ConfigError => {
    try {
      loadConfig(env);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e;
    }
    assert.fail('expected a ConfigError');
  };

  it('defaults to development with the outbox in the data folder', () => {
    const c = loadConfig({ SESAME_DATA_DIR: '/srv/sesame' });
    assert.equal(c.mode, 'development');
    assert.equal(c.smtpUrl, '');
    assert.equal(c.mailFrom, 'Sesame <sesame@localhost>');
    assert.equal(c.devOutbox, '/srv/sesame/outbox.jsonl');
    assert.equal(loadConfig({ SESAME_DEV_OUTBOX: '/tmp/o.jsonl' }).devOutbox, '/tmp/o.jsonl');
  });

  it('refuses production mode without SMTP, and accepts it with SMTP (no outbox then)', () => {
    const e = problemsOf({ SESAME_MODE: 'production' });
    assert.deepEqual(e.problems.length, 1);
    assert.match(e.message, /SESAME_SMTP_URL/);
    const c = loadConfig({ SESAME_MODE: 'production', SESAME_SMTP_URL: 'smtps://mailer:s3cret@mail.example.org:465' });
    assert.equal(c.mode, 'production');
    assert.equal(c.devOutbox, '');
    const m = createMessenger(c);
    assert.deepEqual(m.routes, { email: 'smtp', sms: 'none', voice: 'none' });
  });

  it('refuses production mode with SESAME_DEV_OUTBOX set, or a plain-http public URL off loopback', () => {
    const smtp = 'smtp://mail.example.org:587';
    assert.match(
      problemsOf({ SESAME_MODE: 'production', SESAME_SMTP_URL: smtp, SESAME_DEV_OUTBOX: '/tmp/o.jsonl' }).message,
      /SESAME_DEV_OUTBOX/,
    );
    assert.match(
      problemsOf({ SESAME_MODE: 'production', SESAME_SMTP_URL: smtp, SESAME_PUBLIC_URL: 'http://id.example.org' })
        .message,
      /SESAME_PUBLIC_URL/,
    );
    assert.match(
      problemsOf({ SESAME_MODE: 'production', SESAME_SMTP_URL: smtp, HOST: '0.0.0.0' }).message,
      /SESAME_PUBLIC_URL/,
    );
    for (const ok of [
      'https://id.example.org',
      'http://127.0.0.1:8080',
      'http://localhost:8080',
      'http://[::1]:8080',
    ]) {
      assert.equal(
        loadConfig({ SESAME_MODE: 'production', SESAME_SMTP_URL: smtp, SESAME_PUBLIC_URL: ok }).publicUrl,
        ok,
      );
    }
    // Development keeps allowing all of it.
    assert.equal(loadConfig({ SESAME_PUBLIC_URL: 'http://id.example.org' }).mode, 'development');
  });

  it('refuses a webhook URL without a (long enough) secret, and never shows the secret', () => {
    assert.match(
      problemsOf({ SESAME_SMS_WEBHOOK_URL: 'https://gw.example.org/send' }).message,
      /SESAME_SMS_WEBHOOK_SECRET/,
    );
    const short = 'tooShort-XyZ';
    const e = problemsOf({ SESAME_SMS_WEBHOOK_URL: 'https://gw.example.org/send', SESAME_SMS_WEBHOOK_SECRET: short });
    assert.match(e.message, /at least 16 characters/);
    assert.ok(!e.message.includes(short));
    const c = loadConfig({
      SESAME_SMS_WEBHOOK_URL: 'https://gw.example.org/send',
      SESAME_SMS_WEBHOOK_SECRET: 'long-enough-secret-1234',
    });
    assert.equal(c.smsWebhookUrl, 'https://gw.example.org/send');
    assert.match(
      problemsOf({
        SESAME_SMS_WEBHOOK_URL: 'ftp://gw.example.org',
        SESAME_SMS_WEBHOOK_SECRET: 'long-enough-secret-1234',
      }).message,
      /SESAME_SMS_WEBHOOK_URL/,
    );
  });

  it('validates the SMTP URL and the sender without echoing the password', () => {
    const e = problemsOf({
      SESAME_SMTP_URL: 'http://mailer:Hunter2-Secret@mail.example.org',
      SESAME_MAIL_FROM: 'not an address',
    });
    assert.equal(e.problems.length, 2);
    assert.match(e.message, /SESAME_SMTP_URL must be smtp:\/\//);
    assert.match(e.message, /SESAME_MAIL_FROM/);
    assert.ok(!e.message.includes('Hunter2-Secret'));
    assert.equal(loadConfig({ SESAME_MAIL_FROM: 'sesame@example.org' }).mailFrom, 'sesame@example.org');
    assert.match(problemsOf({ SESAME_MODE: 'staging' }).message, /SESAME_MODE/);
  });
});
