/**
 * Sesame's LDAPv3 interface (issue #19, item 2; docs/ldap.md): a read-only directory of each
 * organization, over StartTLS on one port and implicit TLS (LDAPS) on another. A simple bind names
 * a user by DN or address and is checked by the same LegacyVerifier as the mail servers' endpoint,
 * with protocol `ldap`: one sign-in log, one lockout, one set of throttles and budgets. Searches
 * see only the bound user's own organization.
 *
 * Requests on one connection are answered one at a time, in order (RFC 4511 allows more, and no
 * client of an address book needs it); the socket is paused while a backlog waits, so a client
 * that sends faster than it reads holds at most a few messages in memory.
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { LegacyAttempt, LegacyResult } from '../../domain/legacy/verifier.js';
import type { Organization, User } from '../../domain/accounts/model.js';
import { isSesameError } from '../../domain/errors.js';
import type { DirectoryGroup, DirectoryReads, Person } from '../../domain/directory/reads.js';
import { BerError, elementLength } from './ber.js';
import {
  type CompareRequest,
  decodeMessage,
  decodePagedControl,
  encodeEntry,
  encodeExtendedResponse,
  encodeNoticeOfDisconnection,
  encodePagedControl,
  encodeResult,
  type Filter,
  type Message,
  OID,
  OP,
  RESULT,
  type SearchRequest,
} from './protocol.js';
import {
  bindAddress,
  DnError,
  entryOf,
  groupNode,
  groupsDn,
  matches,
  type Node,
  type OrgView,
  ouNode,
  parseDn,
  peopleDn,
  personDn,
  personNode,
  pinnedAddresses,
  type Rdn,
  sameDn,
  serviceBindName,
  serviceDn,
  suffixNode,
  suffixOf,
  within,
} from './directory.js';

/** A request larger than this ends the connection: binds and address-book searches are a few hundred bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Most users read for one search: beyond it the search answers sizeLimitExceeded (see docs/ldap.md). */
export const MAX_SCAN = 20_000;
/** Longest a search may take whatever the client asks (its timeLimit may only shorten it). */
const SERVER_TIME_LIMIT_MS = 30_000;
/** Paged-search cookies one connection may hold; older ones are forgotten. */
const MAX_COOKIES = 16;

export interface LdapDeps {
  verifier: {
    verify(a: LegacyAttempt): Promise<LegacyResult>;
    logRejected(a: Omit<LegacyAttempt, 'password'>): Promise<void>;
  };
  accounts: {
    findUserByAddress(address: string): Promise<User | undefined>;
    findOrganizationById(id: string): Promise<Organization | undefined>;
    findOrganizationByDomain(domain: string): Promise<Organization | undefined>;
  };
  /** Integration keys (`sesame integration add`): a service bind's password. */
  integrations: { verify(authorization: string | undefined): Promise<{ name: string } | undefined> };
  directory: DirectoryReads;
  metrics: { verification(protocol: string, outcome: string, reason: string): void };
  log: {
    info(o: object, msg: string): void;
    warn(o: object, msg: string): void;
    error(o: object, msg: string): void;
  };
}

export interface LdapOptions {
  /** PEM certificate chain and key for StartTLS and LDAPS. */
  cert: Buffer;
  key: Buffer;
  maxConnections: number;
  maxConnectionsPerIp: number;
  idleSeconds: number;
  /** Entries per search (or per page of a paged search) at most. */
  sizeLimit: number;
}

interface Bound {
  dn: string;
  orgId: string;
  org: OrgView;
}

export class LdapServer {
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<Connection>();
  /** Open connections per client IP. */
  private readonly perIp = new Map<string, number>();
  readonly secureContext: tls.SecureContext;

