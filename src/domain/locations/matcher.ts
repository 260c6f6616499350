/**
 * An organization's named locations compiled once into a lookup: which of them hold an address.
 * Networks become one range table (bisection); countries are a set per location, asked of the
 * address's country once. Enforcement (issue #20, item 2) builds one per organization when the
 * list changes, not one per request.
 */
import { type IpNumber, parseCidr, parseIp, RangeTable } from '../../lib/ip.js';
import type { NamedLocation } from './model.js';

/** The country of an address (the geo adapter's table), or undefined when unknown. */
export type CountryOf = (ip: IpNumber) => string | undefined;

export interface LocationMatcher {
  /** Names of the locations that hold `ip`, in the list's order; none for something that is not an address. */
  matches(ip: string): string[];
  /** Whether any location names a country (then a caller must have loaded the country data). */
  readonly usesCountries: boolean;
}

/**
 * Which of `locations` hold an address, as their indexes in the list: networks in one range table
 * (bisection), countries as a map from code to locations, asked once per address. Shared by the
 * Locations page's check (compileLocations) and the rules (rules.ts compileRules).
 */
export function locationHolder(
  locations: readonly Pick<NamedLocation, 'networks' | 'countries'>[],
  countryOf?: CountryOf,
): (ip: IpNumber) => readonly number[] {
  const ranges = locations.flatMap((l, index) =>
    l.networks.flatMap((n) => {
      const c = parseCidr(n);
      // Stored networks were normalized on the way in; one that no longer parses matches nothing.
      return c instanceof Error ? [] : [{ ...c, value: index }];
    }),
  );
  const table = RangeTable.build(ranges);
  const byCountry = new Map<string, number[]>();
  locations.forEach((l, index) => {
    for (const c of l.countries) byCountry.set(c, [...(byCountry.get(c) ?? []), index]);
  });
  // An array, possibly with repeats: an address is held by a handful of locations at most, and a
  // decision only asks whether any of them is one it names (no set built per request).
  const NONE: readonly number[] = [];
  return (ip) => {
    const byNetwork = table.lookup(ip) ?? NONE;
    if (!byCountry.size || !countryOf) return byNetwork;
    const country = countryOf(ip);
    const byItsCountry = country ? byCountry.get(country) : undefined;
    return byItsCountry ? [...byNetwork, ...byItsCountry] : byNetwork;
  };
}

export function compileLocations(
  locations: readonly Pick<NamedLocation, 'name' | 'networks' | 'countries'>[],
  countryOf?: CountryOf,
): LocationMatcher {
  const holding = locationHolder(locations, countryOf);
  return {
    usesCountries: locations.some((l) => l.countries.length > 0),
    matches(text: string): string[] {
      const ip = parseIp(text);
      if (!ip) return [];
      return [...new Set(holding(ip))].sort((a, b) => a - b).map((i) => locations[i]!.name);
    },
  };
}
