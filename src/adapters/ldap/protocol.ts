/**
 * LDAPv3 messages (RFC 4511) as Sesame reads and writes them: the requests a directory reader
 * sends, decoded into plain objects, and the responses, encoded. Operations Sesame refuses (the
 * writes) are recognised by their tag only, so that the refusal carries the matching response
 * type; their contents are never parsed.
 */
import { BerError, BerReader, constructed, decodeInteger, enumerated, integer, octets, TAG } from './ber.js';

/** RFC 4511, appendix A (the codes Sesame answers with). */
export const RESULT = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  timeLimitExceeded: 3,
  sizeLimitExceeded: 4,
  compareFalse: 5,
  compareTrue: 6,
  authMethodNotSupported: 7,
  unavailableCriticalExtension: 12,
  confidentialityRequired: 13,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  inappropriateAuthentication: 48,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  other: 80,
} as const;

export const OID = {
  startTls: '1.3.6.1.4.1.1466.20037',
  whoAmI: '1.3.6.1.4.1.4203.1.11.3',
  noticeOfDisconnection: '1.3.6.1.4.1.1466.20036',
  pagedResults: '1.2.840.113556.1.4.319',
  manageDsaIt: '2.16.840.1.113730.3.4.2',
} as const;

/** Application tags of the protocol operations (RFC 4511, 4.2 to 4.14). */
export const OP = {
  bindRequest: 0x60,
  bindResponse: 0x61,
  unbindRequest: 0x42,
  searchRequest: 0x63,
  searchResultEntry: 0x64,
  searchResultDone: 0x65,
  modifyRequest: 0x66,
  modifyResponse: 0x67,
  addRequest: 0x68,
  addResponse: 0x69,
  delRequest: 0x4a,
  delResponse: 0x6b,
  modDnRequest: 0x6c,
  modDnResponse: 0x6d,
  compareRequest: 0x6e,
  compareResponse: 0x6f,
  abandonRequest: 0x50,
  extendedRequest: 0x77,
  extendedResponse: 0x78,
} as const;

/** A refused operation's request tag -> the tag of its response. */
export const REFUSED_OPS: ReadonlyMap<number, { name: string; response: number }> = new Map([
  [OP.modifyRequest, { name: 'modify', response: OP.modifyResponse }],
  [OP.addRequest, { name: 'add', response: OP.addResponse }],
  [OP.delRequest, { name: 'delete', response: OP.delResponse }],
  [OP.modDnRequest, { name: 'modify DN', response: OP.modDnResponse }],
]);

export type Filter =
  | { type: 'and' | 'or'; filters: Filter[] }
  | { type: 'not'; filter: Filter }
  | { type: 'equality' | 'greaterOrEqual' | 'lessOrEqual' | 'approx'; attribute: string; value: string }
  | { type: 'substrings'; attribute: string; initial?: string; any: string[]; final?: string }
  | { type: 'present'; attribute: string }
  /** An extensible match: Sesame has no matching rules to offer, so it is Undefined (RFC 4511, 4.5.1.7). */
  | { type: 'extensible' };

export interface Control {
  type: string;
  critical: boolean;
  value?: Buffer;
}

export interface SearchRequest {
  op: 'search';
  baseObject: string;
  scope: 0 | 1 | 2;
  sizeLimit: number;
  timeLimit: number;
  typesOnly: boolean;
  filter: Filter;
  attributes: string[];
}

/** Whether an entry has an attribute value (RFC 4511, 4.10): Apache's `Require ldap-group` asks this. */
export interface CompareRequest {
  op: 'compare';
  entry: string;
  attribute: string;
  value: string;
}

export type Request =
  | { op: 'bind'; version: number; name: string; auth: { kind: 'simple'; password: Buffer } | { kind: 'sasl' } }
  | { op: 'unbind' }
  | SearchRequest
  | { op: 'extended'; oid: string; value?: Buffer }
  | CompareRequest
  | { op: 'abandon' }
  /** A write or Compare: refused, answered with `response`. */
  | { op: 'refused'; name: string; response: number }
  | { op: 'unknown'; tag: number };

