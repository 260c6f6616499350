/**
 * `sesame retention [--apply]`, run for real (bin/sesame.js in a child process) on both stores:
 * it shows what each rule would remove without removing it, --apply removes exactly that and
 * records one audit row, and the configured number of days is the rule.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin/sesame.js');
const DAY = 86_400_000;

function sesame(store: TestStore, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        SESAME_DATA_DIR: store.dataDir,
        DATABASE_URL: store.databaseUrl,
        LOG_LEVEL: 'silent',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

for (const kind of STORE_KINDS) {
  describe(`sesame retention on ${kind}`, () => {
    let ts: TestStore;
    let store: Store;
    before(async () => {
      ts = await makeTestStore(kind);
      store = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
      await migrateToLatest(store.db);
      const now = Date.now();
      // 5 sign-in rows 100 days old, 3 from today; 2 audit rows 400 days old, 1 from today; 4 long-expired OIDC payloads.
      const rows = [
        ...Array.from({ length: 5 }, (_, i) => ({ id: `old${i}`, at: now - 100 * DAY - i })),
        ...Array.from({ length: 3 }, (_, i) => ({ id: `new${i}`, at: now - i })),
      ];
      for (const r of rows)
        await sql`insert into sign_in_events (id, at, org_id, user_id, address_typed, outcome, reason, protocol, ip, user_agent)
          values (${r.id}, ${r.at}, null, null, 'x@contoso.test', 'failure', 'unknown_user', 'web', '192.0.2.1', '')`.execute(
          store.db,
        );
      for (const [id, at] of [
        ['a-old1', now - 400 * DAY],
        ['a-old2', now - 401 * DAY],
        ['a-new', now],
      ] as const)
        await sql`insert into audit_events (id, at, org_id, actor_id, actor_label, action, target_user_id, detail)
          values (${id}, ${at}, null, null, 'x', 'x', null, '')`.execute(store.db);
      for (let i = 0; i < 4; i++)
        await sql`insert into oidc_payloads (model, id, payload, expires_at) values ('Session', ${`p${i}`}, '{}', ${now - 3 * DAY})`.execute(
          store.db,
        );
    });
    after(async () => {
      await store.close();
      await ts.dispose();
    });
    const count = async (t: 'sign_in_events' | 'audit_events' | 'oidc_payloads') =>
      Number(
        (
          await store.db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('shows per table what would be removed and by which rule, removing nothing', async () => {
      const r = await sesame(ts, ['retention']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^sign_in_events +5 +sign-in log rows older than 90 days$/m);
      assert.match(r.out, /^audit_events +2 +audit log rows older than 365 days$/m);
      assert.match(r.out, /^oidc_payloads +4 +OpenID Connect .* expired more than 24 h ago$/m);
      assert.match(r.out, /^sessions +0 /m);
      assert.match(r.out, /^11 row\(s\) would be removed; run with --apply/m);
      assert.equal(await count('sign_in_events'), 8);
      assert.equal(await count('audit_events'), 3);
    });

    it('follows the configured days', async () => {
      const r = await sesame(ts, ['retention'], { SESAME_SIGN_IN_LOG_DAYS: '120', SESAME_AUDIT_LOG_DAYS: '0' });
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^sign_in_events +0 +sign-in log rows older than 120 days$/m);
      assert.doesNotMatch(r.out, /^audit_events/m, 'a log kept forever has no rule');
    });

    it('--apply removes exactly that, records one audit row, and then there is nothing left to remove', async () => {
      const r = await sesame(ts, ['retention', '--apply']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^11 row\(s\) removed$/m);
      assert.equal(await count('sign_in_events'), 3);
      assert.equal(await count('oidc_payloads'), 0);
      const audit = await store.db.selectFrom('audit_events').selectAll().orderBy('at').execute();
      assert.deepEqual(
        audit.map((a) => a.id === 'a-new' || a.action),
        [true, 'retention.applied'],
      );
      assert.equal(audit[1]!.detail, 'sesame retention --apply: sign_in_events=5 audit_events=2 oidc_payloads=4');
      const again = await sesame(ts, ['retention', '--apply']);
      assert.match(again.out, /^0 row\(s\) removed$/m);
      assert.equal(await count('audit_events'), 2, 'a run that removed nothing is not audited');
    });

    it('refuses an unknown flag with exit 2', async () => {
      const r = await sesame(ts, ['retention', '--force']);
      assert.equal(r.code, 2);
      assert.match(r.err, /^sesame: .*--force.*Run "sesame help" for usage\.$/m);
    });
  });
}
