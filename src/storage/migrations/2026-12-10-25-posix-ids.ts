/**
 * Frozen: the POSIX numbers (uidNumber, gidNumber) the LDAP directory serves for users and groups,
 * so a NAS or a Linux host maps files to the same owner for as long as the account lives
 * (issue #19, item 6). A number is given at the first directory read that needs it and never
 * given again: the row stays when its user or group is deleted (no foreign key), so a later
 * account can never inherit the files of an earlier one. `number` is unique on both stores.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('posix_ids')
    .addColumn('entity_id', 'text', (c) => c.primaryKey())
    .addColumn('number', 'bigint', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('posix_ids').execute();
}
