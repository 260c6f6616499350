/**
 * The LDAP server (src/adapters/ldap/server.ts) in this process, with stand-ins for the verifier
 * and the directory, spoken to over raw sockets: what a misbehaving or hostile client gets (a
 * malformed or oversized message, one connection too many, a search or a write before a bind, an
 * anonymous or SASL bind, a bind without TLS) and the StartTLS path with paged results. The real
 * clients and the real verifier are in test/e2e/ldap.test.ts. The certificate is made with the
 * openssl CLI for this run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import {
  BerReader,
  constructed,
  elementLength,
  enumerated,
  integer,
  octets,
  TAG,
  boolean,
} from '../../src/adapters/ldap/ber.js';
import { OID, OP, RESULT } from '../../src/adapters/ldap/protocol.js';
import { LdapServer, MAX_MESSAGE_BYTES } from '../../src/adapters/ldap/server.js';
import type { LegacyAttempt } from '../../src/domain/legacy/verifier.js';

const GOOD = 'abcd-efgh-ijkl-mnop-qrst';

/** Request builders (the server has no need to write requests). */
const msg = (id: number, op: Buffer, controls?: Buffer) =>
  constructed(TAG.SEQUENCE, integer(id), op, ...(controls ? [constructed(0xa0, controls)] : []));
const bind = (id: number, name: string, password: string) =>
  msg(id, constructed(OP.bindRequest, integer(3), octets(name), octets(password, 0x80)));
const saslBind = (id: number) =>
  msg(id, constructed(OP.bindRequest, integer(3), octets(''), constructed(0xa3, octets('EXTERNAL'))));
const present = (attr: string) => octets(attr, 0x87);
const search = (id: number, base: string, scope: number, filter: Buffer, controls?: Buffer) =>
  msg(
    id,
    constructed(
      OP.searchRequest,
      octets(base),
      enumerated(scope),
      enumerated(0),
      integer(0),
      integer(0),
      boolean(false),
      filter,
      constructed(TAG.SEQUENCE, octets('uid')),
    ),
    controls,
  );
const paged = (size: number, cookie: Buffer) =>
  constructed(TAG.SEQUENCE, octets(OID.pagedResults), octets(constructed(TAG.SEQUENCE, integer(size), octets(cookie))));
const compare = (id: number, entry: string, attribute: string, value: string) =>
  msg(id, constructed(OP.compareRequest, octets(entry), constructed(TAG.SEQUENCE, octets(attribute), octets(value))));
const extended = (id: number, oid: string) => msg(id, constructed(OP.extendedRequest, octets(oid, 0x80)));

interface Reply {
  id: number;
  tag: number;
  /** The result code, for responses that carry an LDAPResult. */
  code?: number;
  /** A SearchResultEntry's DN. */
  dn?: string;
  /** ExtendedResponse's responseName and responseValue. */
  name?: string;
  value?: string;
  /** The paged-results cookie of a SearchResultDone. */
  cookie?: Buffer;
}

function parse(frame: Buffer): Reply {
  const m = new BerReader(frame).sequence(TAG.SEQUENCE, 'message');
  const id = m.integer('id');
  const op = m.element();
  const r = new BerReader(op.value);
  const out: Reply = { id, tag: op.tag };
  if (op.tag === OP.searchResultEntry) out.dn = r.string('dn');
  else {
    out.code = r.integer('code', TAG.ENUMERATED);
    r.string('matched');
    r.string('diagnostic');
    while (!r.atEnd) {
      const e = r.element();
      if (e.tag === 0x8a) out.name = e.value.toString();
      if (e.tag === 0x8b) out.value = e.value.toString();
    }
  }
  if (m.peek() === 0xa0) {
    const c = m.sequence(0xa0, 'controls').sequence(TAG.SEQUENCE, 'control');
    c.string('type');
    const v = new BerReader(c.octets('value')).sequence(TAG.SEQUENCE, 'paged');
    v.integer('size');
    out.cookie = v.octets('cookie');
  }
  return out;
}

