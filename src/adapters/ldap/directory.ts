/**
 * The tree an organization's directory shows over LDAP, and the matching of search filters
 * against it. An organization `contoso.test` is the naming context `dc=contoso,dc=test`; under it
 * `ou=people` holds one inetOrgPerson per active user (`uid` is the address's local part, which is
 * unique within the organization's domain) and `ou=groups` one groupOfNames per group.
 *
 * Every attribute served is matched case-insensitively (caseIgnoreMatch: names, addresses, DNs
 * and object classes alike), as address books expect.
 *
 * People and groups carry `entryUUID` (RFC 4530), their stable id in the store: an operational
 * attribute, sent only when asked for by name or with `+` (RFC 3673), and matched in filters.
 * Nextcloud and other apps that keep their own account per directory entry key it on this, so a
 * renamed group (or, one day, user) keeps its account.
 */
import type { DirectoryGroup, Person } from '../../domain/directory/reads.js';
import type { Entry, Filter } from './protocol.js';

export class DnError extends Error {}

/** One RDN as compared: the attribute type and value, lower-cased. */
export type Rdn = [type: string, value: string];

/**
 * Parses a DN string (RFC 4514) into its RDNs, lower-cased for comparison. Multi-valued RDNs
 * (`+`) are not used by this tree and are refused.
 */
export function parseDn(dn: string): Rdn[] {
  if (dn.trim() === '') return [];
  const rdns: Rdn[] = [];
  let current = '';
  const parts: string[] = [];
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\') {
      const hex = /^[0-9a-fA-F]{2}/.exec(dn.slice(i + 1, i + 3));
      if (hex) {
        current += `\\${hex[0]}`;
        i += 2;
      } else if (i + 1 < dn.length) {
        current += `\\${dn[i + 1]}`;
        i += 1;
      } else throw new DnError('a DN ends with a backslash');
    } else if (c === ',' || c === ';') {
      parts.push(current);
      current = '';
    } else if (c === '+') throw new DnError('multi-valued RDNs are not used here');
    else current += c;
  }
  parts.push(current);
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new DnError('an RDN without a type');
    const type = part.slice(0, eq).trim().toLowerCase();
    if (!/^[a-z][a-z0-9-]*$/.test(type)) throw new DnError('an RDN type that is not a name');
    rdns.push([type, unescapeValue(part.slice(eq + 1).trim()).toLowerCase()]);
  }
  return rdns;
}

