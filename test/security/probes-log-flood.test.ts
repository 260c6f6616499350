/**
 * Black-box probe (issue #15, item 4): the log cannot be used to fill the disk. The same wrong
 * Basic password, sent 2,000 times through /auth/basic of a real server (a child process, default
 * limits: the account and then the IP get locked along the way), must leave a handful of sign-in
 * log rows whose counts add up to the 2,000 attempts, not 2,000 rows; the admin API, the JSON-lines
 * and CSV exports show the count.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { basic, bearer, call, startProbeServer, type ProbeServer } from '../support/probes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
const BOB = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' };
const ATTEMPTS = 2000;
const PARALLEL = 16;

describe('probes: log flood', () => {
  let probe: ProbeServer;

  before(async () => {
    ({ probe } = await startProbeServer('flood', {}, async (ctx) => {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, BOB);
    }));
  });
  after(async () => probe?.stop());

  it('2,000 identical wrong Basic passwords leave a handful of rows whose counts add up to 2,000', async () => {
    // Signed in first: the flood gets this client IP locked, which would refuse the admin's sign-in too.
    const token = await adminApiToken(probe.base, ADMIN);
    const statuses: Record<number, number> = {};
    let sent = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (sent < ATTEMPTS) {
          sent += 1;
          const r = await call(probe.base, 'GET', '/auth/basic', undefined, basic(BOB.address, 'not-the-password-1'));
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        }
      }),
    );
    assert.equal(statuses[200], undefined, 'never let in');
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    assert.equal(total, ATTEMPTS);

    const r = await call(probe.base, 'GET', '/api/v1/sign-ins?limit=500', undefined, bearer(token));
    assert.equal(r.status, 200, r.text);
    const rows = (
      r.body.events as {
        addressTyped: string;
        reason: string;
        outcome: string;
        count: number;
        at: string;
        lastAt: string;
      }[]
    ).filter((e) => e.addressTyped === BOB.address);
    const summary = rows.map((e) => `${e.outcome}/${e.reason}×${e.count}`).join(', ');
    console.log(`flood: ${JSON.stringify(statuses)} -> ${rows.length} rows: ${summary}`);
    // One row per outcome and reason (wrong password, then the account's and the IP's locks), and
    // at most one more each where the attempts crossed a window's boundary.
    assert.ok(rows.length <= 8, `a handful of rows, not one per attempt: ${rows.length} (${summary})`);
    assert.equal(
      rows.reduce((n, e) => n + e.count, 0),
      ATTEMPTS,
      'the counts add up to every attempt',
    );
    const biggest = rows.reduce((a, b) => (b.count > a.count ? b : a));
    assert.ok(biggest.count > 100, summary);
    assert.ok(Date.parse(biggest.lastAt) >= Date.parse(biggest.at));

    // Plain fetch: call() would parse JSON lines as one JSON document.
    const download = async (format: string) => {
      const res = await fetch(`${probe.base}/api/v1/sign-ins/export?format=${format}`, { headers: bearer(token) });
      return { status: res.status, text: await res.text() };
    };
    const jsonl = await download('jsonl');
    assert.equal(jsonl.status, 200);
    const exported = jsonl.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { addressTyped: string; count: number })
      .filter((e) => e.addressTyped === BOB.address);
    assert.equal(
      exported.reduce((n, e) => n + e.count, 0),
      ATTEMPTS,
    );
    const csv = await download('csv');
    assert.equal(csv.status, 200);
    const header = csv.text.split('\r\n')[0]!.split(',');
    const countAt = header.indexOf('count');
    assert.ok(countAt > 0, header.join(','));
    const csvCounts = csv.text
      .split('\r\n')
      .slice(1)
      .filter((l) => l.includes(BOB.address))
      .map((l) => Number(l.split(',')[countAt]));
    assert.equal(
      csvCounts.reduce((a, b) => a + b, 0),
      ATTEMPTS,
    );
  });
});
