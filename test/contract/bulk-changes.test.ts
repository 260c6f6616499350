/**
 * Bulk changes to users through the domain service, on SQLite and PostgreSQL: bad rows of every
 * kind change nothing and are each reported; what each operation does to a user (the same as the
 * single-user actions); a change that moved on since its preview is refused. (The 50,000-row
 * import is in user-directory-scale.test.ts, on the organization seeded there.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR, sessionActor } from '../../src/domain/accounts/actor.js';
import type { BulkRowInput } from '../../src/domain/accounts/bulk-changes.js';
import { bulkRowsFromCsv } from '../../src/domain/accounts/user-csv.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';
import { seedUsers } from '../support/seed-users.js';
import { startWebhook } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';

const csv = (s: string) => Buffer.from(s.replace(/\n/g, '\r\n'));

for (const kind of STORE_KINDS) {
  describe(`bulk changes on ${kind}`, () => {
    let w: World;
    let doveadm: Awaited<ReturnType<typeof startWebhook>>;
    let orgId: string;
    let admin: ReturnType<typeof sessionActor>;
    const user = async (address: string) => (await w.ctx.accounts.findUserByAddressOrNull(address))!;
    const count = async (table: 'sessions' | 'app_passwords' | 'mfa_methods', userId: string) =>
      Number(
        (
          await w.ctx.store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('user_id', '=', userId)
            .executeTakeFirstOrThrow()
        ).n,
      );

    before(async () => {
      // A real HTTP listener stands in for Dovecot's doveadm API: it records whom Sesame tells.
      doveadm = await startWebhook();
      w = await makeWorld(kind, { doveadmUrl: doveadm.url, doveadmApiKey: 'doveadm-test-key' });
      orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      await seedUsers(w.ctx.store.db, orgId, 'contoso.test', 30, Date.now());
      const a = await user(ADMIN.address);
      admin = sessionActor(a, { amr: ['pwd', 'otp'] });
    });
    after(async () => {
      await w.close();
      await doveadm.stop();
    });

    it('bad rows (unknown address, wrong state, another organization, duplicate, not an address): each reported, nothing applied', async () => {
      const rows = bulkRowsFromCsv(
        csv(
          `address,mfa_state\nu00001@contoso.test,enforced\nghost@contoso.test,enabled\nu00002@contoso.test,sometimes\n${OTHER_ADMIN.address},enforced\nU00001@Contoso.test,enabled\nnot an address,enforced\nu00004@contoso.test,ENFORCED\n`,
        ),
        'mfa',
      );
      const before = [(await user('u00001@contoso.test')).mfaState, (await user('u00004@contoso.test')).mfaState];
      const r = await w.ctx.bulkChanges.apply(admin, orgId, 'mfa', rows);
      assert.equal(r.changed, 0);
      assert.deepEqual(
        r.plan.rows.map((x) => [x.row, x.problem ?? 'ok', x.duplicateOf ?? null]),
        [
          [2, 'ok', null],
          [3, 'unknown_address', null],
          [4, 'invalid_state', null],
          [5, 'other_organization', null],
          [6, 'duplicate', 2],
          [7, 'invalid_address', null],
          [8, 'ok', null],
        ],
      );
      assert.equal(r.plan.problems, 5);
      assert.deepEqual(
        [(await user('u00001@contoso.test')).mfaState, (await user('u00004@contoso.test')).mfaState],
        before,
        'the good rows were not applied either',
      );
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('id')
        .where('action', '=', 'users.bulk')
        .execute();
      assert.equal(audit.length, 0);
    });

    it('an admin cannot reach another organization, nor disable their own account', async () => {
      await assert.rejects(
        w.ctx.bulkChanges.plan(admin, (await w.ctx.accounts.organizationByDomain('fabrikam.test')).id, 'disable', [
          { row: 1, address: OTHER_ADMIN.address },
        ]),
        { code: 'forbidden' },
      );
      const plan = await w.ctx.bulkChanges.plan(admin, orgId, 'disable', [{ row: 1, address: ADMIN.address }]);
      assert.equal(plan.rows[0]!.problem, 'own_account');
      await assert.rejects(w.ctx.bulkChanges.plan(admin, orgId, 'disable', []), { code: 'bulk_empty' });
    });

    it('each operation does what the single-user action does, in one transaction', async () => {
      // u00000 has TOTP and a WebAuthn key (i % 5, i % 7); u00003 an app password (i % 10 == 3).
      const u0 = await user('u00000@contoso.test');
      const u3 = await user('u00003@contoso.test');
      const bob = await user(USER.address);
      await w.ctx.sessions.start(u0.id, ['pwd'], { ip: '127.0.0.1', userAgent: 't' });
      await w.ctx.sessions.start(bob.id, ['pwd'], { ip: '127.0.0.1', userAgent: 't' });
      assert.equal(await count('mfa_methods', u0.id), 2);
      assert.equal(await count('app_passwords', u3.id), 1);

      const rr = await w.ctx.bulkChanges.apply(admin, orgId, 'reregister', [{ row: 1, address: u0.address }]);
      assert.equal(rr.changed, 1);
      assert.equal(await count('mfa_methods', u0.id), 0);
      assert.equal(await count('sessions', u0.id), 0);
      assert.equal((await user(u0.address)).mfaState, 'enabled');

      await w.ctx.bulkChanges.apply(admin, orgId, 'mfa', [
        { row: 1, address: u3.address, state: 'disabled' },
        { row: 2, address: 'u00005@contoso.test', state: 'enforced' },
      ]);
      assert.equal(
        await count('app_passwords', u3.id),
        1,
        'u00003 was already disabled: unchanged, app passwords kept',
      );
      await w.ctx.bulkChanges.apply(admin, orgId, 'mfa', [{ row: 1, address: u3.address, state: 'enforced' }]);
      await w.ctx.bulkChanges.apply(admin, orgId, 'mfa', [{ row: 1, address: u3.address, state: 'disabled' }]);
      assert.equal(await count('app_passwords', u3.id), 0, 'app passwords go with MFA');

      // Mail servers are told about the users that changed, and only those.
      const calls = doveadm.calls.length;
      const d = await w.ctx.bulkChanges.apply(admin, orgId, 'disable', [
        { row: 1, address: USER.address },
        { row: 2, address: 'u00001@contoso.test' },
      ]);
      assert.deepEqual(
        doveadm.calls.slice(calls).map((c) => c.body),
        [
          [
            ['authCacheFlush', { user: [USER.address] }, 'flush'],
            ['kick', { mask: [USER.address] }, 'kick'],
          ],
        ],
      );
      assert.equal(d.changed, 1, 'u00001 (i % 50 == 1) was disabled already');
      assert.equal((await user(USER.address)).status, 'disabled');
      assert.equal(await count('sessions', bob.id), 0);
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('detail')
        .where('target_user_id', '=', bob.id)
        .where('action', '=', 'user.disable')
        .execute();
      assert.deepEqual(
        audit.map((a) => a.detail),
        [`${USER.address}: sessions ended (bulk change)`],
      );
    });

    it('refuses with bulk_stale when the users changed since the preview, and writes nothing', async () => {
      const rows: BulkRowInput[] = [
        { row: 1, address: 'u00006@contoso.test', state: 'enforced' },
        { row: 2, address: 'u00007@contoso.test', state: 'enforced' },
      ];
      const preview = await w.ctx.bulkChanges.plan(admin, orgId, 'mfa', rows);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, 'u00007@contoso.test', 'disabled');
      const was = (await user('u00006@contoso.test')).mfaState;
      await assert.rejects(w.ctx.bulkChanges.apply(admin, orgId, 'mfa', rows, preview.fingerprint), {
        code: 'bulk_stale',
      });
      assert.equal((await user('u00006@contoso.test')).mfaState, was);
    });

    it('files in the wrong encoding, malformed or without the columns are refused; a UTF-8 BOM and quoted fields are fine', () => {
      assert.throws(
        () => bulkRowsFromCsv(Buffer.from('address,mfa_state\r\nj\xfcrgen@contoso.test,enabled\r\n', 'latin1'), 'mfa'),
        { code: 'csv_encoding' },
      );
      assert.throws(
        () =>
          bulkRowsFromCsv(
            Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('address', 'utf16le').swap16()]),
            'mfa',
          ),
        { code: 'csv_encoding' },
      );
      assert.throws(() => bulkRowsFromCsv(Buffer.from('a\u0000d\u0000d\u0000r\u0000', 'latin1'), 'mfa'), {
        code: 'csv_encoding',
      });
      assert.throws(() => bulkRowsFromCsv(csv('address,mfa_state\n"u1@contoso.test,enabled\n'), 'mfa'), {
        code: 'csv_invalid',
      });
      assert.throws(() => bulkRowsFromCsv(csv('email,state\nu1@contoso.test,enabled\n'), 'mfa'), {
        code: 'csv_columns',
      });
      const rows = bulkRowsFromCsv(
        Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          csv(
            'name,MFA_State,Address\n"Doe, Jane",enforced,"jane@contoso.test"\n\n"Smith ""Bob""",enabled,bob@contoso.test\n',
          ),
        ]),
        'mfa',
      );
      assert.deepEqual(rows, [
        { row: 2, address: 'jane@contoso.test', state: 'enforced' },
        { row: 4, address: 'bob@contoso.test', state: 'enabled' },
      ]);
      assert.deepEqual(bulkRowsFromCsv(csv('address\nx@contoso.test\n'), 'disable'), [
        { row: 2, address: 'x@contoso.test', state: undefined },
      ]);
    });
  });
}