  constructor(
    readonly deps: LdapDeps,
    readonly options: LdapOptions,
  ) {
    this.secureContext = tls.createSecureContext({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' });
  }

  /** Listens for plain connections (StartTLS before a bind) or, with `implicitTls`, LDAPS. */
  async listen(port: number, host: string, implicitTls: boolean): Promise<number> {
    const accept = (socket: net.Socket) => this.accept(socket, implicitTls);
    const server = implicitTls
      ? // createServer takes the key material itself (a secureContext option is for sockets only).
        tls.createServer({ cert: this.options.cert, key: this.options.key, minVersion: 'TLSv1.2' }, accept)
      : net.createServer(accept);
    // A failed handshake is the client's problem, not the listener's.
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.listeners.push(server);
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  private accept(socket: net.Socket, secure: boolean) {
    const ip = socket.remoteAddress ?? '';
    const fromIp = this.perIp.get(ip) ?? 0;
    if (this.connections.size >= this.options.maxConnections || fromIp >= this.options.maxConnectionsPerIp) {
      socket.on('error', () => undefined);
      socket.end(encodeNoticeOfDisconnection(RESULT.busy, 'too many connections; try again later'));
      return;
    }
    this.perIp.set(ip, fromIp + 1);
    const c = new Connection(this, socket, secure, () => {
      this.connections.delete(c);
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n > 0) this.perIp.set(ip, n);
      else this.perIp.delete(ip);
    });
    this.connections.add(c);
  }

  /** Stops listening and ends every connection with a Notice of Disconnection. */
  async close(): Promise<void> {
    const closing = this.listeners.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const c of this.connections) c.disconnect(RESULT.unavailable, 'the server is shutting down');
    await Promise.all(closing);
  }
}

class Connection {
  private socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private busy = false;
  private closed = false;
  private bound: Bound | undefined;
  private readonly ip: string;
  private readonly cookies = new Map<string, { offset: number; key: string }>();
  private readonly onData = (chunk: Buffer) => this.received(chunk);

  constructor(
    private readonly server: LdapServer,
    socket: net.Socket,
    private secure: boolean,
    private readonly onClose: () => void,
  ) {
    this.socket = socket;
    this.ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.attach(socket);
  }

