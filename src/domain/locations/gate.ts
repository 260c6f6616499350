/**
 * The location check of every legacy endpoint (issue #20, item 2): whether the client address may
 * use a protocol, by the organization's rules and the app password's pin. Each organization's rules
 * are compiled once per version and kept: the verification read carries the version the store holds
 * now, so a change made on any instance (or by the CLI) is seen at the next attempt everywhere,
 * and an attempt whose version is cached costs no await (see LegacyVerifier.verify).
 */
import { parseIp } from '../../lib/ip.js';
import type { AppPasswordPin, Protocol } from '../app-passwords/model.js';
import type { CountryOf } from './matcher.js';
import type { NamedLocation } from './model.js';
import { type CompiledLocationRules, compileRules, type LocationRule } from './rules.js';

export interface LocationRulesStore {
  /** The organization's rules, its locations and the version they were read at (0: never written). */
  load(orgId: string): Promise<{ version: number; rules: LocationRule[]; locations: NamedLocation[] }>;
  /** The version only (0: never written): for checks whose read did not carry it (main passwords). */
  version(orgId: string): Promise<number>;
}

export interface LocationQuestion {
  orgId: string;
  /** The version the verification read saw (null or 0: the organization never wrote rules). */
  version: number | null;
  userId: string;
  protocol: Protocol;
  ip: string;
  pin: AppPasswordPin | null;
}

/** Kept per organization; a few hundred bytes plus its ranges each. */
const ORGS_MAX = 10_000;

export class LocationGate {
  /**
   * Per organization: the rules being compiled at a version, and once compiled the result itself
   * (`done`), which the synchronous path answers from.
   */
  private readonly compiled = new Map<
    string,
    { version: number; rules: Promise<CompiledLocationRules>; done?: CompiledLocationRules }
  >();

  constructor(
    private readonly store: LocationRulesStore,
    /** The country table, loaded at the first rule that names a country. */
    private readonly countries: () => Promise<CountryOf>,
    /** Which of these groups the user is in, read now (group rules). */
    private readonly memberships: (userId: string, groupIds: readonly string[]) => Promise<ReadonlySet<string>>,
  ) {}

  /**
   * True when allowed. Synchronous when the organization has no rules and the app password no pin
   * (the common case), or when its rules are compiled at this version and need no group read.
   */
  allows(q: LocationQuestion): boolean | Promise<boolean> {
    if (!q.version && !q.pin) return true;
    const held = this.compiled.get(q.orgId);
    if (held?.done && held.version === (q.version ?? 0)) return this.decide(held.done, q);
    return this.rulesAt(q.orgId, q.version ?? 0).then((rules) => this.decide(rules, q));
  }

  /** allows() for a check whose read did not carry the version (a main password): one more read. */
  async allowsNow(q: Omit<LocationQuestion, 'version' | 'pin'>): Promise<boolean> {
    return this.allows({ ...q, pin: null, version: await this.store.version(q.orgId) });
  }

  private decide(rules: CompiledLocationRules, q: LocationQuestion): boolean | Promise<boolean> {
    // Parsed once for the pin and the rule.
    const ip = parseIp(q.ip);
    if (q.pin && !rules.pinAllows(q.pin, ip)) return false;
    const groups = rules.groupsFor(q.protocol);
    if (groups.length === 0) return rules.allows(q.protocol, ip);
    return this.memberships(q.userId, groups).then((mine) => rules.allows(q.protocol, ip, mine));
  }

  /**
   * The rules at `version` or newer. A read that finds an older version than the attempt's (another
   * instance wrote between the two reads of a replica) is not possible on one store; a newer one is
   * kept, and the next attempt with the older version reads again rather than go back.
   */
  private rulesAt(orgId: string, version: number): Promise<CompiledLocationRules> {
    const held = this.compiled.get(orgId);
    if (held && held.version >= version) return held.rules;
    const compile = async () => {
      const loaded = await this.store.load(orgId);
      const usesCountries = loaded.locations.some((l) => l.countries.length > 0);
      const rules = compileRules(loaded.rules, loaded.locations, usesCountries ? await this.countries() : undefined);
      entry.version = loaded.version;
      entry.done = rules;
      return rules;
    };
    const entry: { version: number; rules: Promise<CompiledLocationRules>; done?: CompiledLocationRules } = {
      version,
      rules: compile(),
    };
    if (this.compiled.size >= ORGS_MAX) this.compiled.clear();
    this.compiled.set(orgId, entry);
    // A failed read (the store down) is tried again at the next attempt, not remembered.
    entry.rules.catch(() => {
      if (this.compiled.get(orgId) === entry) this.compiled.delete(orgId);
    });
    return entry.rules;
  }
}
