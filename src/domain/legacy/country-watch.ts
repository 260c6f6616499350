/**
 * The countries each account has been used from on legacy protocols (issue #20, item 3): a first
 * use from a country the account has never been used from is told in stronger words than a new
 * address, to the owner and, when the organization asks for it, to its admins.
 *
 * The first country an account is ever recorded from is its baseline, not news: every account
 * has a first use, and an alarm on each would teach people to ignore the alarm. An account used
 * before this record existed gets its baseline from the addresses its app passwords were used
 * from until then (app_password_ips), when its first country is recorded: so the first use after
 * an upgrade from a country it had never been used from is still news.
 *
 * Runs after the answer (LegacyVerifier.afterUse), once per app password and address per instance.
 */
import type { AccountRepository } from '../accounts/repository.js';
import type { User } from '../accounts/model.js';
import type { OrgPolicy } from '../mfa/model.js';

export interface AccountCountryRepository {
  /**
   * Records that the account was used from `country` unless it already was (insert if absent).
   * `inserted`: it was not on record; `hadOthers`: the account had another country on record.
   */
  record(userId: string, country: string, at: number): Promise<{ inserted: boolean; hadOthers: boolean }>;
  /** Records several countries at once, each unless already recorded (the baseline). */
  recordAll(userId: string, countries: readonly string[], at: number): Promise<void>;
  /** The account's countries, in the order first seen. */
  list(userId: string): Promise<string[]>;
  /** Addresses the account's app passwords were first used from before `before` (newest first, at most `limit`). */
  ipsBefore(userId: string, before: number, limit: number): Promise<string[]>;
}

/**
 * What a use's country means for the account:
 *   unknown   no country for the address (private, special-use, not in the data): nothing recorded
 *   known     the account has been used from this country before
 *   baseline  the account's first country ever: recorded, not alarming
 *   new       a country the account has never been used from, while it has been used from another
 */
export type CountryNews = 'unknown' | 'known' | 'baseline' | 'new';

/**
 * The decision, apart from the store: `recorded` is what recording the country said, `earlier`
 * the countries of the account's earlier addresses (asked only when this is its first country).
 */
export function judgeCountry(
  country: string | undefined,
  recorded: { inserted: boolean; hadOthers: boolean } | undefined,
  earlier: ReadonlySet<string> = new Set(),
): CountryNews {
  if (country === undefined || recorded === undefined) return 'unknown';
  if (!recorded.inserted) return 'known';
  if (recorded.hadOthers) return 'new';
  if (earlier.size === 0) return 'baseline';
  return earlier.has(country) ? 'known' : 'new';
}

/** How many earlier addresses the baseline is built from, at most (the newest). */
const BASELINE_IPS = 1000;

export interface FirstUse {
  appPasswordId: string;
  appPasswordName: string;
  /** The owner's canonical address. */
  address: string;
  ip: string;
  protocol: string;
  at: number;
  /** Whether this app password had never been used from this address (`recordIp` said so). */
  newIp: boolean;
}

export interface NewCountryAdminNotice {
  user: { address: string; name: string };
  appPasswordName: string;
  ip: string;
  country: string;
  protocol: string;
  at: number;
}

export interface CountryWatchDeps {
  countries: AccountCountryRepository;
  accounts: Pick<AccountRepository, 'findUserByAddress' | 'listActiveAdmins'>;
  policyOf: (orgId: string) => Promise<OrgPolicy>;
  /** The country of an address (the offline table), undefined when none. */
  countryOf: (ip: string) => Promise<string | undefined>;
  /** The owner's mail: a new address, and whether its country is new (`country` undefined: none known). */
  tellOwner: (to: string, use: FirstUse, country: string | undefined, newCountry: boolean) => Promise<void>;
  tellAdmin: (to: string, notice: NewCountryAdminNotice) => Promise<void>;
  /** Told when the country data cannot be read (the use is then judged as from no country). */
  onCountryError?: (e: unknown) => void;
}

export class CountryWatch {
  constructor(private readonly d: CountryWatchDeps) {}

  /** Records the use's country and sends what it calls for; returns what the country meant. */
  async firstUse(use: FirstUse): Promise<CountryNews> {
    const country = await this.countryOf(use.ip);
    const user = country === undefined ? undefined : await this.d.accounts.findUserByAddress(use.address);
    const news = user && country ? await this.judge(user, country, use.at) : 'unknown';
    if (use.newIp || news === 'new') await this.d.tellOwner(use.address, use, country, news === 'new');
    if (news === 'new' && user && country && (await this.d.policyOf(user.orgId)).appPasswords.notifyAdminsNewCountry) {
      const notice = {
        user: { address: user.address, name: user.name },
        appPasswordName: use.appPasswordName,
        ip: use.ip,
        country,
        protocol: use.protocol,
        at: use.at,
      };
      // The owner got their own mail; an admin who is the owner need not get a second one.
      for (const admin of await this.d.accounts.listActiveAdmins(user.orgId))
        if (admin.id !== user.id) await this.d.tellAdmin(admin.address, notice);
    }
    return news;
  }

  /** No country data (a file that cannot be read) means no country: the new-address notice still goes out. */
  private async countryOf(ip: string): Promise<string | undefined> {
    try {
      return await this.d.countryOf(ip);
    } catch (e) {
      this.d.onCountryError?.(e);
      return undefined;
    }
  }

  private async judge(user: User, country: string, at: number): Promise<CountryNews> {
    const recorded = await this.d.countries.record(user.id, country, at);
    if (!recorded.inserted || recorded.hadOthers) return judgeCountry(country, recorded);
    // The account's first country on record: its earlier addresses are its baseline.
    const earlier = new Set<string>();
    for (const ip of await this.d.countries.ipsBefore(user.id, at, BASELINE_IPS)) {
      const c = await this.countryOf(ip);
      if (c !== undefined) earlier.add(c);
    }
    if (earlier.size) await this.d.countries.recordAll(user.id, [...earlier], at);
    return judgeCountry(country, recorded, earlier);
  }
}
