/**
 * Named locations of an organization (issue #20, item 1): networks (IPv4 and IPv6 CIDR) and
 * countries under a name, such as "Office" or "Netherlands", for rules that will say where an app
 * password may be used from. A location has at least one network or country.
 */
import { parseCidr } from '../../lib/ip.js';
import { SesameError } from '../errors.js';
import type { Protocol } from '../app-passwords/model.js';

export interface NamedLocation {
  id: string;
  orgId: string;
  name: string;
  /** Canonical CIDR text (`192.0.2.0/24`, `2001:db8::/32`), sorted, no duplicates. */
  networks: string[];
  /** ISO 3166-1 alpha-2 codes, upper case, sorted, no duplicates. */
  countries: string[];
  createdAt: number;
  updatedAt: number;
}

/** Where a rule lets a protocol be used from (rules.ts). */
export const LOCATION_MODES = ['anywhere', 'locations', 'never'] as const;
export type LocationMode = (typeof LOCATION_MODES)[number];

export interface LocationRule {
  protocol: Protocol;
  /** Null: the organization-wide rule for the protocol. */
  groupId: string | null;
  mode: LocationMode;
  /** The named locations of `locations` mode (ids; none for the other modes). */
  locationIds: string[];
}

export const LOCATION_NAME_MAX = 100;
/** Enough for an office's and its branches' prefixes; a longer list belongs in a country or a firewall. */
export const LOCATION_NETWORKS_MAX = 500;

/**
 * ISO 3166-1 alpha-2, the officially assigned codes and XK (Kosovo, user-assigned but what the
 * registries and DB-IP use): exactly the codes the shipped country data uses.
 */
export const COUNTRY_CODES: ReadonlySet<string> = new Set(
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW'.split(
    ' ',
  ),
);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** 1 to 100 characters, no control characters, no comma (the CLI and later rules list names with commas). */
export function normalizeLocationName(raw: string): string {
  const n = raw.trim().normalize('NFC');
  if (n.length < 1 || n.length > LOCATION_NAME_MAX || CONTROL.test(n) || n.includes(','))
    throw new SesameError(
      'invalid_name',
      `location name must be 1 to ${LOCATION_NAME_MAX} characters without control characters or commas`,
      { params: { max: LOCATION_NAME_MAX }, variant: 'location' },
    );
  return n;
}

/** The key a name is unique under within its organization: "Office" and "office" are one location. */
export function locationNameKey(name: string): string {
  return name.toLowerCase();
}

/**
 * Networks in CIDR notation (a bare address is its /32 or /128), canonical and sorted. Host bits
 * must be zero: `192.0.2.1/24` is refused (`location_network_invalid` naming it), not widened,
 * since whoever typed it may have meant one address.
 */
export function normalizeNetworks(raw: readonly string[]): string[] {
  const out = new Set<string>();
  for (const r of raw) {
    const c = parseCidr(r);
    if (c instanceof Error)
      throw new SesameError('location_network_invalid', `${JSON.stringify(r)}: ${c.message}`, {
        params: { network: r.trim().slice(0, 60) },
      });
    out.add(c.text);
  }
  if (out.size > LOCATION_NETWORKS_MAX)
    throw new SesameError('invalid_input', `more than ${LOCATION_NETWORKS_MAX} networks in one location`);
  return [...out].sort();
}

export function normalizeCountries(raw: readonly string[]): string[] {
  const out = new Set<string>();
  for (const r of raw) {
    const c = r.trim().toUpperCase();
    if (!COUNTRY_CODES.has(c))
      throw new SesameError('location_country_invalid', `${JSON.stringify(r)} is not an ISO 3166-1 alpha-2 code`, {
        params: { country: r.trim().slice(0, 10) },
      });
    out.add(c);
  }
  return [...out].sort();
}

/** What an admin gives: a name and the networks and countries, checked and normalized together. */
export function normalizeLocation(input: { name: string; networks: readonly string[]; countries: readonly string[] }): {
  name: string;
  networks: string[];
  countries: string[];
} {
  const name = normalizeLocationName(input.name);
  const networks = normalizeNetworks(input.networks);
  const countries = normalizeCountries(input.countries);
  if (networks.length === 0 && countries.length === 0)
    throw new SesameError('location_empty', `location ${name} has no network and no country`, { params: { name } });
  return { name, networks, countries };
}

export interface NamedLocationRepository {
  /** False when the organization has a location of that name (any case). */
  create(l: NamedLocation): Promise<boolean>;
  get(id: string): Promise<NamedLocation | undefined>;
  byName(orgId: string, name: string): Promise<NamedLocation | undefined>;
  /** By name, without case. */
  list(orgId: string): Promise<NamedLocation[]>;
  /** False when another location of the organization has that name. */
  update(l: NamedLocation): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /** The organization's rules and their version (0 and none: never written). */
  rules(orgId: string): Promise<{ version: number; rules: LocationRule[] }>;
  /** Replaces the rules and raises the version; returns the new version. */
  saveRules(orgId: string, rules: readonly LocationRule[], at: number): Promise<number>;
  /** Raises the version after a change of the locations themselves, so every instance recompiles. */
  touch(orgId: string, at: number): Promise<number>;
  /** How many app passwords are pinned to this location. */
  pinnedTo(locationId: string): Promise<number>;
}
