/**
 * The country of an IP address, offline, from DB-IP's IP to Country Lite data as shipped in the
 * npm package `@ip-location-db/dbip-country` (CC BY 4.0, attribution to DB-IP; see
 * docs/decisions.md), or from a newer file of the same format named by SESAME_GEOIP_COUNTRY_FILE.
 * The file is read once, at the first lookup, into typed arrays searched by bisection: starting
 * Sesame costs nothing, a lookup costs about twenty comparisons.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { type IpNumber, parseCidr, parseIp, RangeTable } from '../../lib/ip.js';

/** Ranges no database should place in a country: private, loopback, link-local, shared, documentation, multicast. */
const SPECIAL_USE = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/3',
  '::/127',
  '64:ff9b:1::/48',
  '100::/64',
  '2001:db8::/32',
  '3fff::/20',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
];

const special = RangeTable.build(
  SPECIAL_USE.map((text) => {
    const c = parseCidr(text);
    if (c instanceof Error) throw c;
    return { ...c, value: true };
  }),
);

/** True for an address of a special-use range, which has no country. */
export function isSpecialUse(ip: IpNumber): boolean {
  return special.lookup(ip) !== undefined;
}

export class CountryTable {
  constructor(private readonly table: RangeTable<string>) {}

  get size(): number {
    return this.table.size;
  }

  /** ISO 3166-1 alpha-2 code, upper case; undefined for an address the data does not place, a special-use one, or no address. */
  country(ip: string | IpNumber): string | undefined {
    const n = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!n || isSpecialUse(n)) return undefined;
    return this.table.lookup(n);
  }
}

const COUNTRY = /^[A-Z]{2}$/;

/**
 * A file of rows `first,last,CC`: addresses as text, or (`numeric`) as decimal numbers of one
 * family. Or (`maxmind`) a MaxMind GeoLite2/GeoIP2 Country *Blocks* file, rows
 * `network,geoname_id,registered_country_geoname_id,...`, with its Locations file's ids to codes.
 */
export interface CountryFile {
  text: string;
  numeric?: 4 | 6;
  maxmind?: ReadonlyMap<string, string>;
}

/**
 * A MaxMind *Locations* file (`GeoLite2-Country-Locations-en.csv`): geoname id to ISO code, by the
 * header's column names. The columns before the code (ids, continent code and name) hold no comma.
 */
export function maxmindLocations(text: string): Map<string, string> {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').trim().split(',');
  const idAt = header.indexOf('geoname_id');
  const codeAt = header.indexOf('country_iso_code');
  if (idAt < 0 || codeAt < 0)
    throw new Error('not a MaxMind Locations file: no geoname_id and country_iso_code columns');
  const out = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const f = line.replaceAll('"', '').split(',');
    const id = f[idAt]?.trim();
    const code = f[codeAt]?.trim().toUpperCase();
    if (id && code && COUNTRY.test(code)) out.set(id, code);
  }
  return out;
}

/**
 * Reads rows `first,last,CC` (IPv4 and IPv6 rows in any order, ranges disjoint); a quoted field,
 * a header or a row that is not a range is skipped. Codes outside ISO's shape (DB-IP writes `ZZ`
 * for unknown) are skipped too. The shipped data is read in its numeric form: parsing 700,000
 * addresses as text takes seconds, numbers a fraction of that.
 */
export function parseCountryCsv(files: CountryFile[]): CountryTable {
  const rows = parseRows(files);
  let step = rows.next();
  while (!step.done) step = rows.next();
  return step.value;
}

/**
 * parseCountryCsv, giving the event loop a turn every `linesPerTurn` lines: the shipped data takes
 * over a second to parse, which must not stall the requests of a running server (the first
 * legacy sign-in and the first page with countries load it, domain/legacy/country-watch.ts).
 */
export async function parseCountryCsvYielding(files: CountryFile[], linesPerTurn = 20_000): Promise<CountryTable> {
  const rows = parseRows(files, linesPerTurn);
  let step = rows.next();
  while (!step.done) {
    await new Promise((resolve) => setImmediate(resolve));
    step = rows.next();
  }
  return step.value;
}

