/**
 * Storage contract of the organization's mail settings (issue #18, item 1) on SQLite and
 * PostgreSQL: saved whole and read back the same, replaced, per organization, removed; and the
 * service's audit entries land in the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { MailSettings } from '../../src/domain/mail-settings/model.js';
import { KyselyMailSettingsRepository } from '../../src/storage/mail-settings-repository.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

for (const kind of STORE_KINDS) {
  describe(`mail settings storage on ${kind}`, () => {
    let store: TestStore;
    let ctx: AppContext;
    let orgs: string[];
    before(async () => {
      store = await makeTestStore(kind);
      ctx = await createContext(store.config(), {
        mailServerProbe: { probe: async () => ({ ok: true, ms: 1 }) },
      });
      orgs = [
        (await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso')).id,
        (await ctx.accounts.addOrganization(OPERATOR, 'fabrikam.test', 'Fabrikam')).id,
      ];
    });
    after(async () => {
      await ctx.close();
      await store.dispose();
    });

    it('saves, reads back, replaces and removes, one organization at a time', async () => {
      const repo = new KyselyMailSettingsRepository(ctx.store.db);
      const [a, b] = orgs as [string, string];
      assert.equal(await repo.get(a), undefined);
      const first: MailSettings = {
        orgId: a,
        servers: {
          imap: { host: 'mail.contoso.test', port: 993, security: 'tls' },
          smtp: { host: '2001:db8::25', port: 587, security: 'starttls' },
          caldav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/.well-known/caldav' },
        },
        userName: 'localpart',
        updatedAt: 1_765_000_000_123,
      };
      await repo.save(first);
      assert.deepEqual(await repo.get(a), first);
      assert.equal(await repo.get(b), undefined, "another organization's settings are its own");
      const second: MailSettings = {
        orgId: a,
        servers: { pop3: { host: 'pop.contoso.test', port: 995, security: 'tls' } },
        userName: 'address',
        updatedAt: 1_765_000_000_999,
      };
      await repo.save(second);
      assert.deepEqual(await repo.get(a), second, 'replaced whole, not merged');
      await repo.save({ ...second, orgId: b });
      assert.equal(await repo.remove(a), true);
      assert.equal(await repo.remove(a), false);
      assert.equal(await repo.get(a), undefined);
      assert.deepEqual(await repo.get(b), { ...second, orgId: b }, 'removing one left the other');
    });

    it('through the service: saved, checked and removed, each change in the audit log', async () => {
      const [, b] = orgs as [string, string];
      const s = await ctx.mailSettings.set(OPERATOR, b, {
        imap: { host: 'imap.fabrikam.test', port: 143, security: 'starttls' },
        carddav: { host: 'dav.fabrikam.test', port: 443, security: 'tls', path: '/dav/' },
      });
      assert.deepEqual(await ctx.mailSettings.get(OPERATOR, b), s);
      const checked = await ctx.mailSettings.check(OPERATOR, b);
      assert.deepEqual(
        checked.map((r) => [r.service, r.ok]),
        [
          ['imap', true],
          ['carddav', true],
        ],
      );
      assert.equal(await ctx.mailSettings.clear(OPERATOR, b), true);
      const audit = await ctx.audit.listAudit(b, 10);
      const mine = audit.filter((e) => e.action === 'org.mail_settings');
      assert.equal(mine.length, 2, JSON.stringify(audit));
      assert.ok(mine.some((e) => e.detail === 'removed'));
      assert.ok(
        mine.some((e) => e.detail.includes('"imap":{"host":"imap.fabrikam.test","port":143,"security":"starttls"}')),
      );
      assert.ok(mine.every((e) => e.actorLabel === 'operator (CLI)' && e.orgId === b));
    });
  });
}
