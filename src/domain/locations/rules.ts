/**
 * Where app passwords (and, while allowed, main passwords) may be used from (issue #20, item 2):
 * the organization's rules per legacy protocol, optionally per group, and each app password's own
 * pin to named locations or to one network.
 *
 * A rule says, for one protocol, `anywhere`, `locations` (only from the named locations it lists)
 * or `never`. A rule may name a group: then it applies to that group's members instead of the
 * organization-wide rule for the protocol. A member of several groups with rules for the protocol
 * is allowed when any of those rules allows (a user in "Office staff" and "Travelling sales" may
 * use IMAP wherever either group may). A protocol without a rule is allowed from anywhere.
 *
 * A pin narrows one app password further: it is allowed only from the pinned locations or network,
 * and only where the organization's rules also allow it.
 */
import { type IpNumber, parseCidr, parseIp, RangeTable } from '../../lib/ip.js';
import { type AppPasswordPin, isProtocol, PROTOCOLS, type Protocol } from '../app-passwords/model.js';
import { SesameError } from '../errors.js';
import { type CountryOf, locationHolder } from './matcher.js';
import { LOCATION_MODES, type LocationMode, type LocationRule, type NamedLocation } from './model.js';

export { LOCATION_MODES, type LocationMode, type LocationRule } from './model.js';

/** At most one rule per (protocol, group): a second would leave the admin guessing which one holds. */
export const RULES_MAX = PROTOCOLS.length * 50;

function isMode(v: unknown): v is LocationMode {
  return typeof v === 'string' && (LOCATION_MODES as readonly string[]).includes(v);
}

/**
 * Checks an admin's rules against the organization's locations and groups (ids), in a stable
 * order (protocol, then the organization-wide rule first). Refuses, naming the rule, rather than
 * dropping anything: a rule dropped silently would open what the admin meant to close.
 */
export function normalizeRules(
  raw: readonly { protocol: string; groupId?: string | null; mode: string; locationIds?: readonly string[] }[],
  locations: ReadonlySet<string>,
  groups: ReadonlySet<string>,
): LocationRule[] {
  if (raw.length > RULES_MAX) throw new SesameError('invalid_input', `more than ${RULES_MAX} location rules`);
  const seen = new Set<string>();
  const out: LocationRule[] = [];
  for (const r of raw) {
    const protocol = String(r.protocol).toLowerCase();
    const where = { protocol: protocol.slice(0, 16).toUpperCase() };
    if (!isProtocol(protocol))
      throw new SesameError('location_rule_invalid', `unknown protocol ${JSON.stringify(r.protocol)}`, {
        params: where,
        variant: 'protocol',
      });
    if (!isMode(r.mode))
      throw new SesameError('location_rule_invalid', `unknown mode ${JSON.stringify(r.mode)}`, {
        params: where,
        variant: 'mode',
      });
    const groupId = r.groupId ?? null;
    if (groupId !== null && !groups.has(groupId))
      throw new SesameError('location_rule_invalid', `no group ${groupId} in this organization`, {
        params: where,
        variant: 'group',
      });
    const key = `${protocol}\0${groupId ?? ''}`;
    if (seen.has(key))
      throw new SesameError('location_rule_invalid', `two rules for ${protocol} and the same group`, {
        params: where,
        variant: 'duplicate',
      });
    seen.add(key);
    const ids = [...new Set(r.locationIds ?? [])];
    if (r.mode === 'locations' && ids.length === 0)
      throw new SesameError('location_rule_invalid', `${protocol}: "only from named locations" names none`, {
        params: where,
        variant: 'no_locations',
      });
    for (const id of ids)
      if (!locations.has(id))
        throw new SesameError('location_not_found', `no location ${id} in this organization`, { params: where });
    out.push({ protocol, groupId, mode: r.mode, locationIds: r.mode === 'locations' ? ids.sort() : [] });
  }
  return out.sort(
    (a, b) =>
      PROTOCOLS.indexOf(a.protocol) - PROTOCOLS.indexOf(b.protocol) ||
      (a.groupId === null ? -1 : b.groupId === null ? 1 : a.groupId.localeCompare(b.groupId)),
  );
}

/**
 * A pin as given: location ids of the organization and/or one network or address (a bare
 * address is its /32 or /128; host bits must be zero, as for locations). Null when nothing is
 * pinned. `location_network_invalid` and `location_not_found` name what is wrong.
 */
export function normalizePin(
  raw: { locationIds?: readonly string[]; network?: string | null } | null | undefined,
  locations: ReadonlySet<string>,
): AppPasswordPin | null {
  if (!raw) return null;
  const ids = [...new Set(raw.locationIds ?? [])].sort();
  for (const id of ids)
    if (!locations.has(id)) throw new SesameError('location_not_found', `no location ${id} in this organization`);
  let network: string | null = null;
  const text = raw.network?.trim();
  if (text) {
    const c = parseCidr(text);
    if (c instanceof Error)
      throw new SesameError('location_network_invalid', `${JSON.stringify(text)}: ${c.message}`, {
        params: { network: text.slice(0, 60) },
      });
    network = c.text;
  }
  return ids.length === 0 && network === null ? null : { locationIds: ids, network };
}

