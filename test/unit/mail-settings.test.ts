/**
 * The organization's mail settings (issue #18, item 1), below the web and the store: every bad value
 * refused with its code and nothing changed; admins of the organization only; changes audited; the
 * CLI's endpoint syntax; and the check (adapters/mail-server-check.ts) against servers in this
 * process that speak just enough IMAP, POP3 and SMTP, with certificates openssl makes for the run
 * (a throwaway CA): each stage's failure is told apart, and nothing waits longer than its limit.
 * Real Dovecot and Postfix are checked in test/e2e/mail-protocols.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { SocketMailServerProbe } from '../../src/adapters/mail-server-check.js';
import { parseMailEndpoint } from '../../src/cli/commands/mail-settings.js';
import { type Actor, OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import type { AuditEvent, AuditRepository } from '../../src/domain/audit/events.js';
import { isSesameError } from '../../src/domain/errors.js';
import {
  type Endpoint,
  type MailServerProbe,
  type MailSettings,
  MailSettingsError,
  type MailSettingsInput,
  type MailSettingsRepository,
  parseHost,
  userNameFor,
} from '../../src/domain/mail-settings/model.js';
import { MailSettingsService } from '../../src/domain/mail-settings/service.js';
import { UsageError } from '../../src/cli/io.js';

const GOOD: MailSettingsInput = {
  imap: { host: 'mail.contoso.test', port: 993, security: 'tls' },
  smtp: { host: 'smtp.contoso.test', port: 587, security: 'starttls' },
  caldav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/dav/' },
};

class MemoryRepo implements MailSettingsRepository {
  rows = new Map<string, MailSettings>();
  async get(orgId: string) {
    return this.rows.get(orgId);
  }
  async save(s: MailSettings) {
    this.rows.set(s.orgId, structuredClone(s));
  }
  async remove(orgId: string) {
    return this.rows.delete(orgId);
  }
}

function setup(probe: MailServerProbe = { probe: async () => ({ ok: true, ms: 0 }) }) {
  const repo = new MemoryRepo();
  const audits: AuditEvent[] = [];
  const audit = { recordAudit: async (e: AuditEvent) => void audits.push(e) } as unknown as AuditRepository;
  const service = new MailSettingsService(repo, probe, audit, { now: () => 1_000 });
  return { repo, audits, service };
}

const user = (role: 'admin' | 'user', orgId = 'o1'): User =>
  ({ id: `u-${role}-${orgId}`, orgId, address: `${role}@contoso.test`, role, status: 'active' }) as User;
const withMfa = (u: User): Actor => ({ kind: 'user', user: u, amr: ['pwd', 'otp'] });

async function refusedWith(p: Promise<unknown>, code: string, field?: string) {
  try {
    await p;
  } catch (e) {
    assert.ok(isSesameError(e), String(e));
    assert.equal(e.code, code, e.message);
    if (field) {
      assert.ok(e instanceof MailSettingsError);
      assert.ok(
        e.problems.some((x) => x.field === field && x.error.code === code),
        `${field}: ${e.message}`,
      );
    }
    return;
  }
  assert.fail(`expected ${code}`);
}

describe('mail settings: validation, rights and audit', () => {
  it('host names: LDH labels, IDN as punycode, IPv4 and IPv6; anything else refused', () => {
    assert.equal(parseHost('Mail.Contoso.TEST.'), 'mail.contoso.test');
    assert.equal(parseHost('mail'), 'mail');
    assert.equal(parseHost('192.0.2.1'), '192.0.2.1');
    assert.equal(parseHost('[2001:DB8::1]'), '2001:db8::1');
    assert.equal(parseHost('bücher.example'), 'xn--bcher-kva.example');
    for (const bad of [
      '',
      ' ',
      'mail..test',
      '-mail.test',
      'mail-.test',
      'mail_1.test',
      'mail.test/x',
      'user@mail.test',
      'mail.test:993',
      '256.1.1.1',
      '1.2.3',
      'mail.123',
      `${'a'.repeat(64)}.test`,
      `${'a.'.repeat(127)}aa`,
      '2001:db8::g',
      'http://mail.test',
    ])
      assert.equal(parseHost(bad), undefined, JSON.stringify(bad));
  });

  it('refuses every bad value with its code, names its field, and changes nothing', async () => {
    const { service, repo, audits } = setup();
    await service.set(OPERATOR, 'o1', GOOD);
    const before = structuredClone(repo.rows.get('o1'));
    const cases: [MailSettingsInput, string, string][] = [
      [{ imap: { host: 'bad host', port: 993, security: 'tls' } }, 'mail_host_invalid', 'imap.host'],
      [{ pop3: { host: 'pop.test', port: 0, security: 'tls' } }, 'mail_port_invalid', 'pop3.port'],
      [{ pop3: { host: 'pop.test', port: 65536, security: 'tls' } }, 'mail_port_invalid', 'pop3.port'],
      [{ pop3: { host: 'pop.test', port: 99.5, security: 'tls' } }, 'mail_port_invalid', 'pop3.port'],
      [{ smtp: { host: 'smtp.test', port: Number.NaN, security: 'starttls' } }, 'mail_port_invalid', 'smtp.port'],
      [{ smtp: { host: 'smtp.test', port: 587, security: 'ssl' } }, 'mail_security_invalid', 'smtp.security'],
      [
        { caldav: { host: 'dav.test', port: 443, security: 'starttls', path: '/' } },
        'mail_starttls_not_for_dav',
        'caldav.security',
      ],
      [
        { carddav: { host: 'dav.test', port: 443, security: 'tls', path: 'dav/' } },
        'mail_path_invalid',
        'carddav.path',
      ],
      [
        { carddav: { host: 'dav.test', port: 443, security: 'tls', path: '/dav?x=1' } },
        'mail_path_invalid',
        'carddav.path',
      ],
      [{ ...GOOD, userName: 'uid' }, 'mail_user_name_invalid', 'userName'],
      [{}, 'mail_servers_none', 'imap.host'],
      [{ imap: null, userName: 'address' }, 'mail_servers_none', 'imap.host'],
    ];
    for (const [input, code, field] of cases) await refusedWith(service.set(OPERATOR, 'o1', input), code, field);
    assert.deepEqual(repo.rows.get('o1'), before, 'nothing changed');
    assert.equal(audits.length, 1, 'only the good change was audited');
  });

  it('gives every problem at once (a form shows each beside its field)', async () => {
    const { service } = setup();
    try {
      await service.set(OPERATOR, 'o1', {
        imap: { host: '', port: 0, security: 'x' },
        userName: 'nope',
      });
      assert.fail('refused');
    } catch (e) {
      assert.ok(e instanceof MailSettingsError);
      assert.deepEqual(
        e.problems.map((p) => [p.field, p.error.code]),
        [
          ['imap.host', 'mail_host_invalid'],
          ['imap.port', 'mail_port_invalid'],
          ['imap.security', 'mail_security_invalid'],
          ['userName', 'mail_user_name_invalid'],
        ],
      );
      assert.equal(e.code, 'mail_host_invalid');
      assert.deepEqual(e.params, { service: 'IMAP' });
    }
  });

  it('keeps what was saved: services, a DAV path ("/" when empty), the user-name form (address by default)', async () => {
    const { service, audits } = setup();
    const s = await service.set(OPERATOR, 'o1', {
      ...GOOD,
      carddav: { host: 'DAV.contoso.test', port: 8443, security: 'tls', path: '' },
    });
    assert.equal(s.userName, 'address');
    assert.deepEqual(s.servers.carddav, { host: 'dav.contoso.test', port: 8443, security: 'tls', path: '/' });
    assert.equal(s.servers.pop3, undefined);
    assert.deepEqual(await service.get(OPERATOR, 'o1'), s);
    assert.equal(userNameFor(s, 'ann@contoso.test'), 'ann@contoso.test');
    assert.equal(userNameFor({ userName: 'localpart' }, 'ann@contoso.test'), 'ann');
    assert.equal(audits[0]!.action, 'org.mail_settings');
    assert.equal(audits[0]!.orgId, 'o1');
    assert.match(audits[0]!.detail, /"imap":\{"host":"mail.contoso.test","port":993,"security":"tls"\}/);
    assert.equal(await service.clear(OPERATOR, 'o1'), true);
    assert.equal(await service.clear(OPERATOR, 'o1'), false);
    assert.equal(await service.get(OPERATOR, 'o1'), null);
    assert.deepEqual(
      audits.map((a) => a.detail.slice(0, 7)),
      ['{"serve', 'removed'],
      'a removal that removed nothing is not audited',
    );
  });

  it('only an admin of that organization, with a second factor, reads, changes or checks', async () => {
    let probed = 0;
    const { service, repo } = setup({
      probe: async () => {
        probed++;
        return { ok: true, ms: 0 };
      },
    });
    await service.set(withMfa(user('admin')), 'o1', GOOD);
    for (const [actor, code] of [
      [withMfa(user('user')), 'forbidden'],
      [withMfa(user('admin', 'o2')), 'forbidden'],
      [{ kind: 'user', user: user('admin'), amr: ['pwd'] } as Actor, 'admin_mfa_required'],
    ] as const) {
      await refusedWith(service.get(actor, 'o1'), code);
      await refusedWith(service.set(actor, 'o1', { imap: GOOD.imap }), code);
      await refusedWith(service.clear(actor, 'o1'), code);
      await refusedWith(service.check(actor, 'o1'), code);
    }
    assert.equal(probed, 0, 'nothing was connected to for them');
    assert.ok(repo.rows.get('o1')?.servers.smtp, 'nothing changed');
    assert.equal((await service.check(withMfa(user('admin')), 'o1')).length, 3);
    await refusedWith(service.check(OPERATOR, 'o2'), 'mail_settings_not_found');
  });

  it('the CLI reads host[:port[:security]] and https URLs, filling in the usual ports', () => {
    assert.deepEqual(parseMailEndpoint('imap', 'mail.test'), { host: 'mail.test', port: 993, security: 'tls' });
    assert.deepEqual(parseMailEndpoint('imap', 'mail.test:143'), {
      host: 'mail.test',
      port: 143,
      security: 'starttls',
    });
    assert.deepEqual(parseMailEndpoint('smtp', 'mail.test'), { host: 'mail.test', port: 587, security: 'starttls' });
    assert.deepEqual(parseMailEndpoint('smtp', 'mail.test:465'), { host: 'mail.test', port: 465, security: 'tls' });
    assert.deepEqual(parseMailEndpoint('pop3', '[::1]:1995:starttls'), {
      host: '::1',
      port: 1995,
      security: 'starttls',
    });
    assert.ok(Number.isNaN(parseMailEndpoint('pop3', 'mail.test:x:tls')!.port), 'left to the domain to refuse');
    assert.equal(parseMailEndpoint('imap', 'none'), null);
    assert.deepEqual(parseMailEndpoint('caldav', 'https://dav.test/dav/'), {
      host: 'dav.test',
      port: 443,
      security: 'tls',
      path: '/dav/',
    });
    assert.deepEqual(parseMailEndpoint('carddav', 'https://[::1]:8443/card'), {
      host: '::1',
      port: 8443,
      security: 'tls',
      path: '/card',
    });
    for (const bad of ['http://dav.test/', 'dav.test', 'https://u:p@dav.test/'])
      assert.throws(() => parseMailEndpoint('caldav', bad), UsageError);
    assert.throws(() => parseMailEndpoint('imap', 'a:1:tls:x'), UsageError);
  });
});

/** A CA for this run and certificates it signs; undefined when openssl is not installed. */
function makePki(dir: string) {
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const p = (f: string) => path.join(dir, f);
  try {
    run([
      'req',
      '-x509',
      ...ec,
      '-days',
      '2',
      '-subj',
      '/CN=Mail check test CA',
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.pem'),
    ]);
    const leaf = (name: string, days: string) => {
      run(['req', ...ec, '-subj', '/CN=mail.test', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`)]);
      fs.writeFileSync(p(`${name}.ext`), 'subjectAltName=DNS:mail.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
      run([
        'x509',
        '-req',
        '-in',
        p(`${name}.csr`),
        '-CA',
        p('ca.pem'),
        '-CAkey',
        p('ca.key'),
        '-CAcreateserial',
        '-days',
        days,
        '-extfile',
        p(`${name}.ext`),
        '-out',
        p(`${name}.pem`),
      ]);
      return { key: fs.readFileSync(p(`${name}.key`), 'utf8'), cert: fs.readFileSync(p(`${name}.pem`), 'utf8') };
    };
    return { caFile: p('ca.pem'), good: leaf('good', '2'), expired: leaf('expired', '-1') };
  } catch {
    return undefined;
  }
}

type Dialogue = (s: net.Socket, upgrade: () => void) => void;

/** A loopback server: each connection gets `dialogue`; `upgrade()` turns it into TLS with `pem`. */
async function fakeServer(pem: { key: string; cert: string }, implicitTls: boolean, dialogue: Dialogue) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('error', () => undefined);
    const upgrade = () => {
      const secure = new tls.TLSSocket(raw, { isServer: true, key: pem.key, cert: pem.cert });
      secure.on('error', () => undefined);
      return secure;
    };
    if (implicitTls) dialogue(upgrade(), () => undefined);
    else dialogue(raw, () => void upgrade());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Answers each line the client sends with `answer(line)`: text to send, `{ tls }` to send and then
 * start TLS on the connection, undefined to say nothing; `greeting` first.
 */
const lines =
  (greeting: string | undefined, answer: (line: string) => string | { tls: string } | undefined): Dialogue =>
  (s, upgrade) => {
    if (greeting !== undefined) s.write(greeting);
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        const a = answer(line);
        if (typeof a === 'string') s.write(a);
        else if (a) {
          s.write(a.tls);
          s.off('data', onData);
          upgrade();
          return;
        }
      }
    };
    s.on('data', onData);
  };

const IMAP = lines('* OK IMAP4rev1 ready\r\n', (l) =>
  l === 'a1 STARTTLS' ? { tls: 'a1 OK Begin TLS\r\n' } : 'x BAD\r\n',
);
const POP3 = lines('+OK POP3 ready\r\n', (l) => (l === 'STLS' ? { tls: '+OK Begin TLS\r\n' } : '-ERR\r\n'));
const SMTP = lines('220-mail.test ESMTP\r\n220 second greeting line\r\n', (l) => {
  if (l.startsWith('EHLO ')) return '250-mail.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n';
  if (l === 'STARTTLS') return { tls: '220 2.0.0 Ready to start TLS\r\n' };
  return '500 what\r\n';
});

describe('the check of a mail server (loopback servers, a throwaway CA)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-mailcheck-'));
  const pki = makePki(tmp);
  const closers: (() => Promise<void>)[] = [];
  // Every name points at loopback, as DNS would point the organization's names at its servers.
  const lookup: net.LookupFunction = (_h, o, cb) =>
    (o as { all?: boolean }).all
      ? (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
          { address: '127.0.0.1', family: 4 },
        ])
      : cb(null, '127.0.0.1', 4);
  const probe = (extraCaFile = pki?.caFile) => new SocketMailServerProbe({ extraCaFile, stepTimeoutMs: 1500, lookup });
  const serve = async (implicitTls: boolean, d: Dialogue, pem = pki!.good) => {
    const s = await fakeServer(pem, implicitTls, d);
    closers.push(s.close);
    return s.port;
  };
  const at = (port: number, security: 'tls' | 'starttls', host = 'mail.test'): Endpoint => ({ host, port, security });
  after(async () => {
    for (const c of closers) await c();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('ok for STARTTLS on IMAP, POP3 and SMTP (multi-line replies) and implicit TLS, with the certificate named', async (t) => {
    if (!pki) return t.skip('openssl not installed');
    const p = probe();
    for (const [service, port, security] of [
      ['imap', await serve(false, IMAP), 'starttls'],
      ['pop3', await serve(false, POP3), 'starttls'],
      ['smtp', await serve(false, SMTP), 'starttls'],
      [
        'imap',
        await serve(
          true,
          lines('* OK ready\r\n', () => undefined),
        ),
        'tls',
      ],
      [
        'smtp',
        await serve(
          true,
          lines('220 mail.test ESMTP\r\n', () => undefined),
        ),
        'tls',
      ],
      ['caldav', await serve(true, () => undefined), 'tls'],
    ] as const) {
      const r = await p.probe(service, at(port, security));
      assert.equal(r.ok, true, `${service} ${security}: ${r.failed} ${r.detail}`);
      assert.deepEqual(r.certificate?.names, ['mail.test', '127.0.0.1']);
      assert.equal(r.certificate?.subject, 'mail.test');
      assert.ok(r.certificate!.validTo > Date.now());
    }
    // By its address: the certificate names 127.0.0.1 too (no SNI is sent for an address).
    assert.equal((await p.probe('imap', at(await serve(false, IMAP), 'starttls', '127.0.0.1'))).ok, true);
  });

  it('tells each failure apart', async (t) => {
    if (!pki) return t.skip('openssl not installed');
    const p = probe();
    const imapTls = await serve(
      true,
      lines('* OK ready\r\n', () => undefined),
    );
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const expect = async (
      r: Promise<{ ok: boolean; failed?: string; detail?: string }>,
      stage: string,
      detail?: RegExp,
    ) => {
      const got = await r;
      assert.equal(got.ok, false);
      assert.equal(got.failed, stage, got.detail);
      if (detail) assert.match(got.detail ?? '', detail);
    };
    await expect(p.probe('imap', at(closed, 'tls')), 'connect', /ECONNREFUSED/);
    await expect(p.probe('imap', at(imapTls, 'tls', 'other.test')), 'certificate_name', /other\.test/);
    await expect(
      probe('').probe('imap', at(imapTls, 'tls')),
      'certificate_untrusted',
      /UNABLE_TO_VERIFY|SELF_SIGNED|ISSUER/,
    );
    await expect(
      p.probe(
        'imap',
        at(
          await serve(
            true,
            lines('* OK\r\n', () => undefined),
            pki.expired,
          ),
          'tls',
        ),
      ),
      'certificate_expired',
      /CERT_HAS_EXPIRED/,
    );
    // Plain IMAP where TLS was said: the handshake fails (the server's greeting is no TLS).
    await expect(p.probe('imap', at(await serve(false, IMAP), 'tls')), 'tls');
    await expect(p.probe('pop3', at(await serve(false, IMAP), 'starttls')), 'greeting', /not a POP3 greeting/);
    await expect(
      p.probe(
        'imap',
        at(
          await serve(
            false,
            lines('* OK\r\n', () => 'a1 BAD no TLS here\r\n'),
          ),
          'starttls',
        ),
      ),
      'starttls',
      /a1 BAD no TLS here/,
    );
    await expect(
      p.probe(
        'smtp',
        at(
          await serve(
            false,
            lines('220 hi\r\n', () => '250-mail.test\r\n250 SIZE 1000\r\n'),
          ),
          'starttls',
        ),
      ),
      'starttls',
      /not offered/,
    );
    // A TLS web server where IMAP with implicit TLS was said: the certificate is fine, the greeting is not.
    await expect(
      p.probe(
        'imap',
        at(
          await serve(
            true,
            lines(undefined, () => 'HTTP/1.1 400 Bad\r\n'),
          ),
          'tls',
        ),
      ),
      'greeting',
    );
    // A missing extra CA file is said, not thrown.
    await expect(probe(path.join(tmp, 'nope.pem')).probe('imap', at(imapTls, 'tls')), 'tls', /ENOENT/);
  });

  it('never waits past its limits: a silent server, a handshake that never comes', async (t) => {
    if (!pki) return t.skip('openssl not installed');
    const p = new SocketMailServerProbe({ extraCaFile: pki.caFile, stepTimeoutMs: 300, lookup });
    const silent = await serve(false, () => undefined);
    const t0 = Date.now();
    const [greeting, handshake] = await Promise.all([
      p.probe('smtp', at(silent, 'starttls')),
      p.probe('imap', at(silent, 'tls')),
    ]);
    assert.equal(greeting.failed, 'greeting');
    assert.match(greeting.detail!, /no answer within 300 ms/);
    assert.equal(handshake.failed, 'tls');
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
  });
});
