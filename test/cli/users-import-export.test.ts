/**
 * `sesame users import` and `sesame users export`, run for real (bin/sesame.js) on SQLite and
 * PostgreSQL: an import that applies every row and prints a result per row with plain progress
 * lines (standard error is not a terminal here), an export that imports again unchanged, a file
 * with a bad row or in the wrong encoding that changes nothing. The terminal progress bar is
 * checked on its renderer.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { progressRenderer } from '../../src/cli/commands/users.js';
import { parseCsv } from '../../src/lib/csv.js';
import { runSesameCli } from '../support/processes.js';
import { seedUsers } from '../support/seed-users.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

describe('users import progress', () => {
  it('redraws one line on a terminal and writes a line a tenth elsewhere', () => {
    let tty = '';
    const bar = progressRenderer({ write: (s) => (tty += s), isTTY: true });
    for (let i = 1; i <= 100; i++) bar('checking', i, 100);
    bar('applying', 100, 100);
    bar.end();
    const lines = tty.split('\n');
    assert.equal(lines.length, 3, 'one line per phase, then the end');
    assert.match(lines[0]!, /\rchecking \[#{30}\] 100% 100\/100$/);
    assert.equal((lines[0]!.match(/\r/g) ?? []).length, 100);
    let plain = '';
    const log = progressRenderer({ write: (s) => (plain += s), isTTY: false });
    for (let i = 1; i <= 1000; i++) log('checking', i, 1000);
    log.end();
    assert.equal(plain.split('\n').filter(Boolean).length, 10);
    assert.doesNotMatch(plain, /\r/);
  });
});

for (const kind of STORE_KINDS) {
  describe(`sesame users import/export on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    let env: NodeJS.ProcessEnv;
    let file: (name: string, content: Buffer | string) => string;

    before(async () => {
      store = await makeTestStore(kind);
      ctx = await createContext(store.config());
      const org = await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addOrganization(OPERATOR, 'fabrikam.test', 'Fabrikam');
      await seedUsers(ctx.store.db, org.id, 'contoso.test', 200, Date.now());
      await ctx.accounts.addUser(OPERATOR, { address: 'eve@fabrikam.test' });
      env = { ...process.env, SESAME_DATA_DIR: store.dataDir, DATABASE_URL: store.databaseUrl, LOG_LEVEL: 'silent' };
      file = (name, content) => {
        const p = path.join(store.dataDir, name);
        fs.writeFileSync(p, content);
        return p;
      };
    });
    after(async () => {
      await ctx.close();
      await store.dispose();
    });
    const state = async (a: string) => (await ctx.accounts.findUserByAddressOrNull(a))!.mfaState;

    it('imports a file: every row applied, a result per row, progress as plain lines', async () => {
      const rows = Array.from({ length: 200 }, (_, i) => `u${String(i).padStart(5, '0')}@contoso.test,enforced`);
      const out = await runSesameCli(env, [
        'users',
        'import',
        file('all.csv', `address,mfa_state\r\n${rows.join('\r\n')}\r\n`),
        '--org',
        'contoso.test',
      ]);
      assert.match(out, /^row 2: u00000@contoso\.test: changed \(disabled -> enforced\)$/m);
      assert.match(out, /^row 4: u00002@contoso\.test: unchanged$/m);
      assert.match(out, /^checking: 200\/200$/m);
      assert.match(out, /^applying: 134\/134$/m);
      assert.match(out, /^134 user\(s\) changed, 66 unchanged$/m);
      assert.equal(await state('u00199@contoso.test'), 'enforced');
    });

    it('exports CSV that imports again as it is', async () => {
      const csv = await runSesameCli(env, ['users', 'export', '--org', 'contoso.test'], undefined, {
        stdoutOnly: true,
      });
      const records = parseCsv(csv);
      assert.deepEqual(records[0]!.fields, [
        'address',
        'name',
        'status',
        'role',
        'mfa_state',
        'methods',
        'app_passwords',
        'last_sign_in',
        'created_at',
      ]);
      assert.equal(records.length, 201);
      assert.ok(csv.includes('\r\n'), 'RFC 4180 line ends');
      const u35 = records.find((r) => r.fields[0] === 'u00035@contoso.test')!.fields;
      assert.deepEqual(u35.slice(2, 7), ['active', 'user', 'enforced', 'totp webauthn', '0']);
      const again = await runSesameCli(env, ['users', 'import', file('export.csv', csv), '--dry-run']);
      assert.match(again, /dry run: 0 user\(s\) would change, 200 unchanged/);
    });

    it('a bad row or a file in the wrong encoding: exit 1, each problem said, nothing changed', async () => {
      const before = await state('u00001@contoso.test');
      const bad = file(
        'bad.csv',
        'address,mfa_state\r\nu00001@contoso.test,disabled\r\neve@fabrikam.test,disabled\r\nnobody@contoso.test,disabled\r\n',
      );
      await assert.rejects(runSesameCli(env, ['users', 'import', bad, '--org', 'contoso.test']), (e: Error) => {
        assert.match(e.message, /exited with 1/);
        assert.match(e.message, /row 3: eve@fabrikam\.test: Not a user of your organization\./);
        assert.match(e.message, /row 4: nobody@contoso\.test: There is no user with this address\./);
        assert.match(e.message, /2 bad row\(s\) of 3; nothing was changed/);
        return true;
      });
      assert.equal(await state('u00001@contoso.test'), before);
      const latin1 = file(
        'latin1.csv',
        Buffer.from('address,mfa_state\r\nj\xfcrgen@contoso.test,enabled\r\n', 'latin1'),
      );
      await assert.rejects(
        runSesameCli(env, ['users', 'import', latin1]),
        /The file is not UTF-8 text\. Save it as “CSV UTF-8” and try again\. \(csv_encoding\)/,
      );
      await assert.rejects(runSesameCli(env, ['users', 'import', latin1, '--action', 'explode']), /exited with 2/);
    });
  });
}
