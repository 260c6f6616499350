/**
 * Frozen: the verification epoch (issue #21, item 1). One row, `verify_epoch.n`, that triggers
 * raise in the same transaction as any change that can alter the answer to "is this app password
 * good for this user, here?": the app password itself (deleted, rehashed, renamed, its protocols,
 * expiry or pin changed), its owner (status, MFA state, address, name, organization, deleted), the
 * organization's policy, the groups it requires and their members, and the location rules (which
 * every change to a named location raises too). Not its last use, the sign-in log, the counters or
 * the countries seen: those change all the time and decide nothing a good app password is asked.
 * On PostgreSQL the triggers NOTIFY `sesame_verify` instead, delivered at commit to every instance
 * listening (and collapsed to one per transaction). They do not raise the row there: every change
 * would then queue on that one row's lock until its commit, and two transactions that change
 * watched tables in different orders could deadlock. A process may keep good answers in memory
 * while the epoch it read them at holds (SQLite), or while its listening connection is healthy
 * and has heard nothing (PostgreSQL).
 */
import { CompiledQuery, type Kysely, PostgresAdapter } from 'kysely';

/** Table, the event and (for updates) the columns that can change an answer. */
const WATCHED: [table: string, event: string, columns?: string][] = [
  ['app_passwords', 'DELETE'],
  [
    'app_passwords',
    'UPDATE',
    'hash, user_id, name, protocols, expires_at, created_at, pinned_locations, pinned_network',
  ],
  ['users', 'DELETE'],
  ['users', 'UPDATE', 'address, name, status, mfa_state, org_id, role'],
  ['org_policies', 'INSERT'],
  ['org_policies', 'UPDATE'],
  ['org_policies', 'DELETE'],
  ['group_limits', 'INSERT'],
  ['group_limits', 'UPDATE'],
  ['group_limits', 'DELETE'],
  ['group_members', 'INSERT'],
  ['group_members', 'DELETE'],
  ['location_policies', 'INSERT'],
  ['location_policies', 'UPDATE'],
  ['location_policies', 'DELETE'],
];

const name = (table: string, event: string) => `verify_epoch_${table}_${event.toLowerCase()}`;

export async function up(db: Kysely<unknown>): Promise<void> {
  const run = (text: string) => db.executeQuery(CompiledQuery.raw(text));
  await db.schema
    .createTable('verify_epoch')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('n', 'bigint', (c) => c.notNull())
    .execute();
  await run('INSERT INTO verify_epoch (id, n) VALUES (1, 1)');
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    // Once per statement, not per row; identical notifications of one transaction are sent once.
    await run(`CREATE FUNCTION sesame_verify_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sesame_verify', '');
  RETURN NULL;
END $$`);
    for (const [table, event, columns] of WATCHED)
      await run(
        `CREATE TRIGGER ${name(table, event)} AFTER ${event}${columns ? ` OF ${columns}` : ''} ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION sesame_verify_epoch()`,
      );
  } else {
    // SQLite has row triggers only; a bulk change raises it once per row, which costs a page write each.
    for (const [table, event, columns] of WATCHED)
      await run(
        `CREATE TRIGGER ${name(table, event)} AFTER ${event}${columns ? ` OF ${columns}` : ''} ON ${table} BEGIN UPDATE verify_epoch SET n = n + 1 WHERE id = 1; END`,
      );
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  const run = (text: string) => db.executeQuery(CompiledQuery.raw(text));
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  for (const [table, event] of WATCHED)
    await run(`DROP TRIGGER IF EXISTS ${name(table, event)}${pg ? ` ON ${table}` : ''}`);
  if (pg) await run('DROP FUNCTION IF EXISTS sesame_verify_epoch()');
  await db.schema.dropTable('verify_epoch').execute();
}
