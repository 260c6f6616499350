/**
 * Location rules and pins (issue #20, item 2) without a store: what an admin may write, what a
 * compiled rule set decides for an address (networks, countries, IPv4 and IPv6, an address the
 * data does not place, something that is no address), and the gate's cache: compiled once per
 * version, answered without a promise once compiled, recompiled when the version moves.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocationGate, type LocationRulesStore } from '../../src/domain/locations/gate.js';
import type { NamedLocation } from '../../src/domain/locations/model.js';
import { compileRules, type LocationRule, normalizePin, normalizeRules } from '../../src/domain/locations/rules.js';
import { isSesameError } from '../../src/domain/errors.js';
import { GeoIpCountries } from '../../src/adapters/geoip/countries.js';

const loc = (id: string, networks: string[], countries: string[] = []): NamedLocation => ({
  id,
  orgId: 'o',
  name: id,
  networks,
  countries,
  createdAt: 0,
  updatedAt: 0,
});

const OFFICE = loc('office', ['192.0.2.0/24', '2001:db8:1::/48']);
const SCANNER = loc('scanner', ['10.0.4.17/32']);
const NL = loc('nl', [], ['NL']);
const LOCATIONS = [OFFICE, SCANNER, NL];
const IDS = new Set(LOCATIONS.map((l) => l.id));

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (isSesameError(e)) return e.messageId.replace(/^error\./, '');
    throw e;
  }
  return 'none';
};

describe('location rules as an admin writes them', () => {
  it('keeps good rules in a stable order, with locations only for `locations` mode', () => {
    const rules = normalizeRules(
      [
        { protocol: 'SMTP', mode: 'never' },
        { protocol: 'imap', groupId: 'g1', mode: 'anywhere', locationIds: ['office'] },
        { protocol: 'imap', mode: 'locations', locationIds: ['nl', 'office', 'nl'] },
      ],
      IDS,
      new Set(['g1']),
    );
    assert.deepEqual(rules, [
      { protocol: 'imap', groupId: null, mode: 'locations', locationIds: ['nl', 'office'] },
      { protocol: 'imap', groupId: 'g1', mode: 'anywhere', locationIds: [] },
      { protocol: 'smtp', groupId: null, mode: 'never', locationIds: [] },
    ]);
  });

  it('refuses, naming the fault, rather than drop a rule', () => {
    const groups = new Set(['g1']);
    const one = (r: { protocol: string; groupId?: string | null; mode: string; locationIds?: string[] }) =>
      codeOf(() => normalizeRules([r], IDS, groups));
    assert.equal(one({ protocol: 'ftp', mode: 'never' }), 'location_rule_invalid.protocol');
    assert.equal(one({ protocol: 'imap', mode: 'sometimes' }), 'location_rule_invalid.mode');
    assert.equal(one({ protocol: 'imap', groupId: 'g2', mode: 'never' }), 'location_rule_invalid.group');
    assert.equal(one({ protocol: 'imap', mode: 'locations' }), 'location_rule_invalid.no_locations');
    assert.equal(one({ protocol: 'imap', mode: 'locations', locationIds: ['elsewhere'] }), 'location_not_found');
    assert.equal(
      codeOf(() =>
        normalizeRules(
          [
            { protocol: 'imap', mode: 'never' },
            { protocol: 'IMAP', mode: 'anywhere' },
          ],
          IDS,
          groups,
        ),
      ),
      'location_rule_invalid.duplicate',
    );
  });

  it('takes a pin of locations and one network; a host address with a prefix is refused, not widened', () => {
    assert.deepEqual(normalizePin({ network: '10.0.4.17' }, IDS), { locationIds: [], network: '10.0.4.17/32' });
    assert.deepEqual(normalizePin({ locationIds: ['office'], network: ' 2001:DB8::/32 ' }, IDS), {
      locationIds: ['office'],
      network: '2001:db8::/32',
    });
    assert.equal(normalizePin({ locationIds: [], network: '' }, IDS), null);
    assert.equal(
      codeOf(() => normalizePin({ network: '10.0.4.17/24' }, IDS)),
      'location_network_invalid',
    );
    assert.equal(
      codeOf(() => normalizePin({ locationIds: ['gone'] }, IDS)),
      'location_not_found',
    );
  });
});

describe('compiled rules', async () => {
  const table = await new GeoIpCountries().table();
  const countryOf = (ip: Parameters<typeof table.country>[0]) => table.country(ip);
  const compile = (rules: LocationRule[]) => compileRules(rules, LOCATIONS, countryOf);
  const rule = (
    protocol: LocationRule['protocol'],
    mode: LocationRule['mode'],
    ids: string[] = [],
    groupId = null as string | null,
  ) => ({
    protocol,
    groupId,
    mode,
    locationIds: ids,
  });

  it('allows every protocol from anywhere without rules', () => {
    const c = compile([]);
    for (const ip of ['8.8.8.8', '2001:200::1', '192.0.2.9', 'not an address', ''])
      assert.equal(c.allows('imap', ip), true, ip);
  });

  it('`locations`: a network or a country of the rule, IPv4, IPv6 and mapped; not elsewhere, not unknown, not garbage', () => {
    const c = compile([rule('imap', 'locations', ['office', 'nl'])]);
    assert.equal(c.allows('imap', '192.0.2.77'), true, 'office network');
    assert.equal(c.allows('imap', '2001:db8:1:2::5'), true, 'office IPv6');
    assert.equal(c.allows('imap', '193.0.6.139'), true, 'an address in the Netherlands');
    assert.equal(c.allows('imap', '::ffff:193.0.6.139'), true, 'the same, IPv4-mapped');
    assert.equal(c.allows('imap', '2001:67c:2e8:22::c100:68b'), true, 'an IPv6 address in the Netherlands');
    assert.equal(c.allows('imap', '8.8.8.8'), false, 'the United States');
    assert.equal(c.allows('imap', '2001:200::1'), false, 'Japan, IPv6');
    assert.equal(c.allows('imap', '198.51.100.7'), false, 'documentation range: no country, no network');
    assert.equal(c.allows('imap', '2001:db8:2::1'), false, 'outside the office /48');
    assert.equal(c.allows('imap', 'unknown'), false, 'no address: refused, not waved through');
    assert.equal(c.allows('smtp', '8.8.8.8'), true, 'another protocol without a rule');
  });

  it('`never` refuses everywhere, the office too', () => {
    const c = compile([rule('pop3', 'never')]);
    assert.equal(c.allows('pop3', '192.0.2.1'), false);
    assert.equal(c.allows('imap', '192.0.2.1'), true);
  });

  it("a group's rule replaces the organization's for its members; several groups: any of them allows", () => {
    const c = compile([
      rule('imap', 'locations', ['office']),
      rule('imap', 'anywhere', [], 'travel'),
      rule('imap', 'never', [], 'contractors'),
      rule('imap', 'locations', ['nl'], 'dutch'),
    ]);
    assert.deepEqual([...c.groupsFor('imap')].sort(), ['contractors', 'dutch', 'travel']);
    assert.deepEqual(c.groupsFor('smtp'), []);
    assert.equal(c.allows('imap', '8.8.8.8'), false, 'no group: the organization’s rule');
    assert.equal(c.allows('imap', '8.8.8.8', new Set(['travel'])), true);
    assert.equal(c.allows('imap', '192.0.2.1', new Set(['contractors'])), false, 'never, even from the office');
    assert.equal(c.allows('imap', '8.8.8.8', new Set(['contractors', 'travel'])), true, 'any of them');
    assert.equal(c.allows('imap', '193.0.6.139', new Set(['dutch'])), true);
    assert.equal(c.allows('imap', '192.0.2.1', new Set(['dutch'])), false, 'the group rule, not the office');
  });

  it('a pin: its network or its locations, nothing else', () => {
    const c = compile([]);
    const scanner = { locationIds: [], network: '10.0.4.17/32' };
    assert.equal(c.pinAllows(scanner, '10.0.4.17'), true);
    assert.equal(c.pinAllows(scanner, '10.0.4.18'), false);
    assert.equal(c.pinAllows(scanner, 'garbage'), false);
    const both = { locationIds: ['nl'], network: '2001:db8:9::/48' };
    assert.equal(c.pinAllows(both, '2001:db8:9::1'), true);
    assert.equal(c.pinAllows(both, '193.0.6.139'), true);
    assert.equal(c.pinAllows(both, '81.169.145.1'), false, 'Germany');
  });
});

describe('the location gate', () => {
  /** A store whose rules the test changes, counting reads. */
  function fakeStore(rules: LocationRule[]) {
    const state = { version: 1, rules, loads: 0 };
    const store: LocationRulesStore = {
      async load() {
        state.loads++;
        return { version: state.version, rules: state.rules, locations: LOCATIONS };
      },
      async version() {
        return state.version;
      },
    };
    return { state, store };
  }
  const q = (version: number, ip: string, extra: object = {}) => ({
    orgId: 'o',
    userId: 'u',
    protocol: 'imap' as const,
    version,
    ip,
    pin: null,
    ...extra,
  });

  it('answers without a promise when there are no rules and no pin, and once the version is compiled', async () => {
    const { state, store } = fakeStore([
      { protocol: 'imap', groupId: null, mode: 'locations', locationIds: ['office'] },
    ]);
    const gate = new LocationGate(
      store,
      async () => () => undefined,
      async () => new Set(),
    );
    assert.equal(gate.allows(q(0, '8.8.8.8')), true, 'no rules: no read at all');
    assert.equal(state.loads, 0);
    const first = gate.allows(q(1, '192.0.2.5'));
    assert.ok(first instanceof Promise, 'compiled at the first attempt');
    assert.equal(await first, true);
    assert.equal(gate.allows(q(1, '192.0.2.5')), true, 'then synchronous');
    assert.equal(gate.allows(q(1, '203.0.113.5')), false);
    assert.equal(state.loads, 1, 'compiled once');
  });

  it('reads again when the version the store gives moves (another instance changed a rule)', async () => {
    const { state, store } = fakeStore([{ protocol: 'imap', groupId: null, mode: 'never', locationIds: [] }]);
    const gate = new LocationGate(
      store,
      async () => () => undefined,
      async () => new Set(),
    );
    assert.equal(await gate.allows(q(1, '192.0.2.5')), false);
    state.version = 2;
    state.rules = [];
    assert.equal(await gate.allows(q(2, '192.0.2.5')), true, 'the change, at the next attempt');
    assert.equal(state.loads, 2);
    assert.equal(gate.allows(q(2, '192.0.2.5')), true);
    assert.equal(await gate.allowsNow({ orgId: 'o', userId: 'u', protocol: 'imap', ip: '8.8.8.8' }), true);
  });

  it('asks for groups only when a group rule decides the protocol; a failed read is tried again', async () => {
    const { state, store } = fakeStore([{ protocol: 'imap', groupId: 'travel', mode: 'anywhere', locationIds: [] }]);
    let asked = 0;
    let failing = true;
    const gate = new LocationGate(
      {
        ...store,
        async load(orgId) {
          if (failing) throw new Error('store down');
          return store.load(orgId);
        },
      },
      async () => () => undefined,
      async (_u, ids) => {
        asked++;
        return new Set(ids);
      },
    );
    await assert.rejects(async () => gate.allows(q(1, '8.8.8.8')), /store down/);
    failing = false;
    assert.equal(await gate.allows(q(1, '8.8.8.8')), true, 'a member of travel');
    assert.equal(asked, 1);
    assert.equal(await gate.allows(q(1, '8.8.8.8', { protocol: 'smtp' })), true);
    assert.equal(asked, 1, 'no group rule for SMTP: no read');
    assert.equal(state.loads, 1);
  });

  it('applies a pin even when the organization has no rules', async () => {
    const { store } = fakeStore([]);
    const gate = new LocationGate(
      store,
      async () => () => undefined,
      async () => new Set(),
    );
    const pin = { locationIds: [], network: '10.0.4.17/32' };
    assert.equal(await gate.allows(q(0, '10.0.4.17', { pin })), true);
    assert.equal(await gate.allows(q(0, '10.0.4.99', { pin })), false);
  });
});
