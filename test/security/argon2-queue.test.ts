/**
 * Argon2 work is bounded by a queue with a maximum wait (issue #15, item 3): beyond the
 * concurrency, hashes wait their turn, and one that would wait longer than the maximum is refused
 * at once with `busy`, which the web and API answer 503 with Retry-After ("try again shortly", in
 * English and Dutch) and the mail endpoints as a temporary failure. The dummy hash for an unknown
 * account (`burn`) waits in the same queue. The event loop stays responsive throughout: hashing
 * runs on libuv's pool, and a refusal costs nothing.
 */
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { isSesameError } from '../../src/domain/errors.js';
import { queuedHasher } from '../../src/app/queued-hasher.js';
import { createArgon2Hasher, type PasswordHasher } from '../../src/lib/crypto/password-hasher.js';
import { QueueBusyError, WorkQueue } from '../../src/lib/work-queue.js';
import { testPasswordHasher } from '../support/hasher.js';
import { makeWorld, USER, type World } from '../support/world.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A hasher whose every operation takes `ms` without holding the event loop (like Argon2 on the pool). */
function slowHasher(ms: number, calls: string[] = []): PasswordHasher {
  const inner = testPasswordHasher();
  const slow = async <T>(name: string, op: () => Promise<T>) => {
    calls.push(name);
    await sleep(ms);
    return op();
  };
  return {
    hash: (p) => slow('hash', () => inner.hash(p)),
    verify: (e, p) => slow('verify', () => inner.verify(e, p)),
    burn: (p) => slow('burn', () => inner.burn(p)),
  };
}

/** Outcome and time to answer of each call, started all at once. */
async function burst(n: number, op: (i: number) => Promise<unknown>) {
  const t0 = performance.now();
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      op(i).then(
        () => ({ ok: true, ms: performance.now() - t0, code: '' }),
        (e: unknown) => ({ ok: false, ms: performance.now() - t0, code: isSesameError(e) ? e.code : String(e) }),
      ),
    ),
  );
}

describe('the work queue', () => {
  it('runs at most `concurrency` jobs at once and refuses at once a job that would wait beyond the maximum', async () => {
    const q = new WorkQueue({ concurrency: 2, maxWaitMs: 250 });
    let running = 0;
    let most = 0;
    const job = async () => {
      most = Math.max(most, ++running);
      await sleep(100);
      running--;
    };
    await q.run(job); // teaches the queue how long a job takes
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        q.run(job).then(
          () => ({ ok: true, ms: performance.now() - t0 }),
          (e: unknown) => ({ ok: false, ms: performance.now() - t0, busy: e instanceof QueueBusyError }),
        ),
      ),
    );
    assert.equal(most, 2);
    const ok = results.filter((r) => r.ok);
    const refused = results.filter((r) => !r.ok);
    // Two run now, two rounds of two may wait (200 ms <= 250 ms); the rest would wait longer.
    assert.ok(ok.length >= 4 && ok.length <= 8, `${ok.length} ran`);
    assert.ok(refused.length >= 12, `${refused.length} refused`);
    for (const r of refused) assert.ok(r.ms < 50, `a refusal took ${r.ms.toFixed(0)} ms`);
    for (const r of ok) assert.ok(r.ms < 100 + 250 + 100, `an admitted job ended after ${r.ms.toFixed(0)} ms`);
    assert.deepEqual(q.load, { running: 0, waiting: 0 });
  });

  it('refuses a job still waiting at its deadline when jobs turn slower than the estimate', async () => {
    const q = new WorkQueue({ concurrency: 1, maxWaitMs: 100 });
    await q.run(() => sleep(5)); // estimate: 5 ms a job
    const slow = q.run(() => sleep(400));
    const t0 = performance.now();
    await assert.rejects(
      q.run(() => sleep(5)),
      QueueBusyError,
    );
    const waited = performance.now() - t0;
    assert.ok(waited >= 90 && waited < 250, `refused after ${waited.toFixed(0)} ms`);
    await slow;
    assert.deepEqual(q.load, { running: 0, waiting: 0 });
  });
});

