/**
 * The admin Users page in Debian's Chromium against the real server (SQLite in a temporary
 * folder): an admin signs in with their second factor, filters the list, ticks two users, sets
 * their MFA state in bulk, looks at the preview and applies it. The JSON API then shows the new
 * state. Every process started here is stopped in `after`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { adminBrowserSuite } from '../support/admin-browser.js';
import { seedUsers } from '../support/seed-users.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };

describe('the admin Users page in Chromium: filter, select two users, bulk change, preview, apply', () => {
  const suite = adminBrowserSuite(ADMIN, {
    tmpPrefix: 'sesame-e2e-bulk-',
    seed: async (dataDir) => {
      const ctx = await createContext(loadConfig({ SESAME_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' }));
      try {
        await seedUsers(
          ctx.store.db,
          (await ctx.accounts.organizationByDomain('contoso.test')).id,
          'contoso.test',
          60,
          Date.now(),
        );
      } finally {
        await ctx.close();
      }
    },
  });

  const mfaOf = async (address: string) => {
    const res = await fetch(`${suite.base}/api/v1/users?q=${encodeURIComponent(address)}`, {
      headers: { authorization: `Bearer ${suite.token}` },
    });
    return ((await res.json()) as { users: { mfaState: string }[] }).users[0]!.mfaState;
  };

  it('sets two filtered users to enforced through the preview', async () => {
    const { page } = await suite.open({ locale: 'en-US' });
    await page.goto('/signin?next=/admin/users');
    await suite.signInAdmin(page);
    await page.waitForURL(`${suite.base}/admin/users`);

    // Filter: MFA disabled, methods none (seeded u00000..u00059: i % 3 == 0, and no TOTP/key for i % 5, i % 7).
    await page.locator('#f-mfa').selectOption('disabled');
    await page.locator('#f-method').selectOption('none');
    await page.getByRole('button', { name: 'Show', exact: true }).click();
    await page.waitForURL(/mfa=disabled/);
    const listed = await page
      .locator('input[form="bulk"]')
      .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
    assert.ok(listed.includes('u00003@contoso.test') && listed.includes('u00006@contoso.test'), listed.join(' '));
    assert.ok(!listed.includes('u00015@contoso.test'), 'u00015 has an authenticator app');

    await page.getByLabel('Select u00003@contoso.test').check();
    await page.getByLabel('Select u00006@contoso.test').check();
    await page.locator('#bulk-op').selectOption('mfa:enforced');
    await page.getByRole('button', { name: 'Preview', exact: true }).first().click();
    await page.waitForURL(`${suite.base}/admin/users/bulk/preview`);
    assert.equal(
      (await page.locator('#bulk-summary').textContent())?.trim(),
      '2 users will change; 0 already are as asked. Nothing has changed yet.',
    );
    assert.equal(await mfaOf('u00003@contoso.test'), 'disabled', 'the preview changed nothing');

    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    await page.waitForURL(`${suite.base}/admin/users/bulk/apply`);
    assert.equal((await page.locator('#bulk-done').textContent())?.trim(), '2 users changed.');
    assert.deepEqual(
      [await mfaOf('u00003@contoso.test'), await mfaOf('u00006@contoso.test'), await mfaOf('u00009@contoso.test')],
      ['enforced', 'enforced', 'disabled'],
    );
  });
});