/** The parse itself; it yields (nothing) every `linesPerTurn` lines and returns the table. */
function* parseRows(files: CountryFile[], linesPerTurn = Number.POSITIVE_INFINITY): Generator<void, CountryTable> {
  const v4: [number, number, string][] = [];
  const v6: [bigint, bigint, string][] = [];
  const codes = new Map<string, string>();
  let lines = 0;
  for (const { text, numeric, maxmind } of files)
    for (const line of text.split('\n')) {
      if (++lines % linesPerTurn === 0) yield;
      const [a, b, c] = line.replaceAll('"', '').trim().split(',');
      let first: IpNumber | undefined;
      let last: IpNumber | undefined;
      let cc: string | undefined;
      if (maxmind) {
        // The country of the network's users, else the country it is registered in (MaxMind leaves
        // the first empty for some networks, anycast and satellite ones among them).
        cc = (b && maxmind.get(b)) || (c && maxmind.get(c.trim())) || undefined;
        const net = a ? parseCidr(a) : undefined;
        if (!net || net instanceof Error) continue;
        first = { family: net.family, value: net.first } as IpNumber;
        last = { family: net.family, value: net.last } as IpNumber;
      } else {
        cc = c?.trim().toUpperCase();
        if (!a || !b) continue;
        first = numeric ? fromDecimal(a, numeric) : parseIp(a);
        last = numeric ? fromDecimal(b, numeric) : parseIp(b);
      }
      if (!cc || !COUNTRY.test(cc) || cc === 'ZZ') continue;
      if (!first || !last || first.family !== last.family || first.value > last.value) continue;
      // One string per code, not one per row.
      let code = codes.get(cc);
      if (code === undefined) {
        code = cc;
        codes.set(cc, cc);
      }
      if (first.family === 4) v4.push([first.value, last.value as number, code]);
      else v6.push([first.value, last.value as bigint, code]);
    }
  v4.sort((x, y) => x[0] - y[0]);
  v6.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const mask = (1n << 64n) - 1n;
  // The IPv6 halves in turns too: BigInt arithmetic over 350,000 rows takes a few hundred ms.
  const startHi = new BigUint64Array(v6.length);
  const startLo = new BigUint64Array(v6.length);
  const endHi = new BigUint64Array(v6.length);
  const endLo = new BigUint64Array(v6.length);
  for (let i = 0; i < v6.length; i++) {
    if ((i + 1) % linesPerTurn === 0) yield;
    const [start, end] = v6[i]!;
    startHi[i] = start >> 64n;
    startLo[i] = start & mask;
    endHi[i] = end >> 64n;
    endLo[i] = end & mask;
  }
  return new CountryTable(
    RangeTable.fromSorted(
      {
        starts: Uint32Array.from(v4, (r) => r[0]),
        ends: Uint32Array.from(v4, (r) => r[1]),
        values: v4.map((r) => r[2]),
      },
      { startHi, startLo, endHi, endLo, values: v6.map((r) => r[2]) },
    ),
  );
}

const DECIMAL = /^\d{1,39}$/;

function fromDecimal(text: string, family: 4 | 6): IpNumber | undefined {
  if (!DECIMAL.test(text)) return undefined;
  if (family === 4) {
    const value = Number(text);
    return value <= 0xffffffff ? { family, value } : undefined;
  }
  const value = BigInt(text);
  return value < 1n << 128n ? { family, value } : undefined;
}

/** The files shipped in the package, in their numeric form. */
export function shippedCountryFiles(): { path: string; numeric: 4 | 6 }[] {
  const require = createRequire(import.meta.url);
  return ([4, 6] as const).map((family) => ({
    path: require.resolve(`@ip-location-db/dbip-country/dbip-country-ipv${family}-num.csv`),
    numeric: family,
  }));
}

/**
 * What SESAME_GEOIP_COUNTRY_FILE names: a CSV of `first,last,CC` rows (DB-IP's IP to Country Lite),
 * or a folder holding MaxMind's GeoLite2 (or GeoIP2) Country CSV, as unzipped: its
 * `*-Blocks-IPv4.csv`, `*-Blocks-IPv6.csv` and `*-Locations-en.csv`.
 */
async function configuredFiles(file: string): Promise<CountryFile[]> {
  if (!(await fs.promises.stat(file)).isDirectory()) return [{ text: await fs.promises.readFile(file, 'utf8') }];
  const names = await fs.promises.readdir(file);
  const find = (suffix: string) => {
    const name = names.find((n) => n.endsWith(suffix));
    if (!name)
      throw new Error(
        `${file}: no *${suffix} (a MaxMind Country CSV folder has Blocks-IPv4, Blocks-IPv6 and Locations-en)`,
      );
    return path.join(file, name);
  };
  const ids = maxmindLocations(await fs.promises.readFile(find('-Locations-en.csv'), 'utf8'));
  return Promise.all(
    ['-Blocks-IPv4.csv', '-Blocks-IPv6.csv'].map(async (suffix) => ({
      text: await fs.promises.readFile(find(suffix), 'utf8'),
      maxmind: ids,
    })),
  );
}

/** Loads the table once, when first asked; `file` (SESAME_GEOIP_COUNTRY_FILE) replaces the shipped files. */
/**
 * Tables read in this process, by what they were read from: every context of the process (the
 * server's, a test's several) shares one, since parsing the shipped data costs a second or more of
 * CPU and the table never changes (a newer file is read at the next start).
 */
const loaded = new Map<string, Promise<CountryTable>>();

export class GeoIpCountries {
  constructor(private readonly file = '') {}

  table(): Promise<CountryTable> {
    const key = this.file || '(shipped)';
    let loading = loaded.get(key);
    if (!loading) {
      loading = (async () => {
        const files = this.file
          ? await configuredFiles(this.file)
          : await Promise.all(
              shippedCountryFiles().map(async (f) => ({
                text: await fs.promises.readFile(f.path, 'utf8'),
                numeric: f.numeric,
              })),
            );
        const t = await parseCountryCsvYielding(files);
        if (t.size === 0) throw new Error(`no country ranges in ${this.file || 'the shipped country files'}`);
        return t;
      })();
      loaded.set(key, loading);
      // A failed read is tried again at the next lookup rather than remembered.
      const mine = loading;
      loading.catch(() => {
        if (loaded.get(key) === mine) loaded.delete(key);
      });
    }
    return loading;
  }

  async country(ip: string): Promise<string | undefined> {
    return (await this.table()).country(ip);
  }
}
