/**
 * The organization's mail settings: read, replaced, removed and checked by an admin of that
 * organization (or the operator's CLI). Every change is audited (`org.mail_settings`); a refused
 * change changes nothing. The check connects only to the saved settings, which the audit log
 * names, so what Sesame is made to connect to is on record.
 */
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import {
  MAIL_SERVICES,
  type MailServerProbe,
  type MailSettings,
  type MailSettingsInput,
  type MailSettingsRepository,
  type ServiceCheck,
  validateMailSettings,
} from './model.js';

export class MailSettingsService {
  constructor(
    private readonly repo: MailSettingsRepository,
    private readonly probe: MailServerProbe,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
  ) {}

  /** The settings, or null while the admin has given none. */
  async get(actor: Actor, orgId: string): Promise<MailSettings | null> {
    requireAdminOf(actor, orgId);
    return (await this.repo.get(orgId)) ?? null;
  }

  /**
   * What mail apps are told when they set themselves up (autoconfig.ts): the servers and the form
   * of the user name, for anyone who asks, so no actor; null while there are none.
   */
  async forApps(orgId: string): Promise<Pick<MailSettings, 'servers' | 'userName'> | null> {
    const s = await this.repo.get(orgId);
    return s ? { servers: s.servers, userName: s.userName } : null;
  }

  /** Replaces the settings with `input` (a service left out is not offered). */
  async set(actor: Actor, orgId: string, input: MailSettingsInput): Promise<MailSettings> {
    requireAdminOf(actor, orgId);
    const valid = validateMailSettings(input);
    const next: MailSettings = { orgId, ...valid, updatedAt: this.clock.now() };
    await this.repo.save(next);
    await this.record(actor, orgId, JSON.stringify({ servers: next.servers, userName: next.userName }));
    return next;
  }

  /** Removes the settings; whether there were any. */
  async clear(actor: Actor, orgId: string): Promise<boolean> {
    requireAdminOf(actor, orgId);
    const removed = await this.repo.remove(orgId);
    if (removed) await this.record(actor, orgId, 'removed');
    return removed;
  }

  /** Tries every saved service at once; `mail_settings_not_found` while there are none. */
  async check(actor: Actor, orgId: string): Promise<ServiceCheck[]> {
    const s = await this.get(actor, orgId);
    if (!s) throw new SesameError('mail_settings_not_found', `organization ${orgId} has no mail settings to check`);
    return Promise.all(
      MAIL_SERVICES.flatMap((service) => {
        const endpoint = s.servers[service];
        return endpoint ? [this.probe.probe(service, endpoint).then((r) => ({ service, endpoint, ...r }))] : [];
      }),
    );
  }

  private record(actor: Actor, orgId: string, detail: string) {
    return this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), { orgId, action: 'org.mail_settings', targetUserId: null, detail }),
    );
  }
}
