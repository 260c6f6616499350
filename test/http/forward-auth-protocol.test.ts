/**
 * `/auth/basic?protocol=dav|http` (issue #16, item 4): the forward-auth proxy says which protocol it
 * protects, so an app password allowed for DAV only opens CalDAV/CardDAV and nothing else (not plain
 * `http`, not IMAP through /auth/mail), an app password without DAV does not open DAV, the
 * organization's policy can forbid one of the two without the other, and the sign-in log says `dav`.
 * Any other protocol name is the proxy's configuration error: 400 saying so, nothing checked, logged
 * or counted. On both stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { Protocol } from '../../src/domain/app-passwords/model.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`/auth/basic?protocol= (${kind})`, () => {
    let w: World;
    let key = '';
    let orgId = '';
    const pw = { dav: '', http: '', all: '' };
    const basic = (password: string, query = '', user = USER.address) =>
      w.app.inject({
        method: 'GET',
        url: `/auth/basic${query}`,
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
      });
    const mail = (password: string, service: string) =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: USER.address, password, service, remoteIp: '192.0.2.9' },
      });
    const signIns = async () => {
      await w.ctx.flush();
      return w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['protocol', 'outcome', 'reason'])
        .orderBy('id')
        .execute();
    };
    const policy = (protocols: Protocol[]) =>
      w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { appPasswords: { protocols } });

    before(async () => {
      w = await makeWorld(kind, { accountFailureLimit: 3, ipFailureLimit: 5 });
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      orgId = user.orgId;
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
        .session;
      const make = async (name: string, protocols: Protocol[]) => {
        // An app password takes the organization's protocols when it is made.
        await policy(protocols);
        return (await w.ctx.appPasswords.create(user, s, name, { ip: '127.0.0.1', locale: 'en' })).password;
      };
      pw.dav = await make('Calendar', ['dav']);
      pw.http = await make('Script', ['http']);
      pw.all = await make('Everything', ['imap', 'pop3', 'smtp', 'dav', 'http']);
    });
    after(async () => {
      await w?.close();
    });

    it('a DAV-only app password opens DAV only: not plain http, not IMAP; the sign-in log says dav', async () => {
      const before = (await signIns()).length;
      const ok = await basic(pw.dav, '?protocol=dav');
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.headers['remote-user'], USER.address);
      assert.equal(ok.headers['x-remote-user'], USER.address, 'the header Radicale trusts, from Sesame');
      for (const q of ['', '?protocol=http']) {
        const r = await basic(pw.dav, q);
        assert.equal(r.statusCode, 401, `DAV-only on "${q}"`);
        assert.match(String(r.headers['www-authenticate']), /^Basic /);
        assert.equal(r.headers['x-remote-user'], undefined);
      }
      assert.equal((await mail(pw.dav, 'imap')).statusCode, 403, 'DAV-only on IMAP: refused');
      assert.equal((await mail(pw.dav, 'dav')).statusCode, 200, "/auth/mail's dav service agrees");
      // (The two identical http refusals in a row may be logged once: the log folds repeats.)
      const rows = [...new Set((await signIns()).slice(before).map((r) => `${r.protocol} ${r.outcome} ${r.reason}`))];
      assert.deepEqual(rows, [
        'dav success ok',
        'http failure protocol_not_allowed',
        'imap failure protocol_not_allowed',
      ]);
    });

    it('an http-only app password is refused on DAV; the default protocol is http, as before', async () => {
      assert.equal((await basic(pw.http, '?protocol=dav')).statusCode, 401);
      assert.equal((await basic(pw.http)).statusCode, 200);
      assert.equal((await basic(pw.http, '?protocol=http')).statusCode, 200);
    });

    it("the organization's policy forbids DAV without forbidding http, and the other way round", async () => {
      await policy(['imap', 'pop3', 'smtp', 'http']);
      assert.equal((await basic(pw.all, '?protocol=dav')).statusCode, 401, 'DAV off');
      assert.equal((await basic(pw.dav, '?protocol=dav')).statusCode, 401, 'DAV off, also for a DAV-only one');
      assert.equal((await basic(pw.all, '?protocol=http')).statusCode, 200, 'http still on');
      await policy(['imap', 'pop3', 'smtp', 'dav']);
      assert.equal((await basic(pw.all, '?protocol=dav')).statusCode, 200, 'DAV on');
      assert.equal((await basic(pw.all, '?protocol=http')).statusCode, 401, 'http off');
      await policy(['imap', 'pop3', 'smtp', 'dav', 'http']);
    });

    it('an unknown protocol is a clear 400, before any check: nothing logged or counted', async () => {
      const before = (await signIns()).length;
      // More attempts than the account's failure limit (3) with a wrong password: none may count.
      for (const q of [
        '?protocol=imap',
        '?protocol=DAV',
        '?protocol=',
        '?protocol=constructor',
        '?protocol=__proto__',
        '?protocol=dav&protocol=http',
      ]) {
        const r = await basic('wrong-password-1', q);
        assert.equal(r.statusCode, 400, q);
        assert.equal(r.json().result, 'invalid', q);
        assert.match(r.json().error, /unknown protocol name .* on \/auth\/basic; Sesame knows http, dav/, q);
        assert.equal(r.headers['www-authenticate'], undefined, `${q}: no challenge (nothing to retype)`);
      }
      assert.equal((await signIns()).length, before, 'no sign-in logged');
      assert.equal((await basic(pw.dav, '?protocol=dav')).statusCode, 200, 'nothing locked');
      assert.equal(
        (await basic(USER.password, '?protocol=http')).statusCode,
        401,
        'main password refused (MFA enforced)',
      );
    });
  });
}
