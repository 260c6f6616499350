/**
 * Main passwords (checklist 1-4, 7, 20): no truncation or case folding, the policy wherever a
 * password is set, no way to change one in a session, Argon2id at OWASP's parameters with a salt
 * and off the event loop, a set-password link as the way back into a locked account, and a reset
 * that leaves MFA alone.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { createArgon2Hasher } from '../../src/lib/crypto/password-hasher.js';
import { routesOf } from '../support/routes.js';
import { Browser, csrfFrom, FakeClock, makeWorld, registerTotpAtSignIn, USER, type World } from '../support/world.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('main passwords', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 9, 0, 0));
  before(async () => {
    // The production hasher: one test below reads its parameters from the stored hashes.
    w = await makeWorld(
      'sqlite',
      { accountFailureLimit: 5, lockBaseSeconds: 60 },
      { clock, passwordHasher: createArgon2Hasher() },
    );
  });
  after(async () => w.close());

  const userRow = (address: string) =>
    w.ctx.store.db.selectFrom('users').selectAll().where('address', '=', address).executeTakeFirstOrThrow();

  /** Sets a password through a one-time link, as the user would: the link's page, then its form. */
  async function setThroughLink(address: string, password: string) {
    const { token } = await w.ctx.accounts.issueSetPasswordToken(OPERATOR, address);
    const b = new Browser(w.app);
    const form = await b.get(`/set-password?token=${encodeURIComponent(token)}`);
    assert.equal(form.statusCode, 200, 'the link opens');
    return b.post('/set-password', { _csrf: csrfFrom(form.body), token, password, confirm: password });
  }

  it('a 64-character password signs in; its 63-character prefix, the same in another case, or one more character do not', async () => {
    const long = 'Tangerine-Quartz-Oboe-Lighthouse-Marmalade-Xylophone-Ferris-8837';
    assert.equal([...long].length, 64);
    await w.ctx.accounts.addUser(OPERATOR, { address: 'long@contoso.test', name: 'Lena Long', password: long });
    const signIn = (password: string) => new Browser(w.app).signIn('long@contoso.test', password);
    assert.equal((await signIn(long.slice(0, 63))).statusCode, 401, 'no truncation: the 63-character prefix is wrong');
    assert.equal((await signIn(long.toLowerCase())).statusCode, 401, 'no case folding');
    assert.equal((await signIn(long.toUpperCase())).statusCode, 401, 'no case folding');
    assert.equal((await signIn(`${long}!`)).statusCode, 401);
    const ok = await signIn(long);
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/account');
    // The JSON API takes the same password whole.
    assert.equal(
      (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: 'long@contoso.test', password: long.slice(0, 63) },
        })
      ).statusCode,
      401,
    );
    assert.equal(
      (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: 'long@contoso.test', password: long },
        })
      ).statusCode,
      201,
    );
    // 128 characters, no composition rule (lower-case letters only), are accepted when set.
    const plain = 'q'.repeat(64) + 'z'.repeat(64);
    assert.equal((await setThroughLink('long@contoso.test', plain)).statusCode, 303);
    assert.equal((await signIn(plain)).statusCode, 303);
    assert.equal((await signIn(plain.slice(0, 127))).statusCode, 401);
  });

  it("refuses common passwords and the user's own name or domain wherever one is set: new user, operator, link", async () => {
    await assert.rejects(w.ctx.accounts.addUser(OPERATOR, { address: 'new1@contoso.test', password: 'password123' }), {
      code: 'password_common',
    });
    await assert.rejects(
      w.ctx.accounts.addUser(OPERATOR, {
        address: 'new2@contoso.test',
        name: 'Nora Newman',
        password: 'newman-silver-kettle',
      }),
      { code: 'password_contains_identity' },
    );
    await assert.rejects(w.ctx.accounts.setPassword(OPERATOR, USER.address, 'iloveyou'), { code: 'password_common' });
    await assert.rejects(w.ctx.accounts.setPassword(OPERATOR, USER.address, 'contoso-silver-kettle-5'), {
      code: 'password_contains_identity',
    });
    const named = await setThroughLink(USER.address, 'builder-silver-kettle-5');
    assert.equal(named.statusCode, 400, "the user's name in a password set through a link");
    const common = await setThroughLink(USER.address, 'qwertyuiop');
    assert.equal(common.statusCode, 400);
    assert.match(common.body, /too common/);
    assert.equal((await new Browser(w.app).signIn(USER.address, USER.password)).statusCode, 303, 'nothing was changed');
  });

  it('no route changes a password in a session alone: a one-time link, a reset link and its second factor, the current password, or the operator; the forms leave pasting and password managers alone', async () => {
    // Every route that touches a main password (app passwords aside): the token-bound /set-password,
    // the reset link and its flow (issue 9), and Change password, which needs the current one.
    const touching = routesOf(w.app).filter(
      (r) => /password/i.test(r.url) && !/app-password/.test(r.url) && r.method !== 'HEAD',
    );
    const resetFlow = [
      'cancel',
      'choose',
      'done',
      'method',
      'next',
      'password',
      'pick',
      'resend',
      'setup',
      'switch',
      'verify',
    ].map((a) => `POST /reset-password/flow/${a}`);
    assert.deepEqual(
      touching.map((r) => `${r.method} ${r.url}`).sort(),
      [
        'GET /account/password',
        'GET /api/v1/me/password',
        'GET /forgot-password',
        'GET /reset-password',
        'GET /reset-password/flow',
        'GET /set-password',
        'POST /account/password',
        // An admin's "Send set-password link" makes a link only: the password is set at /set-password, with its token.
        'POST /admin/users/set-password-link',
        'POST /api/v1/password-reset',
        'POST /forgot-password',
        'POST /reset-password',
        ...resetFlow,
        'POST /set-password',
        'PUT /api/v1/me/password',
      ].sort(),
    );
    // A signed-in session without the link's token, the current password or a reset flow changes nothing.
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    const page = await b.get('/account');
    const res = await b.post('/set-password', {
      _csrf: csrfFrom(page.body),
      token: '',
      password: 'session-only-kettle-77',
      confirm: 'session-only-kettle-77',
    });
    assert.equal(res.statusCode, 400);
    const change = await b.post('/account/password', {
      _csrf: csrfFrom(page.body),
      current: '',
      password: 'session-only-kettle-77',
      confirm: 'session-only-kettle-77',
    });
    assert.equal(change.statusCode, 400);
    const reset = await b.post('/reset-password/flow/password', {
      _csrf: csrfFrom(page.body),
      password: 'session-only-kettle-77',
      confirm: 'session-only-kettle-77',
    });
    assert.equal(reset.statusCode, 400);
    assert.equal((await new Browser(w.app).signIn(USER.address, 'session-only-kettle-77')).statusCode, 401);
    // Password managers: the fields say what they hold; nothing blocks pasting; 64+ characters fit.
    const signin = (await new Browser(w.app).get('/signin')).body;
    assert.match(signin, /<input id="email" name="email" type="email" autocomplete="username"/);
    assert.match(
      signin,
      /<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"( aria-describedby="[^"]*")? ?>/,
    );
    const { token } = await w.ctx.accounts.issueSetPasswordToken(OPERATOR, USER.address);
    const setpw = (await new Browser(w.app).get(`/set-password?token=${token}`)).body;
    assert.match(setpw, /name="username" autocomplete="username" value="bob@contoso\.test"/);
    assert.equal(
      (setpw.match(/type="password" autocomplete="new-password" required minlength="8" maxlength="1024"/g) ?? [])
        .length,
      2,
    );
    for (const html of [signin, setpw]) assert.doesNotMatch(html, /onpaste|oncopy|ondrop|autocomplete="off"/i);
    for (const f of fs.readdirSync(path.join(root, 'public')).filter((n) => n.endsWith('.js'))) {
      assert.doesNotMatch(
        fs.readFileSync(path.join(root, 'public', f), 'utf8'),
        /paste|preventDefault\(\)[^;]*;[^}]*password/i,
        f,
      );
    }
    // No security questions: no page asks for one.
    assert.doesNotMatch(signin + setpw, /security question|mother|first pet/i);
  });

  it('stores Argon2id with m=19456, t=2, p=1 and a fresh salt per hash, read from the hashes themselves', async () => {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'twin1@contoso.test', password: 'identical-walnut-sonnet-4' });
    await w.ctx.accounts.addUser(OPERATOR, { address: 'twin2@contoso.test', password: 'identical-walnut-sonnet-4' });
    const hashes = [
      (await userRow('twin1@contoso.test')).password_hash!,
      (await userRow('twin2@contoso.test')).password_hash!,
    ];
    for (const h of hashes) {
      const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(h);
      assert.ok(m, `an Argon2id PHC string: ${h.slice(0, 40)}…`);
      assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[3])], [19456, 2, 1]);
      assert.ok(Buffer.from(m[4]!, 'base64').length >= 16, 'a salt of 16 bytes or more');
      assert.equal(Buffer.from(m[5]!, 'base64').length, 32);
    }
    assert.notEqual(hashes[0]!.split('$')[4], hashes[1]!.split('$')[4], 'the same password gets a different salt');
    assert.notEqual(hashes[0], hashes[1]);
  });

  it('hashes and verifies off the event loop: timers keep firing while eight hashes run', async () => {
    const hasher = createArgon2Hasher();
    const turns = async (work: () => Promise<unknown>) => {
      let n = 0;
      const timer = setInterval(() => n++, 1);
      try {
        await work();
      } finally {
        clearInterval(timer);
      }
      return n;
    };
    const stored = await hasher.hash('loop-check-walnut-9');
    // Blocking hashing would run all eight in the call itself: the loop would not turn once.
    assert.ok(
      (await turns(() => Promise.all(Array.from({ length: 8 }, (_, i) => hasher.hash(`loop-check-walnut-${i}`))))) >= 3,
      'hash() blocked the event loop',
    );
    assert.ok(
      (await turns(() => Promise.all(Array.from({ length: 8 }, () => hasher.verify(stored, 'loop-check-walnut-9'))))) >=
        3,
      'verify() blocked the event loop',
    );
    assert.ok(
      (await turns(() => Promise.all(Array.from({ length: 8 }, () => hasher.burn('no-such-user-password'))))) >= 3,
      'burn() blocked the event loop',
    );
  });

  it('a set-password link works while the account is locked, and lifts the lock', async () => {
    await w.ctx.accounts.addUser(OPERATOR, {
      address: 'locked@contoso.test',
      name: 'Lou Locked',
      password: 'first-walnut-sonnet-44',
    });
    for (let i = 0; i < 5; i++)
      assert.equal((await new Browser(w.app).signIn('locked@contoso.test', `attacker-guess-${i}-x`)).statusCode, 401);
    const locked = await new Browser(w.app).signIn('locked@contoso.test', 'first-walnut-sonnet-44');
    assert.equal(locked.statusCode, 429, 'an attacker locked the account: the right password is refused');
    // The way back: a one-time link from an admin (recovery is not throttled by the lock).
    assert.equal((await setThroughLink('locked@contoso.test', 'second-walnut-sonnet-55')).statusCode, 303);
    const back = await new Browser(w.app).signIn('locked@contoso.test', 'second-walnut-sonnet-55');
    assert.equal(back.statusCode, 303, 'the recovered account signs in at once');
    assert.equal(back.headers.location, '/account');
    // The lock is lifted for the recovered password, not turned off: guessing locks it again.
    for (let i = 0; i < 5; i++) await new Browser(w.app).signIn('locked@contoso.test', `attacker-again-${i}-x`);
    assert.equal((await new Browser(w.app).signIn('locked@contoso.test', 'second-walnut-sonnet-55')).statusCode, 429);
  });

  it('a password reset keeps the user’s MFA: the second factor is still asked for, methods and state unchanged', async () => {
    await w.ctx.accounts.addUser(OPERATOR, {
      address: 'mfa@contoso.test',
      name: 'Mia Factor',
      password: 'before-reset-walnut-1',
    });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'mfa@contoso.test', 'enabled');
    assert.equal(
      (await registerTotpAtSignIn(new Browser(w.app), clock, 'mfa@contoso.test', 'before-reset-walnut-1')).done.headers
        .location,
      '/account',
    );
    const id = (await userRow('mfa@contoso.test')).id;
    const methods = async () =>
      (await w.ctx.store.db.selectFrom('mfa_methods').select(['id', 'kind']).where('user_id', '=', id).execute()).map(
        (m) => `${m.kind}:${m.id}`,
      );
    const before = await methods();
    const codesBefore = await w.ctx.store.db
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('user_id', '=', id)
      .execute();

    assert.equal((await setThroughLink('mfa@contoso.test', 'after-reset-walnut-2')).statusCode, 303);
    await w.ctx.accounts.setPassword(OPERATOR, 'mfa@contoso.test', 'after-reset-walnut-3');
    assert.deepEqual(await methods(), before, 'the methods are all still there');
    assert.equal((await userRow('mfa@contoso.test')).mfa_state, 'enforced');
    assert.equal(
      (await w.ctx.store.db.selectFrom('recovery_codes').select('code_hash').where('user_id', '=', id).execute())
        .length,
      codesBefore.length,
    );
    const again = new Browser(w.app);
    const r = await again.signIn('mfa@contoso.test', 'after-reset-walnut-3');
    assert.equal(r.headers.location, '/signin/mfa', 'the new password alone is not enough');
    assert.ok(!again.cookies.has('sesame_session'));
    assert.match((await again.get('/signin/mfa')).body, /Enter the code shown in your authenticator app\./);
    const api = await w.app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      payload: { email: 'mfa@contoso.test', password: 'after-reset-walnut-3' },
    });
    assert.equal(api.statusCode, 200);
    assert.equal(api.json().state, 'second_factor');
  });
});