export interface Message {
  id: number;
  request: Request;
  controls: Control[];
}

/** Filters nested deeper than this are refused: a bounded recursion whatever a client sends. */
const MAX_FILTER_DEPTH = 32;

/** One LDAPMessage (the whole element, as framed by elementLength). Throws BerError when malformed. */
export function decodeMessage(buf: Buffer): Message {
  const msg = new BerReader(buf).sequence(TAG.SEQUENCE, 'LDAPMessage');
  const id = msg.integer('messageID');
  if (id < 0) throw new BerError('a negative messageID');
  const op = msg.element();
  const request = decodeRequest(op.tag, op.value);
  const controls: Control[] = [];
  if (msg.peek() === 0xa0) {
    const list = msg.sequence(0xa0, 'controls');
    while (!list.atEnd) {
      const c = list.sequence(TAG.SEQUENCE, 'control');
      const type = c.string('controlType');
      const critical = c.peek() === TAG.BOOLEAN ? c.boolean('criticality') : false;
      const value = c.peek() === TAG.OCTET_STRING ? c.octets('controlValue') : undefined;
      controls.push({ type, critical, ...(value ? { value } : {}) });
    }
  }
  return { id, request, controls };
}

function decodeRequest(tag: number, value: Buffer): Request {
  const r = new BerReader(value);
  switch (tag) {
    case OP.bindRequest: {
      const version = r.integer('version');
      const name = r.string('name');
      const auth = r.element();
      if (auth.tag === 0x80) return { op: 'bind', version, name, auth: { kind: 'simple', password: auth.value } };
      if (auth.tag === 0xa3) return { op: 'bind', version, name, auth: { kind: 'sasl' } };
      throw new BerError(`bind: authentication choice 0x${auth.tag.toString(16)}`);
    }
    case OP.unbindRequest:
      return { op: 'unbind' };
    case OP.searchRequest: {
      const baseObject = r.string('baseObject');
      const scope = r.integer('scope', TAG.ENUMERATED);
      if (scope !== 0 && scope !== 1 && scope !== 2) throw new BerError(`search: scope ${scope}`);
      r.integer('derefAliases', TAG.ENUMERATED); // no aliases here: nothing to dereference
      const sizeLimit = r.integer('sizeLimit');
      const timeLimit = r.integer('timeLimit');
      const typesOnly = r.boolean('typesOnly');
      const filter = decodeFilter(r.element(), 0);
      const attrs = r.sequence(TAG.SEQUENCE, 'attributes');
      const attributes: string[] = [];
      while (!attrs.atEnd) attributes.push(attrs.string('attribute'));
      if (sizeLimit < 0 || timeLimit < 0) throw new BerError('search: a negative limit');
      return { op: 'search', baseObject, scope, sizeLimit, timeLimit, typesOnly, filter, attributes };
    }
    case OP.extendedRequest: {
      const oid = r.string('requestName', 0x80);
      const v = r.peek() === 0x81 ? r.octets('requestValue', 0x81) : undefined;
      return { op: 'extended', oid, ...(v ? { value: v } : {}) };
    }
    case OP.compareRequest: {
      const entry = r.string('entry');
      const ava = r.sequence(TAG.SEQUENCE, 'ava');
      return { op: 'compare', entry, attribute: ava.string('attributeDesc'), value: ava.string('assertionValue') };
    }
    case OP.abandonRequest:
      decodeInteger(value, 'abandon');
      return { op: 'abandon' };
    default: {
      const refused = REFUSED_OPS.get(tag);
      return refused ? { op: 'refused', ...refused } : { op: 'unknown', tag };
    }
  }
}