describe('the queued password hasher', () => {
  it('refuses checks beyond the maximum wait quickly with `busy`, and burn() waits in the same queue', async () => {
    const calls: string[] = [];
    const h = queuedHasher(slowHasher(100, calls), { concurrency: 2, maxWaitMs: 300 });
    await h.burn('warm-up');
    const encoded = await testPasswordHasher().hash('pw');
    const results = await burst(30, (i) => (i % 2 ? h.burn('x') : h.verify(encoded, 'pw')));
    const refused = results.filter((r) => !r.ok);
    assert.ok(refused.length >= 15, `${refused.length} refused`);
    assert.ok(refused.every((r) => r.code === 'busy'));
    assert.ok(refused.every((r) => r.ms < 50));
    assert.ok(calls.length < 20, `${calls.length} operations reached the hasher`);
    // burn() alone is bounded too: a flood of unknown accounts cannot jump the queue.
    const burns = await burst(20, () => h.burn('unknown'));
    assert.ok(burns.filter((r) => !r.ok).length >= 10);
  });

  it("a new password's hash waits its turn however long it takes, still within the concurrency", async () => {
    const h = queuedHasher(slowHasher(50), { concurrency: 2, maxWaitMs: 60 });
    await h.hash('warm-up');
    const results = await burst(12, () => h.hash('new-password'));
    assert.ok(
      results.every((r) => r.ok),
      'no hash of a new password is refused',
    );
    assert.ok(Math.max(...results.map((r) => r.ms)) >= 250, 'six rounds of two, one after another');
  });

  it('with real Argon2id at production cost, the event loop stays responsive and refusals are immediate', async () => {
    const h = queuedHasher(createArgon2Hasher(), { concurrency: 2, maxWaitMs: 200 });
    const encoded = await h.hash('harbour-lantern-violet-42');
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const results = await burst(60, () => h.verify(encoded, 'harbour-lantern-violet-42'));
    delay.disable();
    const refused = results.filter((r) => !r.ok);
    assert.ok(refused.length >= 30, `${refused.length} refused`);
    assert.ok(refused.every((r) => r.code === 'busy'));
    const slowestRefusal = Math.max(...refused.map((r) => r.ms).filter((ms) => ms < 100));
    assert.ok(refused.filter((r) => r.ms < 100).length >= 30, `fast refusals; slowest ${slowestRefusal}`);
    const p99 = delay.percentile(99) / 1e6;
    assert.ok(p99 < 100, `event loop p99 delay ${p99.toFixed(1)} ms`);
  });
});

describe('busy answers', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite', { argon2Concurrency: 1, argon2MaxWaitMs: 50 }, { passwordHasher: slowHasher(150) });
  });
  after(async () => w.close());

  const flood = () =>
    Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          headers: { 'accept-language': i % 2 ? 'nl' : 'en' },
          payload: { email: USER.address, password: USER.password },
        }),
      ),
    );

  /** Attempts the sign-in log shows refused for lack of CPU on `protocol` (identical ones are one row with a count). */
  const busyInLog = async (protocol: string) => {
    await w.ctx.flush();
    const rows = await w.ctx.store.db
      .selectFrom('sign_in_events')
      .select(['attempts', 'outcome'])
      .where('reason', '=', 'server_busy')
      .where('protocol', '=', protocol)
      .execute();
    assert.ok(rows.every((r) => r.outcome === 'throttled'));
    return rows.reduce((n, r) => n + Number(r.attempts), 0);
  };

  it('answers the API 503 with Retry-After and "try again shortly" in the caller’s language', async () => {
    await flood(); // the queue learns how long a check takes
    const answers = await flood();
    const busy = answers.filter((r) => r.statusCode === 503);
    assert.ok(busy.length >= 3, `${busy.length} of ${answers.length} busy`);
    for (const r of busy) {
      assert.equal(r.json().error.code, 'busy');
      assert.match(String(r.headers['retry-after']), /^\d+$/);
    }
    const messages = new Set(busy.map((r) => r.json().error.message));
    assert.ok(messages.has('Sesame is very busy right now. Please try again shortly.') || messages.size === 1);
    assert.ok([...messages].every((m) => /try again shortly|zo dadelijk opnieuw/.test(m)));
    assert.ok((await busyInLog('api')) >= busy.length, 'each refusal is in the sign-in log as server_busy');
  });

  it('answers the mail endpoints as a temporary failure, never as a wrong password', async () => {
    const auth = `Basic ${Buffer.from(`${USER.address}:${USER.password}`).toString('base64')}`;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        w.app.inject({ method: 'GET', url: '/auth/basic', headers: { authorization: auth } }),
      ),
    );
    const temporary = answers.filter((r) => r.statusCode === 503);
    assert.ok(temporary.length >= 1, answers.map((r) => r.statusCode).join(','));
    for (const r of temporary) assert.ok(r.headers['retry-after']);
    // A good password refused for lack of CPU is never answered as a wrong one.
    assert.ok(
      answers.every((r) => r.statusCode === 200 || r.statusCode === 503),
      answers.map((r) => r.statusCode).join(','),
    );
    assert.ok((await busyInLog('http')) >= temporary.length, 'each refusal is in the sign-in log as server_busy');
  });
});

describe('busy refusals are no failures', () => {
  let w: World;
  before(async () => {
    w = await makeWorld(
      'sqlite',
      { argon2Concurrency: 1, argon2MaxWaitMs: 50, accountFailureLimit: 3 },
      { passwordHasher: slowHasher(150) },
    );
  });
  after(async () => w.close());

  it('gives back every point a refused check took: more refusals than the limits leave no lock', async () => {
    let busy = 0;
    for (let round = 0; round < 4; round++) {
      // Wrong passwords, so no success clears the account's count in between.
      const answers = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          w.app.inject({
            method: 'POST',
            url: '/api/v1/sessions',
            payload: { email: USER.address, password: `not-it-${round}-${i}` },
          }),
        ),
      );
      busy += answers.filter((r) => r.statusCode === 503).length;
      await new Promise((r) => setTimeout(r, 400));
      // The one wrong password that was checked each round counts; start over with the right one.
      const ok = await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: USER.address, password: USER.password },
      });
      assert.equal(ok.statusCode, 201, `round ${round}: ${ok.body}`);
    }
    assert.ok(busy >= 4, `${busy} refused for lack of CPU`);
  });
});