function unescapeValue(v: string): string {
  if (v.startsWith('#')) throw new DnError('BER-encoded RDN values are not used here');
  const bytes: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') {
      const hex = /^[0-9a-fA-F]{2}/.exec(v.slice(i + 1, i + 3));
      if (hex) {
        bytes.push(parseInt(hex[0], 16));
        i += 2;
        continue;
      }
      i += 1;
    }
    bytes.push(...Buffer.from(v[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** An RDN value written out (RFC 4514, 2.4). */
export function escapeValue(v: string): string {
  return v
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
    .replace(/\0/g, '\\00');
}

export const sameDn = (a: Rdn[], b: Rdn[]) =>
  a.length === b.length && a.every(([t, v], i) => t === b[i]![0] && v === b[i]![1]);

/** `contoso.test` -> `dc=contoso,dc=test`. */
export const suffixOf = (domain: string) =>
  domain
    .split('.')
    .map((l) => `dc=${escapeValue(l)}`)
    .join(',');

/** The organization as the directory shows it. */
export interface OrgView {
  domain: string;
  name: string;
}

type Attributes = Map<string, { name: string; values: string[] }>;

/**
 * A node of the tree: its DN (as shown and as compared), its user attributes and its operational
 * ones (sent only when asked for; `entryDN` is every node's and not stored here).
 */
export interface Node {
  dn: string;
  rdns: Rdn[];
  attributes: Attributes;
  operational: Attributes;
}

function attributeMap(attrs: [string, string[]][]): Attributes {
  const out: Attributes = new Map();
  for (const [name, values] of attrs) if (values.length) out.set(name.toLowerCase(), { name, values });
  return out;
}

function node(dn: string, attrs: [string, string[]][], operational: [string, string[]][] = []): Node {
  return { dn, rdns: parseDn(dn), attributes: attributeMap(attrs), operational: attributeMap(operational) };
}

export const peopleDn = (domain: string) => `ou=people,${suffixOf(domain)}`;
export const groupsDn = (domain: string) => `ou=groups,${suffixOf(domain)}`;

/** The DN of a user: `uid=<local part>,ou=people,dc=...`. */
export const personDn = (address: string, domain: string) =>
  `uid=${escapeValue(address.slice(0, address.lastIndexOf('@')))},${peopleDn(domain)}`;

/** The address a bind name stands for: the address itself, or a person's DN in a naming context. */
export function bindAddress(name: string): string | undefined {
  if (!name.includes('=')) return name.includes('@') ? name.trim() : undefined;
  let rdns: Rdn[];
  try {
    rdns = parseDn(name);
  } catch {
    return undefined;
  }
  const [first, second, ...dcs] = rdns;
  if (first?.[0] !== 'uid' || second?.[0] !== 'ou' || second[1] !== 'people' || dcs.length < 2) return undefined;
  if (!dcs.every(([t]) => t === 'dc')) return undefined;
  return `${first[1]}@${dcs.map(([, v]) => v).join('.')}`;
}

/**
 * A service bind's name: `cn=<integration name>,ou=services,dc=...`, naming the integration (an
 * operator's key, `sesame integration add`) and the organization whose directory it reads.
 */
export function serviceBindName(name: string): { integration: string; domain: string } | undefined {
  let rdns: Rdn[];
  try {
    rdns = parseDn(name);
  } catch {
    return undefined;
  }
  const [first, second, ...dcs] = rdns;
  if (first?.[0] !== 'cn' || second?.[0] !== 'ou' || second[1] !== 'services' || dcs.length < 2) return undefined;
  if (!dcs.every(([t]) => t === 'dc')) return undefined;
  return { integration: first[1], domain: dcs.map(([, v]) => v).join('.') };
}

export const serviceDn = (integration: string, domain: string) =>
  `cn=${escapeValue(integration)},ou=services,${suffixOf(domain)}`;

export function suffixNode(org: OrgView): Node {
  const dc = org.domain.split('.')[0]!;
  return node(suffixOf(org.domain), [
    // One structural class (organization); dcObject is auxiliary and carries dc.
    ['objectClass', ['top', 'dcObject', 'organization']],
    ['dc', [dc]],
    ['o', [org.name]],
  ]);
}

export function ouNode(dn: string, ou: string): Node {
  return node(dn, [
    ['objectClass', ['top', 'organizationalUnit']],
    ['ou', [ou]],
  ]);
}

/**
 * Every attribute a person's entry may have, lower-cased (user and operational). A filter's test of
 * any other attribute is false for every person, which lets `pinnedAddresses` skip it.
 */
export const PERSON_ATTRIBUTES: ReadonlySet<string> = new Set([
  'objectclass',
  'uid',
  'mail',
  'cn',
  'displayname',
  'sn',
  'givenname',
  'memberof',
  'uidnumber',
  'gidnumber',
  'homedirectory',
  'entryuuid',
  'entrydn',
]);

/** A person's entry; `groups` are the names of the groups they are a member of. */
export function personNode(p: Person, org: OrgView, groups: string[]): Node {
  const local = p.address.slice(0, p.address.lastIndexOf('@'));
  const name = p.name.trim() || local;
  const words = name.split(/\s+/);
  return node(
    personDn(p.address, org.domain),
    [
      // posixAccount (auxiliary in RFC 2307bis) for NAS boxes and hosts (nslcd, sssd) that map files to owners.
      ['objectClass', ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'posixAccount']],
      ['uid', [local]],
      ['mail', [p.address]],
      ['cn', [name]],
      ['displayName', [name]],
      // person requires sn; a one-word name is its own surname.
      ['sn', [words.length > 1 ? words.slice(1).join(' ') : name]],
      ...(words.length > 1 ? ([['givenName', [words[0]!]]] as [string, string[]][]) : []),
      ['memberOf', groups.map((g) => groupDn(g, org.domain))],
      ['uidNumber', [String(p.posixId)]],
      // A private primary group of the same number, as Debian's adduser makes: what the person
      // shares with others is their groups' (ou=groups, posixGroup).
      ['gidNumber', [String(p.posixId)]],
      ['homeDirectory', [`/home/${local}`]],
    ],
    [['entryUUID', [p.id]]],
  );
}

export const groupDn = (name: string, domain: string) => `cn=${escapeValue(name)},${groupsDn(domain)}`;

export function groupNode(g: DirectoryGroup, org: OrgView): Node {
  return node(
    groupDn(g.name, org.domain),
    [
      // posixGroup (auxiliary in RFC 2307bis) beside groupOfNames: gidNumber and memberUid for nslcd, sssd and NAS boxes.
      ['objectClass', ['top', 'groupOfNames', 'posixGroup']],
      ['cn', [g.name]],
      ['gidNumber', [String(g.posixId)]],
      ['memberUid', g.members.map((a) => a.slice(0, a.lastIndexOf('@')))],
      // groupOfNames requires a member: an empty group names its own DN, as OpenLDAP's tools do.
      ['member', g.members.length ? g.members.map((a) => personDn(a, org.domain)) : [groupDn(g.name, org.domain)]],
    ],
    [['entryUUID', [g.id]]],
  );
}

/** Whether `dn` is `base` or under it, `levels` deep at most (Infinity: any depth). */
export function within(dn: Rdn[], base: Rdn[], minDepth: number, maxDepth: number): boolean {
  const depth = dn.length - base.length;
  if (depth < minDepth || depth > maxDepth) return false;
  return sameDn(dn.slice(depth), base);
}

/** Three-valued filter result (RFC 4511, 4.5.1.7): true, false or Undefined. */
type Tri = boolean | undefined;

const fold = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

/** Attributes whose values are DNs: compared as DNs (spaces and case around the commas do not matter). */
const DN_VALUED = new Set(['member', 'memberof', 'entrydn']);

/** Attributes whose values are integers: ordered as numbers. */
const INTEGER_VALUED = new Set(['uidnumber', 'gidnumber']);

function valuesOf(n: Node, attribute: string): string[] | undefined {
  const key = attribute.toLowerCase();
  if (key === 'entrydn') return [n.dn];
  return (n.attributes.get(key) ?? n.operational.get(key))?.values;
}

function equal(attribute: string, value: string, assertion: string): boolean {
  if (DN_VALUED.has(attribute.toLowerCase())) {
    try {
      return sameDn(parseDn(value), parseDn(assertion));
    } catch {
      return false;
    }
  }
  return fold(value) === fold(assertion);
}

function substrings(value: string, f: Filter & { type: 'substrings' }): boolean {
  let v = fold(value);
  if (f.initial !== undefined) {
    const i = fold(f.initial);
    if (!v.startsWith(i)) return false;
    v = v.slice(i.length);
  }
  let tail = '';
  if (f.final !== undefined) {
    tail = fold(f.final);
    if (!v.endsWith(tail) || v.length < tail.length) return false;
    v = v.slice(0, v.length - tail.length);
  }
  for (const part of f.any) {
    const p = fold(part);
    const at = v.indexOf(p);
    if (at < 0) return false;
    v = v.slice(at + p.length);
  }
  return true;
}

/** Most people a filter may pin (an `or` of lookups); beyond it the organization is read. */
export const MAX_PINNED = 32;

/**
 * The people a filter can match, when it says so: an equality on `uid` or `mail`, alone, in an
 * `and`, or in an `or` whose every branch pins people or tests an attribute no person has. Login
 * forms send these: Dovecot's and Apache's `(uid=ann)`, Nextcloud's
 * `(&(objectclass=inetOrgPerson)(|(uid=%uid)(mail=%uid)))` and its wizard's
 * `(|(mailPrimaryAddress=%uid)(mail=%uid))`. The search then reads those users instead of the whole
 * organization; the filter is still applied to them. Undefined: the filter may match anyone.
 */
export function pinnedAddresses(f: Filter, domain: string): string[] | undefined {
  const out = pins(f, domain);
  return out === undefined || out.length > MAX_PINNED ? undefined : [...new Set(out)];
}

function pins(f: Filter, domain: string): string[] | undefined {
  switch (f.type) {
    case 'equality': {
      const attribute = f.attribute.toLowerCase();
      if (attribute === 'uid') return [`${fold(f.value)}@${domain}`];
      if (attribute === 'mail') return [fold(f.value)];
      return PERSON_ATTRIBUTES.has(attribute) ? undefined : [];
    }
    case 'substrings':
    case 'present':
    case 'approx':
    case 'greaterOrEqual':
    case 'lessOrEqual':
      return PERSON_ATTRIBUTES.has(f.attribute.toLowerCase()) ? undefined : [];
    case 'and':
      for (const sub of f.filters) {
        const p = pins(sub, domain);
        if (p !== undefined) return p;
      }
      return undefined;
    case 'or': {
      const all: string[] = [];
      for (const sub of f.filters) {
        const p = pins(sub, domain);
        if (p === undefined) return undefined;
        all.push(...p);
      }
      return all;
    }
    default:
      return undefined;
  }
}

/** Whether a node matches a filter; Undefined counts as no match (RFC 4511, 4.5.1). */
export function matches(n: Node, f: Filter): boolean {
  return evaluate(n, f) === true;
}

function evaluate(n: Node, f: Filter): Tri {
  switch (f.type) {
    case 'and': {
      let out: Tri = true;
      for (const sub of f.filters) {
        const r = evaluate(n, sub);
        if (r === false) return false;
        if (r === undefined) out = undefined;
      }
      return out;
    }
    case 'or': {
      let out: Tri = false;
      for (const sub of f.filters) {
        const r = evaluate(n, sub);
        if (r === true) return true;
        if (r === undefined) out = undefined;
      }
      return out;
    }
    case 'not': {
      const r = evaluate(n, f.filter);
      return r === undefined ? undefined : !r;
    }
    case 'present':
      return f.attribute.toLowerCase() === 'objectclass' || valuesOf(n, f.attribute) !== undefined;
    case 'extensible':
      return undefined;
    default: {
      const values = valuesOf(n, f.attribute);
      if (!values) return false;
      if (f.type === 'substrings') return values.some((v) => substrings(v, f));
      if (f.type === 'equality' || f.type === 'approx') return values.some((v) => equal(f.attribute, v, f.value));
      // Ordering: integerOrderingMatch on the numbers (uidNumber, gidNumber; sssd asks
      // `(uidNumber>=…)`), else a plain comparison of the folded forms.
      if (INTEGER_VALUED.has(f.attribute.toLowerCase())) {
        if (!/^-?\d+$/.test(f.value.trim())) return undefined;
        const n = Number(f.value);
        return values.some((v) => (f.type === 'greaterOrEqual' ? Number(v) >= n : Number(v) <= n));
      }
      const a = fold(f.value);
      return values.some((v) => (f.type === 'greaterOrEqual' ? fold(v) >= a : fold(v) <= a));
    }
  }
}

/**
 * The entry as sent: every user attribute when none is asked for or `*` is, none for `1.1`
 * (RFC 4511, 4.5.1.8), otherwise those asked for; operational attributes (`entryDN`,
 * `entryUUID`) only by name or all of them with `+` (RFC 3673); values left out with `typesOnly`.
 */
export function entryOf(n: Node, attributes: string[], typesOnly: boolean): Entry {
  const asked = attributes.map((a) => a.toLowerCase());
  const all = asked.length === 0 || asked.includes('*');
  const operational = asked.includes('+');
  const none = !all && asked.length === 1 && asked[0] === '1.1';
  const out: Entry['attributes'] = [];
  const add = (name: string, values: string[]) => out.push([name, typesOnly ? [] : values]);
  if (!none) for (const [key, { name, values }] of n.attributes) if (all || asked.includes(key)) add(name, values);
  for (const [key, { name, values }] of n.operational) if (operational || asked.includes(key)) add(name, values);
  if (operational || asked.includes('entrydn')) add('entryDN', [n.dn]);
  return { dn: n.dn, attributes: out };
}
