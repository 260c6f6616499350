/**
 * Throttling holds (checklist 5-7, 10-12): per account and per client IP, in the store (shared by
 * instances), counted before the password is checked so parallel guesses are all counted, locks
 * that expire and grow, and the same behaviour for accounts that do not exist.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { buildApp } from '../../src/app/server.js';
import { Browser, makeWorld, USER, type World } from '../support/world.js';
import { STORE_KINDS, WITH_POSTGRES } from '../support/stores.js';
import { testContextOptions } from '../support/hasher.js';

const api = (w: World, email: string, password: string, ip = '127.0.0.1') =>
  w.app.inject({ method: 'POST', url: '/api/v1/sessions', payload: { email, password }, remoteAddress: ip });

for (const kind of STORE_KINDS) {
  describe(`throttling on ${kind}`, () => {
    let w: World;
    before(async () => {
      w = await makeWorld(kind, {
        accountFailureLimit: 10,
        ipFailureLimit: 1000,
        // These tests are about the account's counters; the per-IP rate has its own tests (smart-lockout.test.ts).
        ipPasswordChecksPerMinute: 1000,
        lockBaseSeconds: 1,
        lockMaxSeconds: 8,
      });
    });
    after(async () => w.close());

    it('locks an account after 10 failures, refuses even the right password while locked, long before 100', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await api(w, USER.address, `wrong-${i}-password`)).statusCode);
      assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
      const right = await api(w, USER.address, USER.password);
      assert.equal(right.statusCode, 429, 'the right password is refused while locked');
      assert.equal(right.json().error.code, 'throttled');
      assert.ok(Number(right.headers['retry-after']) >= 1);
      // The web form is the same account's counter: locked there too (checklist 10).
      const web = await new Browser(w.app).signIn(USER.address, USER.password);
      assert.equal(web.statusCode, 429);
      assert.match(web.body, /Too many attempts/);
    });

    it('lets the lock expire, and makes the next one longer', async () => {
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await api(w, USER.address, USER.password)).statusCode, 201, 'the lock was temporary');
      // 127.0.0.1 is familiar now (the right password came from it); the guesser is elsewhere, on
      // the counter of unfamiliar places that locked once already.
      for (let i = 0; i < 10; i++) await api(w, USER.address, `wrong-${i}-password`, '198.51.100.20');
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(
        (await api(w, USER.address, USER.password, '198.51.100.20')).statusCode,
        429,
        'second lock lasts 2 s, not 1 s',
      );
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal((await api(w, USER.address, USER.password, '198.51.100.20')).statusCode, 201);
    });

    it('treats an account that does not exist exactly the same', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++)
        statuses.push((await api(w, 'ghost@contoso.test', `wrong-${i}-password`)).statusCode);
      assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
    });

    it('resets the account counter on success, so a user who mistypes now and then is never locked', async () => {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 9; i++) assert.equal((await api(w, 'ada@contoso.test', 'typo-typo-typo')).statusCode, 401);
        // The right password: Ada is an admin, so a second step follows (200, a flow), but the password counter is reset.
        assert.equal((await api(w, 'ada@contoso.test', 'violet-harbour-lantern-42')).statusCode, 200);
      }
    });

    it('counts 50 parallel guesses as 50 and lets none through after the limit', async () => {
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => api(w, 'eve@fabrikam.test', `parallel-guess-${i}`, '10.0.0.50')),
      );
      const by = (s: number) => responses.filter((r) => r.statusCode === s).length;
      assert.equal(by(401), 10, 'exactly the limit was checked');
      assert.equal(by(429), 40);
      const rows = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['outcome', 'attempts'])
        .where('address_typed', '=', 'eve@fabrikam.test')
        .execute();
      // Attempts, not rows: identical failures are one aggregated row with a count.
      const attempts = (outcome?: string) =>
        rows.filter((r) => !outcome || r.outcome === outcome).reduce((n, r) => n + Number(r.attempts), 0);
      assert.equal(attempts(), 50, 'every attempt is in the sign-in log');
      assert.equal(attempts('failure'), 10);
    });
  });
}

if (WITH_POSTGRES)
  describe('throttling per client IP, shared by two instances on one PostgreSQL store', () => {
    let w: World;
    let second: Awaited<ReturnType<typeof buildApp>>;
    let secondCtx: Awaited<ReturnType<typeof createContext>>;
    before(async () => {
      w = await makeWorld('postgres', { accountFailureLimit: 100, ipFailureLimit: 6, lockBaseSeconds: 30 });
      secondCtx = await createContext(
        w.store.config({ accountFailureLimit: 100, ipFailureLimit: 6, lockBaseSeconds: 30 }),
        testContextOptions(),
      );
      second = await buildApp(secondCtx, { logger: false });
    });
    after(async () => {
      await second.close();
      await secondCtx.close();
      await w.close();
    });

    it('locks an IP that guesses across many accounts, on every instance, and not other IPs', async () => {
      const apps = [w.app, second];
      for (let i = 0; i < 6; i++) {
        const r = await apps[i % 2]!.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: `user${i}@contoso.test`, password: 'spray-password-1' },
          remoteAddress: '203.0.113.9',
        });
        assert.equal(r.statusCode, 401);
      }
      for (const app of apps) {
        const r = await app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
          remoteAddress: '203.0.113.9',
        });
        assert.equal(r.statusCode, 429, 'the IP is locked on both instances');
      }
      const other = await second.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: USER.address, password: USER.password },
        remoteAddress: '198.51.100.7',
      });
      assert.equal(other.statusCode, 201, 'another IP is not affected');
    });

    it('does not clear the IP counter on success (a sprayer with one valid account is still counted)', async () => {
      const ip = '203.0.113.77';
      const post = (email: string, password: string) =>
        w.app.inject({ method: 'POST', url: '/api/v1/sessions', payload: { email, password }, remoteAddress: ip });
      for (let i = 0; i < 5; i++)
        assert.equal((await post(`spray${i}@contoso.test`, 'spray-password-1')).statusCode, 401);
      assert.equal((await post(USER.address, USER.password)).statusCode, 201);
      assert.equal((await post('spray9@contoso.test', 'spray-password-1')).statusCode, 401);
      assert.equal((await post('spray10@contoso.test', 'spray-password-1')).statusCode, 429);
    });
  });
