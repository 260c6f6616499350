/**
 * The new-country decision (issue #20, item 3): an account's first country is its baseline, a
 * further one is news; an account used before the record existed gets its baseline from its
 * earlier addresses; the owner is told about a new address with its country, admins only when the
 * organization asks and only about a new country.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { User } from '../../src/domain/accounts/model.js';
import {
  type AccountCountryRepository,
  CountryWatch,
  type FirstUse,
  judgeCountry,
} from '../../src/domain/legacy/country-watch.js';
import { defaultPolicy } from '../../src/domain/mfa/model.js';

describe('judgeCountry', () => {
  it('no country: unknown, whatever was recorded', () => {
    assert.equal(judgeCountry(undefined, undefined), 'unknown');
    assert.equal(judgeCountry(undefined, { inserted: true, hadOthers: true }), 'unknown');
  });
  it('a country already on record is known', () => {
    assert.equal(judgeCountry('NL', { inserted: false, hadOthers: true }), 'known');
    assert.equal(judgeCountry('NL', { inserted: false, hadOthers: false }), 'known');
  });
  it("the account's first country is its baseline, not news", () => {
    assert.equal(judgeCountry('NL', { inserted: true, hadOthers: false }), 'baseline');
    assert.equal(judgeCountry('NL', { inserted: true, hadOthers: false }, new Set()), 'baseline');
  });
  it('a country beside others on record is new', () => {
    assert.equal(judgeCountry('US', { inserted: true, hadOthers: true }), 'new');
  });
  it('the first country on record, judged against the countries of earlier addresses', () => {
    assert.equal(judgeCountry('US', { inserted: true, hadOthers: false }, new Set(['NL'])), 'new');
    assert.equal(judgeCountry('NL', { inserted: true, hadOthers: false }, new Set(['NL', 'BE'])), 'known');
  });
});

/** An in-memory store of countries and earlier addresses, and the mails sent. */
function setup(o: { countries?: Record<string, string>; earlier?: string[]; notifyAdmins?: boolean } = {}) {
  const table: Record<string, string> = o.countries ?? { '145.100.0.1': 'NL', '145.100.0.2': 'NL', '8.8.8.8': 'US' };
  const rows = new Map<string, Set<string>>();
  const repo: AccountCountryRepository = {
    async record(userId, country) {
      const set = rows.get(userId) ?? new Set<string>();
      rows.set(userId, set);
      if (set.has(country)) return { inserted: false, hadOthers: true };
      const hadOthers = set.size > 0;
      set.add(country);
      return { inserted: true, hadOthers };
    },
    async recordAll(userId, countries) {
      const set = rows.get(userId) ?? new Set<string>();
      rows.set(userId, set);
      for (const c of countries) set.add(c);
    },
    async list(userId) {
      return [...(rows.get(userId) ?? [])];
    },
    async ipsBefore() {
      return o.earlier ?? [];
    },
  };
  const user = { id: 'u1', orgId: 'o1', address: 'bob@contoso.test', name: 'Bob', role: 'user' } as User;
  const admins = [
    { id: 'a1', orgId: 'o1', address: 'ada@contoso.test', name: 'Ada', role: 'admin' } as User,
    { id: 'u1', orgId: 'o1', address: 'bob@contoso.test', name: 'Bob', role: 'admin' } as User,
  ];
  const owner: { to: string; ip: string; country: string | undefined; isNew: boolean }[] = [];
  const admin: { to: string; country: string; user: string }[] = [];
  const policy = defaultPolicy('o1');
  policy.appPasswords.notifyAdminsNewCountry = o.notifyAdmins ?? false;
  const watch = new CountryWatch({
    countries: repo,
    accounts: {
      findUserByAddress: async (a) => (a === user.address ? user : undefined),
      listActiveAdmins: async () => admins,
    },
    policyOf: async () => policy,
    countryOf: async (ip) => table[ip],
    tellOwner: async (to, use, country, isNew) => {
      owner.push({ to, ip: use.ip, country, isNew });
    },
    tellAdmin: async (to, n) => {
      admin.push({ to, country: n.country, user: n.user.address });
    },
  });
  let at = 1_000;
  const use = (ip: string, newIp = true): Promise<string> =>
    watch.firstUse({
      appPasswordId: 'ap1',
      appPasswordName: 'Phone',
      address: user.address,
      ip,
      protocol: 'imap',
      at: at++,
      newIp,
    } satisfies FirstUse);
  return { use, owner, admin, rows };
}

describe('CountryWatch', () => {
  it('first country: baseline, told as a new address with its country, not as a new country', async () => {
    const s = setup({ notifyAdmins: true });
    assert.equal(await s.use('145.100.0.1'), 'baseline');
    assert.deepEqual(s.owner, [{ to: 'bob@contoso.test', ip: '145.100.0.1', country: 'NL', isNew: false }]);
    assert.deepEqual(s.admin, [], 'the baseline alarms nobody');
  });

  it('a second address in the same country is known; a second country is new', async () => {
    const s = setup();
    await s.use('145.100.0.1');
    assert.equal(await s.use('145.100.0.2'), 'known');
    assert.equal(s.owner[1]!.isNew, false);
    assert.equal(await s.use('8.8.8.8'), 'new');
    assert.deepEqual(s.owner[2], { to: 'bob@contoso.test', ip: '8.8.8.8', country: 'US', isNew: true });
    assert.equal(await s.use('8.8.8.8', false), 'known', 'the same country again (another instance) is not news');
    assert.equal(s.owner.length, 3, 'and an address already known to the app password is not mailed again');
  });

  it('an address with no country is recorded nowhere and told as a plain new address', async () => {
    const s = setup();
    assert.equal(await s.use('192.0.2.1'), 'unknown');
    assert.deepEqual(s.owner, [{ to: 'bob@contoso.test', ip: '192.0.2.1', country: undefined, isNew: false }]);
    assert.equal(s.rows.size, 0);
    assert.equal(await s.use('145.100.0.1'), 'baseline', 'the first country is still the baseline');
  });

  it('country data that cannot be read: no country, and the owner is still told of the new address', async () => {
    const s = setup({
      countries: new Proxy(
        {},
        {
          get: () => {
            throw new Error('no file');
          },
        },
      ),
    });
    assert.equal(await s.use('145.100.0.1'), 'unknown');
    assert.deepEqual(s.owner, [{ to: 'bob@contoso.test', ip: '145.100.0.1', country: undefined, isNew: false }]);
  });

  it('an account used before the record existed: its earlier addresses are its baseline', async () => {
    const fromUs = setup({ earlier: ['145.100.0.1', '192.0.2.1'] });
    assert.equal(await fromUs.use('8.8.8.8'), 'new', 'used from NL before, now from US');
    assert.deepEqual([...fromUs.rows.get('u1')!].sort(), ['NL', 'US']);
    const fromNl = setup({ earlier: ['145.100.0.2', '8.8.8.8'] });
    assert.equal(await fromNl.use('145.100.0.1'), 'known', 'NL was among the earlier countries');
  });

  it('admins are mailed about a new country only when the organization asks, never the owner twice', async () => {
    const off = setup({ notifyAdmins: false });
    await off.use('145.100.0.1');
    await off.use('8.8.8.8');
    assert.deepEqual(off.admin, []);
    const on = setup({ notifyAdmins: true });
    await on.use('145.100.0.1');
    await on.use('145.100.0.2');
    assert.deepEqual(on.admin, [], 'no new country yet');
    await on.use('8.8.8.8');
    assert.deepEqual(on.admin, [{ to: 'ada@contoso.test', country: 'US', user: 'bob@contoso.test' }]);
  });
});
