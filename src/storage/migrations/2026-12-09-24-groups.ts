/**
 * Frozen: groups of users per organization, their members, and which group an organization
 * requires for a use (app passwords, LDAP, RADIUS) or for an OIDC app (issue #19, item 1). A group's name is unique
 * per organization whatever its case (`name_key` holds the lower-cased name, so both stores
 * enforce it with a plain unique index). Members and groups go with their user and organization
 * (cascades). A limit names its group without a cascade: the domain refuses to delete a group a
 * limit uses, and a limit whose group were gone would let no one in (the verification read finds
 * no membership), never everyone.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_key', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('groups_org_name').on('groups').columns(['org_id', 'name_key']).unique().execute();
  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();
  // "Groups of a user" and the cascade from users.
  await db.schema.createIndex('group_members_user').on('group_members').column('user_id').execute();
  await db.schema
    .createTable('group_limits')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('use', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_limits_pk', ['org_id', 'use'])
    .execute();
  await db.schema.createIndex('group_limits_group').on('group_limits').column('group_id').execute();
  // The group an OIDC app requires; the row goes with its app.
  await db.schema
    .createTable('oidc_client_groups')
    .addColumn('client_id', 'text', (c) => c.primaryKey().references('oidc_clients.id').onDelete('cascade'))
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('oidc_client_groups_group').on('oidc_client_groups').column('group_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('oidc_client_groups').execute();
  await db.schema.dropTable('group_limits').execute();
  await db.schema.dropTable('group_members').execute();
  await db.schema.dropTable('groups').execute();
}
