/**
 * No user enumeration (checklist 12): a real user with a wrong password, an unknown user, a
 * disabled user and a user with no password yet get the same status, body, cookies and redirect,
 * and each costs exactly one Argon2 verification.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { createArgon2Hasher } from '../../src/lib/crypto/password-hasher.js';
import { Browser, countingHasher, makeWorld, USER, type World } from '../support/world.js';

describe('sign-in does not reveal whether an account exists', () => {
  let w: World;
  const counting = countingHasher(createArgon2Hasher());
  before(async () => {
    w = await makeWorld('sqlite', {}, { passwordHasher: counting.hasher });
    await w.ctx.accounts.addUser(OPERATOR, { address: 'off@contoso.test', password: 'granite-orchid-sail-31' });
    await w.ctx.accounts.disableUser(OPERATOR, 'off@contoso.test');
    await w.ctx.accounts.addUser(OPERATOR, { address: 'new@contoso.test' });
  });
  after(async () => w.close());

  const cases = [
    { label: 'real user, wrong password', email: USER.address, password: 'wrong-password-123' },
    { label: 'unknown user', email: 'ghost@contoso.test', password: 'wrong-password-123' },
    { label: 'unknown organization', email: 'ghost@nowhere.test', password: 'wrong-password-123' },
    { label: 'disabled user, right password', email: 'off@contoso.test', password: 'granite-orchid-sail-31' },
    { label: 'user without a password yet', email: 'new@contoso.test', password: 'wrong-password-123' },
  ];

  /** The page with the parts that legitimately differ (the echoed address and the fresh CSRF token) masked. */
  const normalise = (body: string, email: string) =>
    body.replaceAll(email, 'EMAIL').replace(/name="_csrf" value="[^"]+"/g, 'CSRF');

  it('answers the web form identically and costs one hash each time', async () => {
    const seen: { status: number; body: string; cookies: string[]; location: unknown }[] = [];
    for (const c of cases) {
      const before = counting.calls.verify + counting.calls.burn;
      const res = await new Browser(w.app).signIn(c.email, c.password);
      assert.equal(
        counting.calls.verify + counting.calls.burn - before,
        1,
        `${c.label}: exactly one Argon2 verification`,
      );
      seen.push({
        status: res.statusCode,
        body: normalise(res.body, c.email),
        cookies: (res.cookies as { name: string }[]).map((k) => k.name).sort(),
        location: res.headers.location,
      });
    }
    for (let i = 1; i < seen.length; i++) assert.deepEqual(seen[i], seen[0], cases[i]!.label);
    assert.equal(seen[0]!.status, 401);
    assert.match(seen[0]!.body, /Your account or password is incorrect\./);
  });

  it('answers the JSON API identically', async () => {
    const bodies = await Promise.all(
      cases.map(async (c) => {
        const r = await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: c.email, password: c.password },
        });
        return { status: r.statusCode, body: r.body, setCookie: r.headers['set-cookie'] };
      }),
    );
    for (const b of bodies) assert.deepEqual(b, bodies[0]);
  });

  it('logs the real reason for the admin, not for the visitor', async () => {
    const rows = await w.ctx.store.db.selectFrom('sign_in_events').select(['address_typed', 'reason']).execute();
    const reasons = Object.fromEntries(rows.map((r) => [r.address_typed, r.reason]));
    assert.equal(reasons[USER.address], 'wrong_password');
    assert.equal(reasons['ghost@contoso.test'], 'unknown_user');
    assert.equal(reasons['off@contoso.test'], 'user_disabled');
    assert.equal(reasons['new@contoso.test'], 'no_password_set');
  });
});
