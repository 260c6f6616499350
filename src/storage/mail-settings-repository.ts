/** The organization's mail settings, one row per organization with the settings as JSON. */
import type { Kysely } from 'kysely';
import type { MailSettings, MailSettingsRepository } from '../domain/mail-settings/model.js';
import type { Database } from './schema.js';

export class KyselyMailSettingsRepository implements MailSettingsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async get(orgId: string): Promise<MailSettings | undefined> {
    const r = await this.db
      .selectFrom('mail_settings')
      .select(['settings', 'updated_at'])
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    if (!r) return undefined;
    const s = JSON.parse(r.settings) as Pick<MailSettings, 'servers' | 'userName'>;
    return { orgId, servers: s.servers, userName: s.userName, updatedAt: Number(r.updated_at) };
  }

  async save(s: MailSettings): Promise<void> {
    const fields = { settings: JSON.stringify({ servers: s.servers, userName: s.userName }), updated_at: s.updatedAt };
    await this.db
      .insertInto('mail_settings')
      .values({ org_id: s.orgId, ...fields })
      .onConflict((oc) => oc.column('org_id').doUpdateSet(fields))
      .execute();
  }

  async remove(orgId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('mail_settings').where('org_id', '=', orgId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
