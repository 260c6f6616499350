/**
 * What a reviewer would probe in the answers kept in memory (issue #21, item 1), on both stores:
 *   - memory is keyed by the keyed hash alone, but an answer is for its owner only: another user's
 *     address with an app password held in memory is a wrong password, not "ok";
 *   - a race: an app password revoked while its row is being read is not kept (the token moved);
 *   - memory is bounded (SESAME_ANSWER_CACHE_ROWS), and 0 keeps nothing;
 *   - a wrong password after a good one is still counted towards the IP lock (memory answers good
 *     app passwords only; nothing about failures comes from it);
 *   - memory holds no password: the rows it keeps are keyed by the keyed hash and carry none.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`answers in memory, probed (${kind})`, () => {
    let w: World;
    let key = '';
    let bob: User;
    const mail = async (user: string, password: string, ip = '192.0.2.7') =>
      (
        await w.app.inject({
          method: 'POST',
          url: '/auth/mail',
          headers: { authorization: `Bearer ${key}` },
          payload: { user, password, service: 'imap', remoteIp: ip },
        })
      ).statusCode;
    const newAppPassword = async (name: string) =>
      w.ctx.appPasswords.create(bob, null, name, { ip: '127.0.0.1', locale: 'en' });

    before(async () => {
      w = await makeWorld(kind, { ipFailureLimit: 5, answerCacheRows: 3 });
      key = (await w.ctx.integrations.add('dovecot')).key;
      for (const a of [USER.address, ADMIN.address]) await w.ctx.mfaAdmin.setUserState(OPERATOR, a, 'enforced');
      bob = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    });
    after(async () => w.close());

    it("an app password in memory is not another user's", async () => {
      const { password } = await newAppPassword('Phone');
      assert.equal(await mail(USER.address, password), 200);
      assert.equal(await mail(USER.address, password), 200);
      assert.equal(await mail(ADMIN.address, password), 401, "Bob's app password as Ada");
      assert.equal(await mail(USER.address, password), 200);
    });

    it('an app password revoked while its row is read is not kept', async () => {
      const made = await newAppPassword('Tablet');
      // The read and the revocation race: whatever the read saw, the next attempt is refused.
      const [first] = await Promise.all([
        mail(USER.address, made.password),
        w.ctx.appPasswords.remove(bob, made.appPassword.id),
      ]);
      assert.ok(first === 200 || first === 401, String(first));
      assert.equal(await mail(USER.address, made.password), 401);
      assert.equal(await mail(USER.address, made.password), 401);
    });

    it('memory is bounded, and keeps no password', async () => {
      const made = [await newAppPassword('A'), await newAppPassword('B'), await newAppPassword('C')];
      for (const m of made) assert.equal(await mail(USER.address, m.password), 200);
      assert.ok(w.ctx.answers!.counts().rows <= 3, JSON.stringify(w.ctx.answers!.counts()));
      const held = JSON.stringify([...(w.ctx.answers as unknown as { rows: Map<string, unknown> }).rows]);
      for (const m of made) {
        assert.ok(!held.includes(m.password), 'no password in memory');
        assert.ok(!held.includes(m.password.replaceAll('-', '')), 'not even without its dashes');
      }
    });

    it('a wrong password after a good one still counts towards the IP lock', async () => {
      const { password } = await newAppPassword('Laptop');
      const ip = '198.51.100.77';
      assert.equal(await mail(USER.address, password, ip), 200);
      const gone = await newAppPassword('Gone');
      await w.ctx.appPasswords.remove(bob, gone.appPassword.id);
      // Distinct wrong (well-formed) passwords: each counts once on the IP.
      const wrong: string[] = [];
      for (let i = 0; i < 6; i++) {
        const g = await newAppPassword(`Gone ${i}`);
        await w.ctx.appPasswords.remove(bob, g.appPassword.id);
        wrong.push(g.password);
      }
      const answers = [];
      for (const p of wrong) answers.push(await mail(USER.address, p, ip));
      assert.ok(
        answers.every((s) => s === 401),
        answers.join(),
      );
      const state = await w.ctx.legacy.verify({ user: USER.address, password, protocol: 'imap', ip });
      assert.equal(state.reason, 'ok', 'a good app password is never locked out');
      const locked = await w.ctx.legacy.verify({ user: USER.address, password: wrong[0]!, protocol: 'imap', ip });
      assert.equal(
        locked.reason,
        'ip_locked',
        'but the IP that guessed is locked: memory answered none of the guesses',
      );
    });
  });
}

describe('SESAME_ANSWER_CACHE_ROWS=0', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite', { answerCacheRows: 0 });
  });
  after(async () => w.close());
  it('keeps nothing in memory and has no cache metrics', async () => {
    assert.equal(w.ctx.answers, undefined);
    const { body } = await w.ctx.metrics.scrape();
    assert.ok(!body.includes('sesame_answer_cache'), 'no cache series');
  });
});