/** The rules and locations of one organization, compiled once: a decision costs a bisection and a few set lookups. */
export interface CompiledLocationRules {
  /** The group ids whose rules decide `protocol` (their members are asked of the store); none: the decision needs no groups. */
  groupsFor(protocol: Protocol): readonly string[];
  /**
   * Whether the organization's rules let `ip` use `protocol`, for a user in `memberOf` of
   * groupsFor(protocol). `ip` as text, or parsed once by the caller (undefined: no address).
   */
  allows(protocol: Protocol, ip: string | IpNumber | undefined, memberOf?: ReadonlySet<string>): boolean;
  /** Whether `ip` is inside the pin. */
  pinAllows(pin: AppPasswordPin, ip: string | IpNumber | undefined): boolean;
  /** Whether any location names a country (the country table must be loaded before compiling). */
  readonly usesCountries: boolean;
}

const NONE: ReadonlySet<string> = new Set();
const NO_INDEXES: readonly number[] = [];

export function compileRules(
  rules: readonly LocationRule[],
  locations: readonly NamedLocation[],
  countryOf?: CountryOf,
): CompiledLocationRules {
  const holdingOf = locationHolder(locations, countryOf);
  // The pin and the rule of one decision ask about the same parsed address: look it up once.
  let lastIp: IpNumber | undefined;
  let lastHeld: readonly number[] = [];
  const holding = (ip: IpNumber): readonly number[] => {
    if (ip !== lastIp) {
      lastHeld = holdingOf(ip);
      lastIp = ip;
    }
    return lastHeld;
  };
  // Ids become sets of indexes once (per rule here, per pin at its first use), so a decision asks
  // whether any of the few locations holding the address is named: no id compared, nothing built.
  const indexOf = new Map(locations.map((l, i) => [l.id, i]));
  const indexes = (ids: readonly string[]) => new Set(ids.flatMap((id) => (indexOf.has(id) ? [indexOf.get(id)!] : [])));
  const named = new Map<LocationRule, ReadonlySet<number>>(rules.map((r) => [r, indexes(r.locationIds)]));
  const pinned = new WeakMap<AppPasswordPin, ReadonlySet<number>>();
  const anyHeld = (names: ReadonlySet<number>, here: readonly number[]) => {
    for (const i of here) if (names.has(i)) return true;
    return false;
  };
  const orgWide = new Map<Protocol, LocationRule>();
  const byGroup = new Map<Protocol, LocationRule[]>();
  for (const r of rules) {
    if (r.groupId === null) orgWide.set(r.protocol, r);
    else byGroup.set(r.protocol, [...(byGroup.get(r.protocol) ?? []), r]);
  }
  const groupIds = new Map<Protocol, string[]>([...byGroup].map(([p, rs]) => [p, rs.map((r) => r.groupId!)]));
  // Parsed pins, by their text: an app password's network is parsed once, not at every attempt.
  const pins = new Map<string, ReturnType<typeof pinTable>>();
  const held = (ip: IpNumber | undefined): readonly number[] => (ip ? holding(ip) : NO_INDEXES);
  const address = (ip: string | IpNumber | undefined) => (typeof ip === 'string' ? parseIp(ip) : ip);
  const ruleAllows = (r: LocationRule, here: readonly number[]) =>
    r.mode === 'anywhere' || (r.mode === 'locations' && anyHeld(named.get(r)!, here));
  return {
    usesCountries: locations.some((l) => l.countries.length > 0),
    groupsFor: (protocol) => groupIds.get(protocol) ?? [],
    allows(protocol, ip, memberOf = NONE) {
      const forGroups = byGroup.get(protocol);
      const mine = forGroups ? forGroups.filter((r) => memberOf.has(r.groupId!)) : [];
      if (mine.length === 0) {
        // The organization-wide rule decides (the common case: no arrays built).
        const wide = orgWide.get(protocol);
        if (wide === undefined || wide.mode === 'anywhere') return true;
        return ruleAllows(wide, held(address(ip)));
      }
      if (mine.some((r) => r.mode === 'anywhere')) return true;
      const here = held(address(ip));
      return mine.some((r) => ruleAllows(r, here));
    },
    pinAllows(pin, given) {
      const ip = address(given);
      if (!ip) return false;
      if (pin.network !== null) {
        let t = pins.get(pin.network);
        if (!t) {
          if (pins.size >= 10_000) pins.clear();
          pins.set(pin.network, (t = pinTable(pin.network)));
        }
        if (t.lookup(ip) !== undefined) return true;
      }
      if (pin.locationIds.length === 0) return false;
      let names = pinned.get(pin);
      if (!names) pinned.set(pin, (names = indexes(pin.locationIds)));
      return anyHeld(names, holding(ip));
    },
  };
}

function pinTable(network: string): RangeTable<true[]> {
  const c = parseCidr(network);
  return RangeTable.build(c instanceof Error ? [] : [{ ...c, value: true as const }]);
}

/** The rules an organization has before its admin writes any: none, so every protocol is allowed from anywhere. */
export const NO_RULES: readonly LocationRule[] = [];
