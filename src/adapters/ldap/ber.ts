/**
 * The part of BER (X.690) that LDAPv3 uses (RFC 4511, section 5.1): definite lengths only, tags
 * below 31, INTEGER, BOOLEAN, ENUMERATED, OCTET STRING, SEQUENCE and SET, and context or
 * application tags around them. Written by hand rather than over asn1js (see docs/decisions.md):
 * a reader that refuses what LDAP never sends (indefinite lengths, long tags, lengths beyond the
 * input) is easier to bound than a general one, and every read is checked against the input's end.
 */

export class BerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BerError';
  }
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  ENUMERATED: 0x0a,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** An element as read: its tag byte and its contents (a view into the input, not a copy). */
export interface Element {
  tag: number;
  value: Buffer;
}

/**
 * The length of the first complete element at the start of `buf` (tag, length and contents), or
 * undefined while more bytes are needed. Throws for what LDAP never sends, or beyond `max` bytes:
 * the framing a stream reader needs before it holds a whole message.
 */
export function elementLength(buf: Buffer, max: number): number | undefined {
  if (buf.length < 2) return undefined;
  if ((buf[0]! & 0x1f) === 0x1f) throw new BerError('multi-byte tags are not used by LDAP');
  const first = buf[1]!;
  let header = 2;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0) throw new BerError('indefinite lengths are not allowed in LDAP (RFC 4511, 5.1)');
    if (n > 4) throw new BerError('length too long');
    if (buf.length < 2 + n) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[2 + i]!;
    header += n;
  }
  const total = header + length;
  if (total > max) throw new BerError(`element of ${total} bytes is over the limit of ${max}`);
  return buf.length < total ? undefined : total;
}

/** Reads the elements of one constructed value in order; every read fails cleanly past the end. */
export class BerReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The next element's tag, or undefined at the end. */
  peek(): number | undefined {
    return this.atEnd ? undefined : this.buf[this.pos];
  }

  element(): Element {
    const rest = this.buf.subarray(this.pos);
    const n = rest.length === 0 ? undefined : elementLength(rest, rest.length);
    if (n === undefined) throw new BerError('truncated element');
    const lengthBytes = rest[1]! & 0x80 ? 1 + (rest[1]! & 0x7f) : 1;
    const e = { tag: rest[0]!, value: rest.subarray(1 + lengthBytes, n) };
    this.pos += n;
    return e;
  }

  /** The next element, which must have this tag. */
  expect(tag: number, what: string): Buffer {
    const e = this.element();
    if (e.tag !== tag) throw new BerError(`${what}: tag 0x${e.tag.toString(16)}, expected 0x${tag.toString(16)}`);
    return e.value;
  }

  /** A reader over the next element's contents (a SEQUENCE, SET or constructed tagged value). */
  sequence(tag: number, what: string): BerReader {
    return new BerReader(this.expect(tag, what));
  }

  integer(what: string, tag: number = TAG.INTEGER): number {
    return decodeInteger(this.expect(tag, what), what);
  }

  boolean(what: string): boolean {
    const v = this.expect(TAG.BOOLEAN, what);
    if (v.length !== 1) throw new BerError(`${what}: a BOOLEAN has one byte`);
    return v[0] !== 0;
  }

  octets(what: string, tag: number = TAG.OCTET_STRING): Buffer {
    return this.expect(tag, what);
  }

  /** An OCTET STRING as UTF-8 text (LDAPString, LDAPDN, AttributeDescription...). */
  string(what: string, tag: number = TAG.OCTET_STRING): string {
    return this.expect(tag, what).toString('utf8');
  }
}

/** A two's-complement INTEGER or ENUMERATED of at most 4 bytes (every LDAP integer fits in 0..2^31-1). */
export function decodeInteger(v: Buffer, what: string): number {
  if (v.length === 0 || v.length > 4) throw new BerError(`${what}: an integer of ${v.length} bytes`);
  let n = v[0]! & 0x80 ? -1 : 0;
  for (const b of v) n = n * 256 + b;
  return n;
}

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One element from its tag and contents. */
export function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

/** A constructed element (SEQUENCE, SET, or an application or context tag) of these parts. */
export function constructed(tag: number, ...parts: Buffer[]): Buffer {
  return tlv(tag, Buffer.concat(parts));
}

/** The shortest two's-complement encoding (X.690 8.3.2). */
export function integer(n: number, tag: number = TAG.INTEGER): Buffer {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new BerError(`integer ${n} out of range`);
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v >>= 8;
  } while (v !== 0 && v !== -1);
  // A leading bit that says the wrong sign takes one more byte.
  if (n >= 0 && bytes[0]! & 0x80) bytes.unshift(0);
  if (n < 0 && !(bytes[0]! & 0x80)) bytes.unshift(0xff);
  return tlv(tag, Buffer.from(bytes));
}

export const enumerated = (n: number) => integer(n, TAG.ENUMERATED);

export function octets(v: string | Buffer, tag: number = TAG.OCTET_STRING): Buffer {
  return tlv(tag, typeof v === 'string' ? Buffer.from(v, 'utf8') : v);
}

export function boolean(v: boolean): Buffer {
  return tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0x00]));
}