  private attach(socket: net.Socket) {
    this.socket = socket;
    socket.setTimeout(this.server.options.idleSeconds * 1000, () => this.disconnect(RESULT.unavailable, 'idle'));
    socket.on('data', this.onData);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.closed = true;
      this.onClose();
    });
  }

  private received(chunk: Buffer) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (this.buffer.length > 2 * MAX_MESSAGE_BYTES) this.socket.pause();
    void this.pump();
  }

  /** Answers every complete message in the buffer, one after the other. */
  private async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.closed) {
        let length: number | undefined;
        let message: Message;
        try {
          length = elementLength(this.buffer, MAX_MESSAGE_BYTES);
          if (length === undefined) break;
          message = decodeMessage(this.buffer.subarray(0, length));
        } catch (e) {
          this.disconnect(RESULT.protocolError, e instanceof BerError ? e.message : 'malformed message');
          return;
        }
        this.buffer = this.buffer.subarray(length);
        await this.handle(message);
      }
    } catch (e) {
      this.server.deps.log.error({ err: e instanceof Error ? e.message : String(e) }, 'ldap: request failed');
      this.disconnect(RESULT.other, 'internal error');
    } finally {
      this.busy = false;
      if (!this.closed && this.socket.isPaused() && this.buffer.length <= MAX_MESSAGE_BYTES) this.socket.resume();
    }
  }

  /** Sends and waits for the socket to take more when its buffer is full (a large search result). */
  private send(buf: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) return Promise.resolve();
    if (this.socket.write(buf)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.removeListener('drain', done);
        this.socket.removeListener('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  disconnect(code: number, diagnostic: string) {
    if (this.closed) return;
    this.closed = true;
    this.socket.end(encodeNoticeOfDisconnection(code, diagnostic));
    this.socket.destroySoon();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private async handle(m: Message) {
    const r = m.request;
    // A critical control Sesame does not know must fail the operation (RFC 4511, 4.1.11).
    const known = new Set<string>([OID.manageDsaIt, ...(r.op === 'search' ? [OID.pagedResults] : [])]);
    const unknownCritical = m.controls.find((c) => c.critical && !known.has(c.type));
    switch (r.op) {
      case 'unbind':
        this.closed = true;
        this.socket.end();
        return;
      case 'abandon':
        // Requests are answered in order: by the time an Abandon is read, its operation is done.
        return;
      case 'unknown':
        this.disconnect(RESULT.protocolError, `unknown operation 0x${r.tag.toString(16)}`);
        return;
      case 'refused':
        await this.send(
          encodeResult(m.id, r.response, RESULT.unwillingToPerform, `this directory is read-only: ${r.name} refused`),
        );
        return;
      case 'bind':
        if (unknownCritical)
          return this.send(
            encodeResult(m.id, OP.bindResponse, RESULT.unavailableCriticalExtension, `control ${unknownCritical.type}`),
          );
        return this.bind(m.id, r);
      case 'extended':
        if (unknownCritical)
          return this.send(
            encodeExtendedResponse(m.id, RESULT.unavailableCriticalExtension, `control ${unknownCritical.type}`),
          );
        return this.extended(m.id, r.oid);
      case 'search':
        if (unknownCritical)
          return this.send(
            encodeResult(
              m.id,
              OP.searchResultDone,
              RESULT.unavailableCriticalExtension,
              `control ${unknownCritical.type}`,
            ),
          );
        return this.search(m, r);
      case 'compare':
        if (unknownCritical)
          return this.send(
            encodeResult(
              m.id,
              OP.compareResponse,
              RESULT.unavailableCriticalExtension,
              `control ${unknownCritical.type}`,
            ),
          );
        return this.compare(m.id, r);
    }
  }

  private async extended(id: number, oid: string) {
    if (oid === OID.whoAmI)
      // RFC 4532: the authorization identity, empty when anonymous.
      return this.send(
        encodeExtendedResponse(id, RESULT.success, '', { value: this.bound ? `dn:${this.bound.dn}` : '' }),
      );
    if (oid === OID.startTls) return this.startTls(id);
    // RFC 4511, 4.12: an unknown request name is a protocolError, without a response name.
    return this.send(encodeExtendedResponse(id, RESULT.protocolError, `unsupported extended operation ${oid}`));
  }

  private async startTls(id: number) {
    if (this.secure)
      return this.send(encodeExtendedResponse(id, RESULT.operationsError, 'TLS is already on', { name: OID.startTls }));
    // Anything the client sent after its StartTLS request would be read as plain text: refused.
    if (this.buffer.length) return this.disconnect(RESULT.protocolError, 'data after the StartTLS request');
    const plain = this.socket;
    plain.removeListener('data', this.onData);
    plain.pause();
    await this.send(encodeExtendedResponse(id, RESULT.success, '', { name: OID.startTls }));
    plain.setTimeout(0);
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.server.secureContext });
    this.secure = true;
    this.attach(secure);
    plain.removeAllListeners('close');
    plain.on('close', () => secure.destroy());
  }

  private async bind(id: number, r: Message['request'] & { op: 'bind' }) {
    // RFC 4511, 4.2.1: a bind starts again from an anonymous connection, whatever it ends with.
    this.bound = undefined;
    this.cookies.clear();
    const answer = (code: number, diagnostic: string) => this.send(encodeResult(id, OP.bindResponse, code, diagnostic));
    const deps = this.server.deps;
    const user = r.name.slice(0, 512);
    const reject = async (reason: string) => {
      deps.metrics.verification('ldap', 'wrong', reason);
      await deps.verifier
        .logRejected({ user, protocol: 'ldap', ip: this.ip, userAgent: 'LDAP' })
        .catch(() => undefined);
    };
    if (r.version !== 3) {
      await reject('invalid_input');
      return answer(RESULT.protocolError, 'only LDAPv3 is supported');
    }
    if (r.auth.kind === 'sasl') {
      await reject('invalid_input');
      return answer(RESULT.authMethodNotSupported, 'only simple binds are supported');
    }
    const password = r.auth.password.toString('utf8');
    // RFC 4513, 5.1.1 and RFC 4511 appendix A: an anonymous bind, where credentials are required.
    if (user === '' && password === '') {
      await reject('invalid_input');
      return answer(RESULT.inappropriateAuthentication, 'anonymous binds are not allowed');
    }
    // RFC 4513, 5.1.2: a name without a password ("unauthenticated") is refused with unwillingToPerform.
    if (password === '') {
      await reject('invalid_input');
      return answer(RESULT.unwillingToPerform, 'unauthenticated binds are not allowed');
    }
    // RFC 4513, 6.3.1: a password is never taken over a connection without TLS.
    if (!this.secure) {
      await reject('invalid_input');
      return answer(RESULT.confidentialityRequired, 'use StartTLS (or LDAPS) before binding');
    }
    const service = serviceBindName(user);
    if (service) return this.serviceBind(id, user, service, password);
    // A name that is neither an address nor a person's DN goes to the verifier as typed: it is
    // refused there as invalid input, and logged like any other attempt.
    const address = bindAddress(user) ?? user;
    let result: LegacyResult;
    try {
      result = await deps.verifier.verify({
        user: address,
        password: password.slice(0, 1024),
        protocol: 'ldap',
        ip: this.ip,
        userAgent: 'LDAP',
      });
      deps.metrics.verification('ldap', result.outcome, result.reason);
    } catch (e) {
      const busy = isSesameError(e) && e.code === 'busy';
      deps.metrics.verification('ldap', 'temporary', busy ? 'busy' : 'store_unavailable');
      if (!busy) deps.log.error({ err: e instanceof Error ? e.message : String(e) }, 'ldap bind: verification failed');
      return answer(busy ? RESULT.busy : RESULT.unavailable, 'try again later');
    }
    // Wrong, locked or refused by a rule look the same to the client, as on the mail protocols.
    if (result.outcome !== 'ok' || !result.address) return answer(RESULT.invalidCredentials, 'invalid credentials');
    let found: User | undefined;
    let org: Organization | undefined;
    try {
      found = await deps.accounts.findUserByAddress(result.address);
      org = found && (await deps.accounts.findOrganizationById(found.orgId));
    } catch (e) {
      deps.log.error({ err: e instanceof Error ? e.message : String(e) }, 'ldap bind: reading the user failed');
      return answer(RESULT.unavailable, 'try again later');
    }
    if (!found || !org) return answer(RESULT.invalidCredentials, 'invalid credentials');
    this.bound = {
      dn: personDn(found.address, org.domain),
      orgId: org.id,
      org: { domain: org.domain, name: org.name },
    };
    return answer(RESULT.success, '');
  }

  /**
   * A service bind: an integration key as the password of `cn=<its name>,ou=services,dc=...`,
   * for a shared device's address book or an app's user list. An integration key is the
   * operator's (it already answers for every organization's passwords), so the DN's organization
   * is the one it reads. A refusal is in the sign-in log as invalid input; a success is not (no
   * user signed in). Keys are 256 random bits: no lockout is needed against guessing them.
   */
  private async serviceBind(id: number, user: string, name: { integration: string; domain: string }, password: string) {
    const deps = this.server.deps;
    const answer = (code: number, diagnostic: string) => this.send(encodeResult(id, OP.bindResponse, code, diagnostic));
    let integration: { name: string } | undefined;
    let org: Organization | undefined;
    try {
      integration = await deps.integrations.verify(`Bearer ${password}`);
      org =
        integration && integration.name.toLowerCase() === name.integration
          ? await deps.accounts.findOrganizationByDomain(name.domain)
          : undefined;
    } catch (e) {
      deps.log.error({ err: e instanceof Error ? e.message : String(e) }, 'ldap service bind: the check failed');
      return answer(RESULT.unavailable, 'try again later');
    }
    if (!integration || !org) {
      deps.metrics.verification('ldap', 'wrong', 'invalid_input');
      await deps.verifier
        .logRejected({ user, protocol: 'ldap', ip: this.ip, userAgent: 'LDAP' })
        .catch(() => undefined);
      return answer(RESULT.invalidCredentials, 'invalid credentials');
    }
    this.bound = {
      dn: serviceDn(integration.name, org.domain),
      orgId: org.id,
      org: { domain: org.domain, name: org.name },
    };
    return answer(RESULT.success, '');
  }

  private rootDse(): Node {
    const attrs: [string, string[]][] = [
      ['objectClass', ['top']],
      // Which organizations this server holds is told only to their own users.
      ['namingContexts', this.bound ? [suffixOf(this.bound.org.domain)] : []],
      ['supportedLDAPVersion', ['3']],
      ['supportedExtension', [OID.startTls, OID.whoAmI]],
      ['supportedControl', [OID.pagedResults, OID.manageDsaIt]],
      ['vendorName', ['Sesame']],
    ];
    const attributes = new Map<string, { name: string; values: string[] }>();
    for (const [name, values] of attrs) if (values.length) attributes.set(name.toLowerCase(), { name, values });
    return { dn: '', rdns: [], attributes, operational: new Map() };
  }

  /**
   * The entries of the bound organization that a search from `base` with `scope` may reach (and
   * the base itself), read from the store; `undefined` when the store failed (logged).
   */
  private async nodes(
    bound: Bound,
    base: Rdn[],
    scope: 0 | 1 | 2,
    filter: Filter,
  ): Promise<{ nodes: Node[]; truncated: boolean } | undefined> {
    const deps = this.server.deps;
    const org = bound.org;
    const [minDepth, maxDepth] = scope === 0 ? [0, 0] : scope === 1 ? [1, 1] : [0, Infinity];
    /** Whether a child of `parent` may be in this search's scope, or is its base (which must exist). */
    const reaches = (parent: Rdn[]) => {
      const depth = parent.length + 1 - base.length;
      if (depth === 0) return sameDn(base.slice(1), parent);
      return depth > 0 && depth >= minDepth && depth <= maxDepth && within(parent, base, 0, Infinity);
    };
    const peopleParent = parseDn(peopleDn(org.domain));
    const groupsParent = parseDn(groupsDn(org.domain));
    const nodes: Node[] = [
      suffixNode(org),
      ouNode(peopleDn(org.domain), 'people'),
      ouNode(groupsDn(org.domain), 'groups'),
    ];
    const needPeople = reaches(peopleParent);
    const needGroups = reaches(groupsParent) || needPeople;
    let groups: DirectoryGroup[] = [];
    let people: Person[] = [];
    try {
      if (needGroups) groups = await deps.directory.groups(bound.orgId);
      if (needPeople) {
        const pinned = pinnedAddresses(filter, org.domain);
        people =
          pinned === undefined
            ? await deps.directory.activePeople(bound.orgId, MAX_SCAN + 1)
            : (await Promise.all(pinned.map((a) => deps.directory.activePerson(bound.orgId, a))))
                .filter((p): p is Person => p !== undefined)
                .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
      }
    } catch (e) {
      deps.log.error({ err: e instanceof Error ? e.message : String(e) }, 'ldap search: reading the directory failed');
      return undefined;
    }
    for (const g of reaches(groupsParent) ? groups : []) nodes.push(groupNode(g, org));
    const truncated = people.length > MAX_SCAN;
    const memberOf = new Map<string, string[]>();
    for (const g of groups) for (const a of g.members) memberOf.set(a, [...(memberOf.get(a) ?? []), g.name]);
    for (const p of people.slice(0, MAX_SCAN)) nodes.push(personNode(p, org, memberOf.get(p.address) ?? []));
    return { nodes, truncated };
  }

  /** Compare (RFC 4511, 4.10): an equality match on one entry of the bound user's organization. */
  private async compare(id: number, r: CompareRequest) {
    const done = (code: number, diagnostic = '') => this.send(encodeResult(id, OP.compareResponse, code, diagnostic));
    let entry: Rdn[];
    try {
      entry = parseDn(r.entry);
    } catch (e) {
      return done(RESULT.invalidDNSyntax, e instanceof DnError ? e.message : 'invalid DN');
    }
    const bound = this.bound;
    if (!bound) return done(RESULT.operationsError, 'a successful bind is required before comparing');
    if (!within(entry, parseDn(suffixOf(bound.org.domain)), 0, Infinity))
      return done(RESULT.noSuchObject, 'no such object');
    const filter: Filter = { type: 'equality', attribute: r.attribute, value: r.value };
    // The store is read for the entry compared, not for the value asserted (which may name another).
    const [type, name] = entry[0] ?? ['', ''];
    const pin: Filter =
      type === 'uid'
        ? { type: 'equality', attribute: 'uid', value: name }
        : { type: 'present', attribute: 'objectClass' };
    const read = await this.nodes(bound, entry, 0, pin);
    if (!read) return done(RESULT.unavailable, 'try again later');
    const node = read.nodes.find((n) => sameDn(n.rdns, entry));
    if (!node) return done(RESULT.noSuchObject, 'no such object');
    return done(matches(node, filter) ? RESULT.compareTrue : RESULT.compareFalse);
  }

  private async search(m: Message, r: SearchRequest) {
    const done = (code: number, diagnostic = '', controls?: Buffer[]) =>
      this.send(encodeResult(m.id, OP.searchResultDone, code, diagnostic, controls ? { controls } : {}));
    let base: Rdn[];
    try {
      base = parseDn(r.baseObject);
    } catch (e) {
      return done(RESULT.invalidDNSyntax, e instanceof DnError ? e.message : 'invalid DN');
    }
    if (base.length === 0 && r.scope === 0) {
      const dse = this.rootDse();
      // Root DSE attributes are operational (RFC 4512, 5.1): all of them are returned for `+` too.
      const attributes = r.attributes.map((a) => (a === '+' ? '*' : a));
      if (matches(dse, r.filter)) await this.send(encodeEntry(m.id, entryOf(dse, attributes, r.typesOnly)));
      return done(RESULT.success);
    }
    const bound = this.bound;
    if (!bound) return done(RESULT.operationsError, 'a successful bind is required before searching');
    const started = Date.now();
    const limitMs = Math.min(SERVER_TIME_LIMIT_MS, r.timeLimit > 0 ? r.timeLimit * 1000 : Infinity);
    const org = bound.org;
    if (!within(base, parseDn(suffixOf(org.domain)), 0, Infinity)) return done(RESULT.noSuchObject, 'no such object');
    const [minDepth, maxDepth] = r.scope === 0 ? [0, 0] : r.scope === 1 ? [1, 1] : [0, Infinity];
    const read = await this.nodes(bound, base, r.scope, r.filter);
    if (!read) return done(RESULT.unavailable, 'try again later');
    const { nodes, truncated } = read;

    if (!nodes.some((n) => sameDn(n.rdns, base)))
      return this.send(
        encodeResult(m.id, OP.searchResultDone, RESULT.noSuchObject, 'no such object', {
          matchedDn: suffixOf(org.domain),
        }),
      );
    const found: Node[] = [];
    for (const n of nodes) if (within(n.rdns, base, minDepth, maxDepth) && matches(n, r.filter)) found.push(n);
    // The paged-results control (RFC 2696): a page at a time, the cookie standing for where the next one starts.
    const pagedControl = m.controls.find((c) => c.type === OID.pagedResults);
    const key = JSON.stringify([r.baseObject.toLowerCase(), r.scope, r.filter, r.attributes]);
    let offset = 0;
    let pageSize = this.server.options.sizeLimit;
    if (pagedControl) {
      let paged: { size: number; cookie: Buffer };
      try {
        paged = decodePagedControl(pagedControl.value);
      } catch {
        return done(RESULT.protocolError, 'malformed paged results control');
      }
      if (paged.cookie.length) {
        const at = this.cookies.get(paged.cookie.toString('hex'));
        if (!at || at.key !== key) return done(RESULT.unwillingToPerform, 'unknown paged results cookie');
        this.cookies.delete(paged.cookie.toString('hex'));
        offset = at.offset;
      }
      // A size of 0 abandons the paged search (RFC 2696, 3).
      if (paged.size === 0) return done(RESULT.success, '', [encodePagedControl(Buffer.alloc(0))]);
      pageSize = Math.min(paged.size, this.server.options.sizeLimit);
    }
    const clientLimit = r.sizeLimit > 0 ? r.sizeLimit : Infinity;
    const end = Math.min(found.length, offset + pageSize, clientLimit);
    for (let i = offset; i < end; i++) {
      if (Date.now() - started > limitMs || this.closed) return done(RESULT.timeLimitExceeded, 'time limit exceeded');
      await this.send(encodeEntry(m.id, entryOf(found[i]!, r.attributes, r.typesOnly)));
    }
    const overClient = found.length > end && end >= clientLimit;
    if (pagedControl) {
      let cookie = Buffer.alloc(0);
      if (!overClient && end < found.length) {
        cookie = randomBytes(12);
        if (this.cookies.size >= MAX_COOKIES) this.cookies.delete(this.cookies.keys().next().value!);
        this.cookies.set(cookie.toString('hex'), { offset: end, key });
      }
      const control = [encodePagedControl(cookie)];
      if (overClient) return done(RESULT.sizeLimitExceeded, 'size limit exceeded', control);
      return done(
        truncated ? RESULT.sizeLimitExceeded : RESULT.success,
        truncated ? 'directory too large' : '',
        control,
      );
    }
    if (end < found.length || truncated) return done(RESULT.sizeLimitExceeded, 'size limit exceeded');
    return done(RESULT.success);
  }
}
