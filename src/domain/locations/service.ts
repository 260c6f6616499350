/**
 * Admins' named locations and the rules that use them: list, create, change, delete; read and
 * replace the organization's rules. Every change is audited (`location.*`) and raises the version
 * the location gate (gate.ts) compiles at, so every instance applies it at the next attempt.
 */
import { randomUUID } from 'node:crypto';
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import { type NamedLocation, type NamedLocationRepository, normalizeLocation, normalizeLocationName } from './model.js';
import { type LocationRule, normalizePin, normalizeRules } from './rules.js';

/** A rule as an admin writes it (API, CLI, page): location ids, or names for the CLI. */
export interface RuleInput {
  protocol: string;
  groupId?: string | null;
  mode: string;
  locationIds?: readonly string[];
}

export interface LocationInput {
  name: string;
  networks: readonly string[];
  countries: readonly string[];
}

export class NamedLocations {
  constructor(
    private readonly repo: NamedLocationRepository,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
    /** The ids of the organization's groups (rules may name one). */
    private readonly groupIds: (orgId: string) => Promise<ReadonlySet<string>> = async () => new Set(),
    /**
     * After a change that may narrow where app passwords work (rules saved, a location changed or
     * deleted): mail servers are told to forget cached answers (`policy_narrowed`, app/consequences.ts).
     */
    private readonly narrowed: (orgId: string) => Promise<void> = async () => undefined,
  ) {}

  async list(actor: Actor, orgId: string): Promise<NamedLocation[]> {
    requireAdminOf(actor, orgId);
    return this.repo.list(orgId);
  }

  /** A location of the organization by id; `location_not_found` for one of another organization too. */
  async get(actor: Actor, orgId: string, id: string): Promise<NamedLocation> {
    requireAdminOf(actor, orgId);
    const l = await this.repo.get(id);
    if (!l || l.orgId !== orgId)
      throw new SesameError('location_not_found', `no location ${id} in organization ${orgId}`);
    return l;
  }

  /** A location of the organization by name (any case). */
  async byName(actor: Actor, orgId: string, nameRaw: string): Promise<NamedLocation> {
    requireAdminOf(actor, orgId);
    const name = normalizeLocationName(nameRaw);
    const l = await this.repo.byName(orgId, name);
    if (!l) throw new SesameError('location_not_found', `no location ${name} in organization ${orgId}`);
    return l;
  }

  async create(actor: Actor, orgId: string, input: LocationInput): Promise<NamedLocation> {
    requireAdminOf(actor, orgId);
    const now = this.clock.now();
    const l: NamedLocation = { id: randomUUID(), orgId, ...normalizeLocation(input), createdAt: now, updatedAt: now };
    if (!(await this.repo.create(l)))
      throw new SesameError('location_exists', `organization ${orgId} has a location ${l.name}`, {
        params: { name: l.name },
      });
    await this.repo.touch(orgId, now);
    await this.record(actor, orgId, 'location.create', `${l.name}: ${describe(l)}`);
    return l;
  }

  /** Replaces a location's name, networks and countries. */
  async update(actor: Actor, orgId: string, id: string, input: LocationInput): Promise<NamedLocation> {
    const before = await this.get(actor, orgId, id);
    const l: NamedLocation = { ...before, ...normalizeLocation(input), updatedAt: this.clock.now() };
    if (!(await this.repo.update(l)))
      throw new SesameError('location_exists', `organization ${orgId} has a location ${l.name}`, {
        params: { name: l.name },
      });
    await this.repo.touch(orgId, l.updatedAt);
    const name = before.name === l.name ? l.name : `${before.name} -> ${l.name}`;
    await this.record(actor, orgId, 'location.update', `${name}: ${describe(l)}`);
    await this.narrowed(orgId);
    return l;
  }

  /**
   * Deletes a location that no rule and no app password uses (`location_in_use` otherwise): a rule
   * or pin left naming nothing would refuse everyone, or, dropped, allow everyone.
   */
  async remove(actor: Actor, orgId: string, id: string): Promise<NamedLocation> {
    const l = await this.get(actor, orgId, id);
    const rules = (await this.repo.rules(orgId)).rules.filter((r) => r.locationIds.includes(id)).length;
    const pins = await this.repo.pinnedTo(id);
    if (rules || pins)
      throw new SesameError('location_in_use', `location ${l.name} is used by ${rules} rules and ${pins} pins`, {
        params: { name: l.name, rules, pins },
      });
    await this.repo.remove(id);
    await this.repo.touch(orgId, this.clock.now());
    await this.record(actor, orgId, 'location.delete', l.name);
    return l;
  }

  /** The organization's rules (none until an admin writes some: every protocol from anywhere). */
  async rules(actor: Actor, orgId: string): Promise<LocationRule[]> {
    requireAdminOf(actor, orgId);
    const { rules } = await this.repo.rules(orgId);
    if (!rules.some((r) => r.groupId !== null)) return rules;
    // A deleted group's rules are shown no more (they could match no member), so that a page or
    // CLI that saves what it read is not refused for a group that is gone.
    const groups = await this.groupIds(orgId);
    return rules.filter((r) => r.groupId === null || groups.has(r.groupId));
  }

  /** Replaces the organization's rules, all checked first: one bad rule changes nothing. */
  async setRules(actor: Actor, orgId: string, input: readonly RuleInput[]): Promise<LocationRule[]> {
    requireAdminOf(actor, orgId);
    const locations = await this.repo.list(orgId);
    const rules = normalizeRules(input, new Set(locations.map((l) => l.id)), await this.groupIds(orgId));
    await this.repo.saveRules(orgId, rules, this.clock.now());
    const names = new Map(locations.map((l) => [l.id, l.name]));
    const detail = rules
      .map(
        (r) =>
          `${r.protocol}${r.groupId ? `@${r.groupId}` : ''}=${r.mode}${r.locationIds.length ? `(${r.locationIds.map((id) => names.get(id)).join(',')})` : ''}`,
      )
      .join(' ');
    await this.record(actor, orgId, 'location.rules', detail || 'none: every protocol from anywhere');
    await this.narrowed(orgId);
    return rules;
  }

  /** A pin checked against the organization's locations (normalizePin), for app passwords. */
  async pinFor(orgId: string, raw: { locationIds?: readonly string[]; network?: string | null } | null) {
    if (!raw) return null;
    const ids = raw.locationIds?.length ? new Set((await this.repo.list(orgId)).map((l) => l.id)) : new Set<string>();
    return normalizePin(raw, ids);
  }

  /** The organization's locations for a user choosing a pin (names only matter to them); no admin right needed. */
  async choicesFor(orgId: string): Promise<Pick<NamedLocation, 'id' | 'name'>[]> {
    return (await this.repo.list(orgId)).map((l) => ({ id: l.id, name: l.name }));
  }

  private async record(actor: Actor, orgId: string, action: string, detail: string): Promise<void> {
    await this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), { orgId, action, targetUserId: null, detail: detail.slice(0, 4000) }),
    );
  }
}

/** What the audit log says a location holds. */
function describe(l: Pick<NamedLocation, 'networks' | 'countries'>): string {
  return [...l.networks, ...l.countries].join(' ');
}
