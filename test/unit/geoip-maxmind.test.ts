/**
 * SESAME_GEOIP_COUNTRY_FILE naming a folder of MaxMind's GeoLite2 Country CSV (issue #20: "a newer
 * MaxMind or DB-IP file"): its Blocks files (networks and geoname ids) and its Locations file (ids
 * to ISO codes), as MaxMind's zip unpacks them. The files here are cut from that format (header
 * rows as MaxMind writes them; MaxMind's own data cannot be downloaded on this machine). A network
 * without a country of its users falls back to its registered country; a folder missing a file is
 * a clear error, and the table is tried again at the next lookup.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { GeoIpCountries, maxmindLocations } from '../../src/adapters/geoip/countries.js';

const LOCATIONS = `geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union
2750405,en,EU,Europe,NL,Netherlands,1
6252001,en,NA,"North America",US,"United States",0
1835841,en,AS,Asia,KR,"South Korea",0
6255148,en,EU,Europe,,,0
`;
const BLOCKS4 = `network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast
193.0.0.0/21,2750405,2750405,,0,0,
8.8.8.0/24,,6252001,,0,0,1
1.208.0.0/12,1835841,1835841,,0,0,
5.0.0.0/24,6255148,6255148,,0,0,
`;
const BLOCKS6 = `network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast
2001:67c:2e8::/48,2750405,2750405,,0,0,
`;

describe('MaxMind GeoLite2 Country CSV', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-maxmind-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const folder = path.join(dir, 'GeoLite2-Country-CSV_20261201');
  fs.mkdirSync(folder);

  it('maps geoname ids to ISO codes by the header, quoted names and all; a continent has no code', () => {
    const ids = maxmindLocations(LOCATIONS);
    assert.deepEqual(Object.fromEntries(ids), { '2750405': 'NL', '6252001': 'US', '1835841': 'KR' });
    assert.throws(() => maxmindLocations('id,code\n1,NL\n'), /not a MaxMind Locations file/);
  });

  it('answers from the folder: IPv4, IPv6, the registered country as fallback, nothing for a continent or the unknown', async () => {
    fs.writeFileSync(path.join(folder, 'GeoLite2-Country-Locations-en.csv'), LOCATIONS);
    fs.writeFileSync(path.join(folder, 'GeoLite2-Country-Locations-de.csv'), 'ignored');
    fs.writeFileSync(path.join(folder, 'GeoLite2-Country-Blocks-IPv4.csv'), BLOCKS4);
    const missing = new GeoIpCountries(folder);
    await assert.rejects(missing.country('193.0.6.139'), /Blocks-IPv6\.csv/);
    fs.writeFileSync(path.join(folder, 'GeoLite2-Country-Blocks-IPv6.csv'), BLOCKS6);
    const geo = missing; // tried again at the next lookup, now that the file is there
    assert.equal(await geo.country('193.0.6.139'), 'NL');
    assert.equal(await geo.country('193.0.7.255'), 'NL');
    assert.equal(await geo.country('193.0.8.0'), undefined);
    assert.equal(await geo.country('8.8.8.8'), 'US', 'anycast: its registered country');
    assert.equal(await geo.country('1.214.1.1'), 'KR');
    assert.equal(await geo.country('5.0.0.1'), undefined, 'a continent is no country');
    assert.equal(await geo.country('2001:67c:2e8:22::c100:68b'), 'NL');
    assert.equal(await geo.country('::ffff:193.0.6.139'), 'NL');
    assert.equal(await geo.country('192.0.2.1'), undefined, 'documentation range');
  });

  it('reads the data once per process: every context shares the table', async () => {
    const a = await new GeoIpCountries().table();
    assert.equal(await new GeoIpCountries().table(), a);
  });

  it('still reads a DB-IP CSV file named directly', async () => {
    const file = path.join(dir, 'dbip-country-lite-2026-12.csv');
    fs.writeFileSync(file, '193.0.0.0,193.0.7.255,NL\n2001:67c:2e8::,2001:67c:2e8:ffff:ffff:ffff:ffff:ffff,NL\n');
    const geo = new GeoIpCountries(file);
    assert.equal(await geo.country('193.0.6.139'), 'NL');
    assert.equal(await geo.country('8.8.8.8'), undefined);
  });
});