/** A client over a socket: sends requests, reads replies frame by frame, tells when the server closed. */
class Client {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(public socket: net.Socket) {
    this.listen(socket);
  }
  listen(s: net.Socket) {
    s.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    s.on('close', () => {
      this.closed = true;
      this.wake();
    });
    s.on('error', () => undefined);
  }
  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }
  async next(): Promise<Reply | undefined> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const n = elementLength(this.buf, 1 << 20);
      if (n !== undefined) {
        const frame = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return parse(frame);
      }
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error('no reply within 5 s');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  send(b: Buffer) {
    this.socket.write(b);
  }
}

describe('the LDAP server, over raw sockets', () => {
  let dir = '';
  let server: LdapServer;
  let port = 0;
  let ca: Buffer;
  const attempts: LegacyAttempt[] = [];
  /** What the directory was asked: 'all', or the address of one person. */
  const reads: string[] = [];
  const PEOPLE = [
    { id: 'u1', address: 'ann@contoso.test', name: 'Ann Lee', posixId: 100001 },
    { id: 'u2', address: 'bob@contoso.test', name: 'Bob', posixId: 100002 },
    { id: 'u3', address: 'cem@contoso.test', name: 'Cem', posixId: 100003 },
  ];
  const rejected: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldap-unit-'));
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
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
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    ca = fs.readFileSync(cert);
    server = new LdapServer(
      {
        verifier: {
          verify: async (a) => {
            attempts.push(a);
            return a.password === GOOD
              ? { outcome: 'ok', reason: 'ok', address: a.user }
              : { outcome: 'wrong', reason: 'wrong_password', address: a.user };
          },
          logRejected: async (a) => void rejected.push(a.user),
        },
        accounts: {
          findUserByAddress: async (address) => ({
            id: 'u1',
            orgId: 'o1',
            address,
            name: 'Ann Lee',
            status: 'active',
            role: 'user',
            createdAt: 0,
            passwordChangedAt: null,
            mfaState: 'enforced',
          }),
          findOrganizationById: async () => ({ id: 'o1', domain: 'contoso.test', name: 'Contoso', createdAt: 0 }),
          findOrganizationByDomain: async () => undefined,
        },
        integrations: { verify: async () => undefined },
        directory: {
          activePeople: async () => {
            reads.push('all');
            return PEOPLE;
          },
          activePerson: async (_org, address) => {
            reads.push(address);
            return PEOPLE.find((p) => p.address === address);
          },
          groups: async () => [],
          groupsOf: async () => [],
        },
        metrics: { verification: () => undefined },
        log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      },
      {
        cert: ca,
        key: fs.readFileSync(key),
        maxConnections: 3,
        maxConnectionsPerIp: 2,
        idleSeconds: 30,
        sizeLimit: 100,
      },
    );
    port = await server.listen(0, '127.0.0.1', false);
  });

  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (from = '127.0.0.1') => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
    await new Promise((r) => s.once('connect', r));
    return new Client(s);
  };

  it('refuses searches before a bind (1) but answers the root DSE, without naming any organization', async () => {
    const c = await connect();
    c.send(search(1, 'dc=contoso,dc=test', 2, present('objectClass')));
    assert.deepEqual(await c.next(), { id: 1, tag: OP.searchResultDone, code: RESULT.operationsError });
    c.send(search(2, '', 0, present('objectClass')));
    assert.deepEqual(await c.next(), { id: 2, tag: OP.searchResultEntry, dn: '' });
    assert.deepEqual(await c.next(), { id: 2, tag: OP.searchResultDone, code: RESULT.success });
    c.socket.destroy();
  });

  it('refuses anonymous (48), unauthenticated (53), SASL (7) and plain-text (13) binds, each logged, without asking the verifier', async () => {
    const c = await connect();
    const before = attempts.length;
    c.send(bind(1, '', ''));
    assert.equal((await c.next())?.code, RESULT.inappropriateAuthentication);
    c.send(bind(2, 'ann@contoso.test', ''));
    assert.equal((await c.next())?.code, RESULT.unwillingToPerform);
    c.send(saslBind(3));
    assert.equal((await c.next())?.code, RESULT.authMethodNotSupported);
    c.send(bind(4, 'ann@contoso.test', GOOD));
    assert.equal((await c.next())?.code, RESULT.confidentialityRequired);
    assert.equal(attempts.length, before, 'no password was checked');
    assert.deepEqual(rejected.slice(-4), ['', 'ann@contoso.test', '', 'ann@contoso.test']);
    c.socket.destroy();
  });

  it('refuses a delete with unwillingToPerform in a DelResponse, and an unknown extended operation with protocolError', async () => {
    const c = await connect();
    c.send(msg(1, octets('uid=ann,ou=people,dc=contoso,dc=test', OP.delRequest)));
    assert.deepEqual(await c.next(), { id: 1, tag: OP.delResponse, code: RESULT.unwillingToPerform });
    c.send(extended(2, '1.2.3.4'));
    assert.deepEqual(await c.next(), { id: 2, tag: OP.extendedResponse, code: RESULT.protocolError });
    c.socket.destroy();
  });

  it('ends the connection with a Notice of Disconnection on a malformed or oversized message', async () => {
    for (const bad of [
      Buffer.from('3003020101', 'hex').subarray(0, 5), // an LDAPMessage with no operation
      Buffer.from('3080', 'hex'), // an indefinite length
      Buffer.concat([Buffer.from([0x30, 0x83]), Buffer.from([0x01, 0x00, 0x01])]), // 65537 bytes announced
    ]) {
      const c = await connect();
      c.send(bad);
      assert.deepEqual(await c.next(), {
        id: 0,
        tag: OP.extendedResponse,
        code: RESULT.protocolError,
        name: OID.noticeOfDisconnection,
      });
      assert.equal(await c.next(), undefined, 'then closed');
    }
    assert.ok(65537 > MAX_MESSAGE_BYTES);
  });

  it('tells one connection too many, from one IP or in all, that the server is busy, and closes it', async () => {
    const busy = async (c: Client) => {
      assert.deepEqual(await c.next(), {
        id: 0,
        tag: OP.extendedResponse,
        code: RESULT.busy,
        name: OID.noticeOfDisconnection,
      });
      assert.equal(await c.next(), undefined);
    };
    await new Promise((r) => setTimeout(r, 50)); // the earlier tests' connections are gone
    const open = [await connect(), await connect()];
    await busy(await connect()); // a third from 127.0.0.1: over the per-IP limit of 2
    open.push(await connect('127.0.0.2')); // another IP: the third connection in all
    await busy(await connect('127.0.0.3')); // a fourth: over the limit of 3 in all
    // The connections that were open still work.
    open[2]!.send(extended(1, OID.whoAmI));
    assert.deepEqual(await open[2]!.next(), { id: 1, tag: OP.extendedResponse, code: RESULT.success, value: '' });
    for (const c of open) c.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
  });

  it('answers Compare (what Apache `Require ldap-group` sends) after a bind, within the bound organization', async () => {
    const c = await connect();
    const ann = 'uid=ann,ou=people,dc=contoso,dc=test';
    c.send(compare(1, ann, 'mail', 'ann@contoso.test'));
    assert.deepEqual(await c.next(), { id: 1, tag: OP.compareResponse, code: RESULT.operationsError });
    c.send(extended(2, OID.startTls));
    assert.equal((await c.next())?.code, RESULT.success);
    const secure = tls.connect({ socket: c.socket, ca, servername: undefined, host: '127.0.0.1' });
    await new Promise((r, j) => secure.once('secureConnect', r).once('error', j));
    const t = new Client(secure);
    t.send(bind(3, ann, GOOD));
    assert.equal((await t.next())?.code, RESULT.success);
    for (const [id, entry, attribute, value, code] of [
      [4, ann, 'MAIL', 'Ann@Contoso.test', RESULT.compareTrue],
      [5, ann, 'mail', 'bob@contoso.test', RESULT.compareFalse],
      [6, ann, 'memberOf', 'cn=Staff,ou=groups,dc=contoso,dc=test', RESULT.compareFalse],
      [7, 'uid=zed,ou=people,dc=contoso,dc=test', 'uid', 'zed', RESULT.noSuchObject],
      [8, 'uid=fay,ou=people,dc=fabrikam,dc=test', 'uid', 'fay', RESULT.noSuchObject],
      [9, 'not a DN', 'uid', 'ann', RESULT.invalidDNSyntax],
    ] as const) {
      t.send(compare(id, entry, attribute, value));
      assert.deepEqual(await t.next(), { id, tag: OP.compareResponse, code }, `${entry} ${attribute}=${value}`);
    }
    t.socket.destroy();
  });

  it('StartTLS, a bind by DN, whoami, and a paged search one entry at a time', async () => {
    const c = await connect();
    c.send(extended(1, OID.startTls));
    assert.deepEqual(await c.next(), { id: 1, tag: OP.extendedResponse, code: RESULT.success, name: OID.startTls });
    const secure = tls.connect({ socket: c.socket, ca, servername: undefined, host: '127.0.0.1' });
    await new Promise((r, j) => secure.once('secureConnect', r).once('error', j));
    const t = new Client(secure);
    t.send(bind(2, 'uid=ann,ou=people,dc=contoso,dc=test', GOOD));
    assert.equal((await t.next())?.code, RESULT.success);
    assert.equal(attempts.at(-1)?.user, 'ann@contoso.test', 'the DN is checked as the address it names');
    assert.equal(attempts.at(-1)?.protocol, 'ldap');
    t.send(extended(3, OID.whoAmI));
    assert.equal((await t.next())?.value, 'dn:uid=ann,ou=people,dc=contoso,dc=test');
    const seen: string[] = [];
    let cookie: Buffer = Buffer.alloc(0);
    for (let id = 4; id < 10; id++) {
      t.send(search(id, 'ou=people,dc=contoso,dc=test', 1, present('uid'), paged(1, cookie)));
      const entry = await t.next();
      if (entry?.tag === OP.searchResultEntry) seen.push(entry.dn!);
      const done = entry?.tag === OP.searchResultDone ? entry : await t.next();
      assert.equal(done?.code, RESULT.success);
      cookie = done!.cookie!;
      if (cookie.length === 0) break;
    }
    assert.deepEqual(seen, [
      'uid=ann,ou=people,dc=contoso,dc=test',
      'uid=bob,ou=people,dc=contoso,dc=test',
      'uid=cem,ou=people,dc=contoso,dc=test',
    ]);
    // An equality on uid or mail reads that one user, not the organization.
    reads.length = 0;
    const equality = (attr: string, value: string) => constructed(0xa3, octets(attr), octets(value));
    t.send(search(10, 'dc=contoso,dc=test', 2, constructed(0xa0, present('objectClass'), equality('UID', 'Bob'))));
    assert.equal((await t.next())?.dn, 'uid=bob,ou=people,dc=contoso,dc=test');
    assert.equal((await t.next())?.code, RESULT.success);
    t.send(search(11, 'ou=people,dc=contoso,dc=test', 1, equality('mail', 'nobody@contoso.test')));
    assert.deepEqual(await t.next(), { id: 11, tag: OP.searchResultDone, code: RESULT.success });
    assert.deepEqual(reads, ['bob@contoso.test', 'nobody@contoso.test']);
    // Nextcloud's login filter, an `or` of uid and mail: the users it names, not the organization.
    reads.length = 0;
    const or = (...f: Buffer[]) => constructed(0xa1, ...f);
    t.send(
      search(
        12,
        'ou=people,dc=contoso,dc=test',
        2,
        constructed(
          0xa0,
          equality('objectclass', 'inetOrgPerson'),
          or(equality('uid', 'cem'), equality('mail', 'cem')),
        ),
      ),
    );
    assert.equal((await t.next())?.dn, 'uid=cem,ou=people,dc=contoso,dc=test');
    assert.equal((await t.next())?.code, RESULT.success);
    assert.deepEqual(reads.sort(), ['cem', 'cem@contoso.test']);
    // A base in another organization is not there.
    t.send(search(20, 'dc=fabrikam,dc=test', 2, present('objectClass')));
    assert.equal((await t.next())?.code, RESULT.noSuchObject);
    secure.destroy();
  });
});