function decodeFilter(e: { tag: number; value: Buffer }, depth: number): Filter {
  if (depth > MAX_FILTER_DEPTH) throw new BerError('filter nested too deep');
  const r = new BerReader(e.value);
  const pair = (type: 'equality' | 'greaterOrEqual' | 'lessOrEqual' | 'approx'): Filter => ({
    type,
    attribute: r.string('attributeDesc'),
    value: r.string('assertionValue'),
  });
  switch (e.tag) {
    case 0xa0:
    case 0xa1: {
      const filters: Filter[] = [];
      while (!r.atEnd) filters.push(decodeFilter(r.element(), depth + 1));
      return { type: e.tag === 0xa0 ? 'and' : 'or', filters };
    }
    case 0xa2:
      return { type: 'not', filter: decodeFilter(r.element(), depth + 1) };
    case 0xa3:
      return pair('equality');
    case 0xa5:
      return pair('greaterOrEqual');
    case 0xa6:
      return pair('lessOrEqual');
    case 0xa8:
      return pair('approx');
    case 0x87:
      return { type: 'present', attribute: e.value.toString('utf8') };
    case 0xa4: {
      const attribute = r.string('type');
      const parts = r.sequence(TAG.SEQUENCE, 'substrings');
      const f: Filter & { type: 'substrings' } = { type: 'substrings', attribute, any: [] };
      while (!parts.atEnd) {
        const p = parts.element();
        const text = p.value.toString('utf8');
        if (p.tag === 0x80) f.initial = text;
        else if (p.tag === 0x81) f.any.push(text);
        else if (p.tag === 0x82) f.final = text;
        else throw new BerError(`substrings: choice 0x${p.tag.toString(16)}`);
      }
      return f;
    }
    case 0xa9:
      return { type: 'extensible' };
    default:
      throw new BerError(`filter: choice 0x${e.tag.toString(16)}`);
  }
}

/** The paged-results control's value (RFC 2696): the page size asked for and the cookie. */
export function decodePagedControl(value: Buffer | undefined): { size: number; cookie: Buffer } {
  if (!value) throw new BerError('paged results: no value');
  const r = new BerReader(value).sequence(TAG.SEQUENCE, 'realSearchControlValue');
  return { size: r.integer('size'), cookie: r.octets('cookie') };
}

export function encodePagedControl(cookie: Buffer): Buffer {
  return constructed(
    TAG.SEQUENCE,
    octets(OID.pagedResults),
    octets(constructed(TAG.SEQUENCE, integer(0), octets(cookie))),
  );
}

function message(id: number, op: Buffer, controls: Buffer[] = []): Buffer {
  return constructed(TAG.SEQUENCE, integer(id), op, ...(controls.length ? [constructed(0xa0, ...controls)] : []));
}

function ldapResult(code: number, matchedDn: string, diagnostic: string): Buffer[] {
  return [enumerated(code), octets(matchedDn), octets(diagnostic)];
}

/** Any response that is an LDAPResult alone (Bind without SASL, SearchResultDone, the write responses). */
export function encodeResult(
  id: number,
  responseTag: number,
  code: number,
  diagnostic = '',
  opts: { matchedDn?: string; controls?: Buffer[] } = {},
): Buffer {
  return message(id, constructed(responseTag, ...ldapResult(code, opts.matchedDn ?? '', diagnostic)), opts.controls);
}

export function encodeExtendedResponse(
  id: number,
  code: number,
  diagnostic: string,
  opts: { name?: string; value?: Buffer | string } = {},
): Buffer {
  return message(
    id,
    constructed(
      OP.extendedResponse,
      ...ldapResult(code, '', diagnostic),
      ...(opts.name !== undefined ? [octets(opts.name, 0x8a)] : []),
      ...(opts.value !== undefined ? [octets(opts.value, 0x8b)] : []),
    ),
  );
}

/** The unsolicited Notice of Disconnection (RFC 4511, 4.4.1): message id 0, before the server closes. */
export function encodeNoticeOfDisconnection(code: number, diagnostic: string): Buffer {
  return encodeExtendedResponse(0, code, diagnostic, { name: OID.noticeOfDisconnection });
}

export interface Entry {
  dn: string;
  attributes: [name: string, values: string[]][];
}

export function encodeEntry(id: number, e: Entry): Buffer {
  return message(
    id,
    constructed(
      OP.searchResultEntry,
      octets(e.dn),
      constructed(
        TAG.SEQUENCE,
        ...e.attributes.map(([name, values]) =>
          constructed(TAG.SEQUENCE, octets(name), constructed(TAG.SET, ...values.map((v) => octets(v)))),
        ),
      ),
    ),
  );
}
