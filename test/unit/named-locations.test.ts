/**
 * Named locations without a store (issue #20, item 1): CIDR parsing (canonical text, host bits
 * refused, IPv4-mapped addresses as IPv4), the location's checks, the matcher compiled from a
 * list (IPv4, IPv6, edges, overlaps, countries) and the offline country data: addresses whose
 * country the shipped DB-IP file states (checked in the file), the documentation and private
 * ranges as unknown, and a replacement file in DB-IP's own CSV format.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { type CountryTable, GeoIpCountries, parseCountryCsv } from '../../src/adapters/geoip/countries.js';
import { SesameError } from '../../src/domain/errors.js';
import { compileLocations } from '../../src/domain/locations/matcher.js';
import { COUNTRY_CODES, normalizeLocation } from '../../src/domain/locations/model.js';
import { parseCidr, parseIp } from '../../src/lib/ip.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof SesameError ? e.code : `not a SesameError: ${e}`;
  }
  return 'no error';
};

describe('CIDR networks and addresses', () => {
  it('parses networks into canonical text and their first and last address', () => {
    const c = parseCidr(' 192.0.2.0/24 ');
    assert.ok(!(c instanceof Error));
    assert.deepEqual([c.text, c.first, c.last], ['192.0.2.0/24', 0xc0000200, 0xc00002ff]);
    const v6 = parseCidr('2001:DB8:0:0::/32');
    assert.ok(!(v6 instanceof Error));
    assert.equal(v6.text, '2001:db8::/32');
    assert.equal(v6.last, (0x20010db8n << 96n) | ((1n << 96n) - 1n));
    assert.equal((parseCidr('10.0.4.17') as { text: string }).text, '10.0.4.17/32');
    assert.equal((parseCidr('2001:db8:0:1:0:0:0:1') as { text: string }).text, '2001:db8:0:1::1/128');
    assert.equal((parseCidr('0.0.0.0/0') as { last: number }).last, 0xffffffff);
    assert.equal((parseCidr('::/0') as { last: bigint }).last, (1n << 128n) - 1n);
  });

  it('refuses host bits, bad prefixes, zones, mapped networks and things that are not addresses', () => {
    for (const bad of [
      '192.0.2.1/24',
      '2001:db8::1/32',
      '192.0.2.0/33',
      '2001:db8::/129',
      '192.0.2.0/',
      '192.0.2.0/-1',
      '192.0.2.0/2a',
      'fe80::1%eth0',
      '::ffff:192.0.2.0/120',
      '192.0.2',
      'office',
      '',
    ])
      assert.ok(parseCidr(bad) instanceof Error, bad);
  });

  it('reads an IPv4-mapped IPv6 address as its IPv4 address', () => {
    assert.deepEqual(parseIp('::ffff:192.0.2.1'), { family: 4, value: 0xc0000201 });
    assert.deepEqual(parseIp('::FFFF:192.0.2.1'), parseIp('192.0.2.1'));
    assert.equal(parseIp('192.0.2.256'), undefined);
    assert.equal(parseIp('fe80::1%eth0'), undefined);
  });
});

describe('a named location', () => {
  it('normalizes networks and countries: canonical, sorted, without duplicates', () => {
    assert.deepEqual(
      normalizeLocation({
        name: '  Office ',
        networks: ['2001:DB8::/48', '192.0.2.0/24', '192.0.2.0/24', '10.0.4.17'],
        countries: ['nl', 'BE', 'NL'],
      }),
      { name: 'Office', networks: ['10.0.4.17/32', '192.0.2.0/24', '2001:db8::/48'], countries: ['BE', 'NL'] },
    );
  });

  it('refuses, each with its own code: host bits, an unknown country, nothing at all, a bad name', () => {
    assert.equal(
      code(() => normalizeLocation({ name: 'A', networks: ['192.0.2.1/24'], countries: [] })),
      'location_network_invalid',
    );
    for (const c of ['XX', 'EU', 'UK', 'N', 'NLD', ''])
      assert.equal(
        code(() => normalizeLocation({ name: 'A', networks: [], countries: [c] })),
        'location_country_invalid',
        c,
      );
    assert.equal(
      code(() => normalizeLocation({ name: 'A', networks: [], countries: [] })),
      'location_empty',
    );
    assert.equal(
      code(() => normalizeLocation({ name: 'a,b', networks: [], countries: ['NL'] })),
      'invalid_name',
    );
    assert.equal(
      code(() => normalizeLocation({ name: ' ', networks: [], countries: ['NL'] })),
      'invalid_name',
    );
  });

  it('knows the ISO codes in use, Kosovo included', () => {
    assert.equal(COUNTRY_CODES.size, 250);
    for (const c of ['NL', 'BE', 'US', 'JP', 'XK', 'AQ']) assert.ok(COUNTRY_CODES.has(c), c);
  });
});

describe('the matcher compiled from a list of locations', () => {
  const matcher = compileLocations([
    { name: 'Office', networks: ['192.0.2.0/24', '2001:db8:1::/48'], countries: [] },
    { name: 'Scanner', networks: ['192.0.2.17/32'], countries: [] },
    { name: 'Lab', networks: ['198.51.100.128/25', '2001:db8:1:2::/64'], countries: [] },
    { name: 'Everywhere v4', networks: ['0.0.0.0/0'], countries: [] },
  ]);

  it('IPv4: the edges of a network are in, the addresses just outside are not; overlapping locations all match', () => {
    assert.deepEqual(matcher.matches('192.0.2.0'), ['Office', 'Everywhere v4']);
    assert.deepEqual(matcher.matches('192.0.2.255'), ['Office', 'Everywhere v4']);
    assert.deepEqual(matcher.matches('192.0.2.17'), ['Office', 'Scanner', 'Everywhere v4']);
    assert.deepEqual(matcher.matches('192.0.2.16'), ['Office', 'Everywhere v4']);
    assert.deepEqual(matcher.matches('192.0.3.0'), ['Everywhere v4']);
    assert.deepEqual(matcher.matches('198.51.100.127'), ['Everywhere v4']);
    assert.deepEqual(matcher.matches('198.51.100.128'), ['Lab', 'Everywhere v4']);
    assert.deepEqual(matcher.matches('255.255.255.255'), ['Everywhere v4']);
    assert.deepEqual(matcher.matches('0.0.0.0'), ['Everywhere v4']);
  });

  it('IPv6, and IPv4-mapped IPv6 as IPv4', () => {
    assert.deepEqual(matcher.matches('2001:db8:1::'), ['Office']);
    assert.deepEqual(matcher.matches('2001:db8:1:ffff:ffff:ffff:ffff:ffff'), ['Office']);
    assert.deepEqual(matcher.matches('2001:db8:1:2::9'), ['Office', 'Lab']);
    assert.deepEqual(matcher.matches('2001:db8:2::'), []);
    assert.deepEqual(matcher.matches('2001:db8:0:ffff:ffff:ffff:ffff:ffff'), []);
    assert.deepEqual(matcher.matches('::ffff:192.0.2.17'), ['Office', 'Scanner', 'Everywhere v4']);
    assert.deepEqual(matcher.matches('not an address'), []);
  });

  it('an empty list matches nothing', () => {
    assert.deepEqual(compileLocations([]).matches('192.0.2.1'), []);
  });
});

describe('countries from the shipped data (DB-IP Lite, loaded at the first lookup)', () => {
  let table: CountryTable;
  before(async () => {
    table = await new GeoIpCountries().table();
  });

  it('places addresses the file places (RIPE NCC, Google DNS, APNIC, Strato), IPv4 and IPv6', () => {
    // Each checked in node_modules/@ip-location-db/dbip-country/dbip-country-ipv{4,6}.csv.
    assert.equal(table.country('193.0.6.139'), 'NL');
    assert.equal(table.country('::ffff:193.0.6.139'), 'NL');
    assert.equal(table.country('8.8.8.8'), 'US');
    assert.equal(table.country('1.0.0.1'), 'AU');
    assert.equal(table.country('81.169.145.1'), 'DE');
    assert.equal(table.country('2001:67c:2e8:22::c100:68b'), 'NL');
    assert.equal(table.country('2001:200::1'), 'JP');
    assert.ok(table.size > 100_000);
  });

  it('documentation, private, loopback and link-local addresses are unknown, as is nonsense', () => {
    for (const ip of [
      '192.0.2.1',
      '198.51.100.7',
      '203.0.113.9',
      '10.0.0.1',
      '127.0.0.1',
      '169.254.1.1',
      '2001:db8::1',
      'fe80::1',
      '::1',
      'fd00::1',
      'x',
    ])
      assert.equal(table.country(ip), undefined, ip);
  });

  it('a matcher with countries: an address in a named country matches, one in another or unknown does not', () => {
    const m = compileLocations(
      [
        { name: 'Office', networks: ['192.0.2.0/24'], countries: [] },
        { name: 'Netherlands', networks: [], countries: ['NL'] },
        { name: 'Benelux', networks: [], countries: ['BE', 'LU', 'NL'] },
      ],
      (ip) => table.country(ip),
    );
    assert.equal(m.usesCountries, true);
    assert.deepEqual(m.matches('193.0.6.139'), ['Netherlands', 'Benelux']);
    assert.deepEqual(m.matches('2001:67c:2e8:22::c100:68b'), ['Netherlands', 'Benelux']);
    assert.deepEqual(m.matches('8.8.8.8'), []);
    assert.deepEqual(m.matches('192.0.2.1'), ['Office']);
    assert.deepEqual(m.matches('2001:db8::1'), []);
  });
});

describe('a replacement country file (SESAME_GEOIP_COUNTRY_FILE)', () => {
  it("reads DB-IP's own CSV: IPv4 and IPv6 rows in one file, in any order, quoted or not; skips ZZ and junk", async () => {
    const t = parseCountryCsv([
      {
        text: [
          '"2001:67c::","2001:67c:ffff:ffff:ffff:ffff:ffff:ffff","NL"',
          '5.0.0.0,5.0.0.255,BE',
          'start,end,country',
          '6.0.0.0,6.0.0.255,ZZ',
          '7.0.0.9,7.0.0.1,FR',
          '4.0.0.0,4.0.0.255,fr',
          '',
        ].join('\r\n'),
      },
    ]);
    assert.equal(t.size, 3);
    assert.equal(t.country('5.0.0.128'), 'BE');
    assert.equal(t.country('4.0.0.255'), 'FR');
    assert.equal(t.country('4.0.1.0'), undefined);
    assert.equal(t.country('6.0.0.1'), undefined);
    assert.equal(t.country('2001:67c:2e8::1'), 'NL');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-geoip-'));
    try {
      const file = path.join(dir, 'dbip-country-lite.csv');
      fs.writeFileSync(file, '193.0.0.0,193.0.7.255,SE\n');
      const geo = new GeoIpCountries(file);
      // The file wins over the shipped data: this made-up row says SE where DB-IP says NL.
      assert.equal(await geo.country('193.0.6.139'), 'SE');
      assert.equal(await geo.country('8.8.8.8'), undefined);
      // A file with no range is refused at the lookup, and tried again at the next one.
      const empty = path.join(dir, 'empty.csv');
      fs.writeFileSync(empty, 'nothing here\n');
      const broken = new GeoIpCountries(empty);
      await assert.rejects(broken.country('193.0.6.139'), /no country ranges/);
      fs.writeFileSync(empty, '193.0.0.0,193.0.7.255,NL\n');
      assert.equal(await broken.country('193.0.6.139'), 'NL');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
