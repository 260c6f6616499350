/**
 * Several instances, one service (issue #6 item 1): two real Sesame servers on different loopback
 * ports against one real PostgreSQL database, sharing their keys through the environment as a
 * production deployment does, with requests alternating between them. A sign-in flow begun on one
 * finishes on the other; a session ended on one is gone on the other; an app password revoked on
 * one is refused by the other at the next attempt; a lockout earned on one holds on the other.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { freePort, outboxEnv, startServer, type StartedServer } from '../support/processes.js';
import { makeTestStore, type TestStore } from '../support/stores.js';
import { oathtoolTotp } from '../support/world.js';

const ADMIN = { address: 'ada@multi.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const BOB = { address: 'bob@multi.test', password: 'quiet-meadow-copper-77', name: 'Bob Builder' };
const CAROL = { address: 'carol@multi.test', password: 'amber-glacier-tunnel-19', name: 'Carol Printer' };
const FAILURE_LIMIT = 3;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('two instances on one PostgreSQL', () => {
  let store: TestStore;
  const servers: StartedServer[] = [];
  const dirs: string[] = [];
  let keyEnv: Record<string, string>;

  before(async () => {
    store = await makeTestStore('postgres');
    keyEnv = {
      SESAME_HASH_KEY: randomBytes(32).toString('base64'),
      SESAME_COOKIE_KEY: randomBytes(32).toString('base64'),
      SESAME_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };
    const secrets = {
      hashKey: Buffer.from(keyEnv.SESAME_HASH_KEY!, 'base64'),
      cookieKey: Buffer.from(keyEnv.SESAME_COOKIE_KEY!, 'base64'),
      encryptionKey: Buffer.from(keyEnv.SESAME_ENCRYPTION_KEY!, 'base64'),
    };
    const ctx = await createContext(store.config(), { secrets });
    try {
      await ctx.accounts.addOrganization(OPERATOR, 'multi.test', 'Multi');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
      await ctx.accounts.addUser(OPERATOR, { ...BOB, role: 'user' });
      await ctx.accounts.addUser(OPERATOR, { ...CAROL, role: 'user' });
      await ctx.mfaAdmin.setUserState(OPERATOR, BOB.address, 'enabled');
    } finally {
      await ctx.close();
    }
    for (let i = 0; i < 2; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sesame-multi-${i}-`));
      dirs.push(dir);
      const port = await freePort();
      servers.push(
        await startServer({
          env: outboxEnv(dir, port, path.join(dir, 'outbox.jsonl'), {
            ...keyEnv,
            DATABASE_URL: store.databaseUrl,
            SESAME_ACCOUNT_FAILURE_LIMIT: String(FAILURE_LIMIT),
          }),
        }),
      );
    }
  });

  after(async () => {
    for (const s of servers) await s.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    await store.dispose();
  });

  /** Instance 0 or 1. */
  const on = (i: number) => servers[i % 2]!.base;
  async function call(
    i: number,
    method: string,
    url: string,
    body?: object,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const res = await fetch(`${on(i)}${url}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  let bobToken = '';
  let bobAppPassword = '';

  it('a sign-in flow begun on one instance finishes on the other, step by step', async () => {
    const start = await call(0, 'POST', '/api/v1/sessions', { email: BOB.address, password: BOB.password });
    assert.equal(start.status, 200);
    assert.equal(start.body.state, 'more_info_required');
    const flow = { 'x-sesame-flow': start.body.token as string };
    // Every step goes to the instance the previous one did not.
    assert.equal((await call(1, 'POST', '/api/v1/flow/setup', {}, flow)).body.state, 'choose_method');
    const enrol = await call(0, 'POST', '/api/v1/flow/method', { kind: 'totp' }, flow);
    assert.equal(enrol.body.state, 'verify_enrolment');
    const secret = (enrol.body.prompt as { secret: string }).secret;
    assert.equal(
      (await call(1, 'GET', '/api/v1/flow', undefined, flow)).body.state,
      'verify_enrolment',
      'the other instance sees the same step',
    );
    assert.equal(
      (await call(1, 'POST', '/api/v1/flow/verify', { code: oathtoolTotp(secret, Date.now()) }, flow)).body.state,
      'enrolled',
    );
    const keep = await call(0, 'POST', '/api/v1/flow/next', {}, flow);
    assert.equal(keep.body.state, 'app_password');
    bobAppPassword = (keep.body.appPassword as { password: string }).password;
    assert.equal((await call(1, 'POST', '/api/v1/flow/next', {}, flow)).body.state, 'recovery_codes');
    const done = await call(0, 'POST', '/api/v1/flow/done', {}, flow);
    assert.equal(done.status, 201);
    bobToken = done.body.token as string;
    const me = await call(1, 'GET', '/api/v1/me', undefined, bearer(bobToken));
    assert.equal(me.status, 200);
    assert.equal((me.body.user as { mfaState: string }).mfaState, 'enforced');
    assert.equal(
      (await call(1, 'POST', '/api/v1/flow/done', {}, flow)).status,
      400,
      'the flow is over on both instances',
    );
  });

  it('a session ended on one instance is gone on the other', async () => {
    assert.equal((await call(0, 'GET', '/api/v1/me', undefined, bearer(bobToken))).status, 200);
    assert.equal((await call(1, 'DELETE', '/api/v1/sessions/current', undefined, bearer(bobToken))).status, 204);
    assert.equal((await call(0, 'GET', '/api/v1/me', undefined, bearer(bobToken))).status, 401);
    assert.equal((await call(1, 'GET', '/api/v1/me', undefined, bearer(bobToken))).status, 401);
  });

  it('an app password revoked on one instance is refused by the other at the next attempt', async () => {
    for (const i of [0, 1])
      assert.equal(
        (await call(i, 'GET', '/auth/basic', undefined, basic(BOB.address, bobAppPassword))).status,
        200,
        `accepted on instance ${i}`,
      );
    const admin = await adminApiToken(on(1), ADMIN);
    const revoked = await call(
      1,
      'DELETE',
      `/api/v1/users/${encodeURIComponent(BOB.address)}/app-passwords`,
      undefined,
      bearer(admin),
    );
    assert.deepEqual(revoked.body, { deleted: 1 });
    // The very next attempt on the other instance, with no pause.
    assert.equal((await call(0, 'GET', '/auth/basic', undefined, basic(BOB.address, bobAppPassword))).status, 401);
  });

  it('a lockout earned on one instance holds on the other, and the sign-in log says so', async () => {
    // Carol's MFA is off, so her main password works on legacy protocols until she is locked.
    assert.equal((await call(1, 'GET', '/auth/basic', undefined, basic(CAROL.address, CAROL.password))).status, 200);
    for (let n = 0; n < FAILURE_LIMIT; n++) {
      assert.equal(
        (await call(0, 'GET', '/auth/basic', undefined, basic(CAROL.address, `wrong-password-${n}`))).status,
        401,
      );
    }
    assert.equal(
      (await call(1, 'GET', '/auth/basic', undefined, basic(CAROL.address, CAROL.password))).status,
      401,
      'the right password is refused while locked',
    );
    const admin = await adminApiToken(on(0), ADMIN);
    const log = await call(1, 'GET', '/api/v1/sign-ins?limit=20', undefined, bearer(admin));
    const carol = (log.body.events as { addressTyped: string; reason: string; protocol: string }[]).filter(
      (e) => e.addressTyped === CAROL.address,
    );
    // Her right password came from this address first, so it is a familiar one: its own counter locked.
    assert.equal(carol[0]?.reason, 'account_locked_familiar', JSON.stringify(carol.slice(0, 5)));
    assert.equal(carol[0]?.protocol, 'http');
  });
});
