/**
 * IP addresses and CIDR networks as numbers, for range tables (country data, named locations).
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is its IPv4 address: a dual-stack listener
 * reports IPv4 clients that way, and a rule about 192.0.2.0/24 must see them.
 */
import net from 'node:net';

export type IpNumber = { family: 4; value: number } | { family: 6; value: bigint };

const V4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const MAX_V6 = (1n << 128n) - 1n;

function v4ToNumber(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) >>> 0) + (Number(p[1]) << 16) + (Number(p[2]) << 8) + Number(p[3]);
}

function v6ToBigInt(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4ToNumber(dotted[1]!);
    text = `${text.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  return v;
}

/** The number of an address; undefined for anything that is not one (a zone index `%eth0` is refused too). */
export function parseIp(text: string): IpNumber | undefined {
  const ip = text.trim();
  const mapped = V4_MAPPED.exec(ip);
  if (mapped && net.isIPv4(mapped[1]!)) return { family: 4, value: v4ToNumber(mapped[1]!) };
  if (net.isIPv4(ip)) return { family: 4, value: v4ToNumber(ip) };
  if (net.isIPv6(ip) && !ip.includes('%')) return { family: 6, value: v6ToBigInt(ip) };
  return undefined;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIpv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface Cidr {
  family: 4 | 6;
  /** First and last address, inclusive (numbers for IPv4, bigints for IPv6). */
  first: number | bigint;
  last: number | bigint;
  prefix: number;
  /** The canonical text: `192.0.2.0/24`, `2001:db8::/32`; a bare address is its /32 or /128. */
  text: string;
}

/**
 * A network in CIDR notation. Host bits must be zero: `192.0.2.1/24` is refused rather than
 * silently widened, since an admin who typed it may have meant one address or a different network.
 * An IPv4-mapped IPv6 network is refused too: write the IPv4 network.
 */
export function parseCidr(text: string): Cidr | Error {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash < 0 ? t : t.slice(0, slash);
  const prefixText = slash < 0 ? undefined : t.slice(slash + 1);
  if (addrText.includes('%')) return new Error('a zone index is not allowed');
  const isV4 = net.isIPv4(addrText);
  if (!isV4 && !net.isIPv6(addrText)) return new Error('not an IP address');
  if (!isV4 && V4_MAPPED.test(addrText)) return new Error('write an IPv4-mapped network as IPv4');
  const bits = isV4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return new Error('not a prefix length');
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return new Error(`prefix length above ${bits}`);
  if (isV4) {
    const v = v4ToNumber(addrText);
    const hostMask = prefix === 0 ? 0xffffffff : prefix === 32 ? 0 : (2 ** (32 - prefix) - 1) >>> 0;
    if ((v & hostMask) >>> 0 !== 0) return new Error('host bits are set');
    return { family: 4, first: v, last: (v + hostMask) >>> 0, prefix, text: `${formatIpv4(v)}/${prefix}` };
  }
  const v = v6ToBigInt(addrText);
  const hostMask = prefix === 128 ? 0n : (1n << BigInt(128 - prefix)) - 1n;
  if ((v & hostMask) !== 0n) return new Error('host bits are set');
  return { family: 6, first: v, last: (v | hostMask) & MAX_V6, prefix, text: `${formatIpv6(v)}/${prefix}` };
}

/**
 * Sorted, non-overlapping inclusive ranges with a value each, looked up by binary search: IPv4 in
 * Uint32Arrays, IPv6 as two 64-bit halves in BigUint64Arrays (no BigInt object per row).
 */
export class RangeTable<T> {
  private constructor(
    private readonly v4: { starts: Uint32Array; ends: Uint32Array; values: T[] },
    private readonly v6: {
      startHi: BigUint64Array;
      startLo: BigUint64Array;
      endHi: BigUint64Array;
      endLo: BigUint64Array;
      values: T[];
    },
  ) {}

  /**
   * Builds a table from ranges in any order that may overlap: each address finds every value whose
   * range holds it (the pieces between all the ranges' edges, each with its values).
   */
  static build<T>(
    ranges: { family: 4 | 6; first: number | bigint; last: number | bigint; value: T }[],
  ): RangeTable<T[]> {
    const v4 = pieces(
      ranges.filter((r) => r.family === 4).map((r) => [Number(r.first), Number(r.last), r.value] as const),
      (x) => x + 1,
    );
    const v6 = pieces(
      ranges.filter((r) => r.family === 6).map((r) => [BigInt(r.first), BigInt(r.last), r.value] as const),
      (x) => x + 1n,
    );
    const mask = (1n << 64n) - 1n;
    return new RangeTable(
      {
        starts: Uint32Array.from(v4.map((r) => r[0])),
        ends: Uint32Array.from(v4.map((r) => r[1])),
        values: v4.map((r) => r[2]),
      },
      {
        startHi: BigUint64Array.from(v6.map((r) => r[0] >> 64n)),
        startLo: BigUint64Array.from(v6.map((r) => r[0] & mask)),
        endHi: BigUint64Array.from(v6.map((r) => r[1] >> 64n)),
        endLo: BigUint64Array.from(v6.map((r) => r[1] & mask)),
        values: v6.map((r) => r[2]),
      },
    );
  }

  /** Builds from rows already sorted and disjoint (a country file), without copying them into objects. */
  static fromSorted<T>(
    v4: { starts: Uint32Array; ends: Uint32Array; values: T[] },
    v6: { startHi: BigUint64Array; startLo: BigUint64Array; endHi: BigUint64Array; endLo: BigUint64Array; values: T[] },
  ): RangeTable<T> {
    return new RangeTable(v4, v6);
  }

  get size(): number {
    return this.v4.values.length + this.v6.values.length;
  }

  lookup(ip: IpNumber): T | undefined {
    if (ip.family === 4) {
      const { starts, ends, values } = this.v4;
      let lo = 0;
      let hi = starts.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! > ip.value) hi = mid - 1;
        else if (ends[mid]! < ip.value) lo = mid + 1;
        else return values[mid];
      }
      return undefined;
    }
    const h = ip.value >> 64n;
    const l = ip.value & ((1n << 64n) - 1n);
    const { startHi, startLo, endHi, endLo, values } = this.v6;
    let lo = 0;
    let hi = startHi.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const sH = startHi[mid]!;
      const eH = endHi[mid]!;
      if (sH > h || (sH === h && startLo[mid]! > l)) hi = mid - 1;
      else if (eH < h || (eH === h && endLo[mid]! < l)) lo = mid + 1;
      else return values[mid];
    }
    return undefined;
  }
}

/**
 * Overlapping ranges cut at every edge into sorted, disjoint pieces, each with the values of the
 * ranges that hold it. Named locations are few (tens of networks): the quadratic cut is done once.
 */
function pieces<N extends number | bigint, T>(ranges: (readonly [N, N, T])[], inc: (x: N) => N): [N, N, T[]][] {
  const edges = [...new Set(ranges.flatMap(([f, l]) => [f, inc(l)]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: [N, N, T[]][] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const a = edges[i]!;
    const b = edges[i + 1]!;
    const values = ranges.filter(([f, l]) => f <= a && a <= l).map((r) => r[2]);
    // b is the next edge: the piece ends just before it.
    if (values.length) out.push([a, (typeof b === 'bigint' ? b - 1n : (b as number) - 1) as N, values]);
  }
  return out;
}
