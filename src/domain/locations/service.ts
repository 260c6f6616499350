/**
 * Admins' named locations: list, create, change, delete. Every change is audited (`location.*`).
 * Nothing uses them yet: the rules that will (issue #20, item 2) read the list and compile it
 * (matcher.ts).
 */
import { randomUUID } from 'node:crypto';
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import { type NamedLocation, type NamedLocationRepository, normalizeLocation, normalizeLocationName } from './model.js';

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
    const name = before.name === l.name ? l.name : `${before.name} -> ${l.name}`;
    await this.record(actor, orgId, 'location.update', `${name}: ${describe(l)}`);
    return l;
  }

  async remove(actor: Actor, orgId: string, id: string): Promise<NamedLocation> {
    const l = await this.get(actor, orgId, id);
    await this.repo.remove(id);
    await this.record(actor, orgId, 'location.delete', l.name);
    return l;
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
