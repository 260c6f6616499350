/**
 * A method of a kind the organization's policy no longer allows proves nothing: not at sign-in, not
 * in a step-up, not in a challenge begun before the admin turned the kind off. The user is asked
 * for a method of an allowed kind instead, or else a recovery code; a user who had methods never
 * falls back to registering anew with the password alone. Through the pages, on both stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { METHOD_KINDS } from '../../src/domain/mfa/model.js';
import { lastEmailCode, startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, FakeClock, makeWorld, oathtoolTotp, registerTotpAtSignIn, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`methods the policy no longer allows, on ${kind}`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let orgId = '';
    const clock = new FakeClock(Date.UTC(2026, 11, 6, 9, 0, 0));
    let n = 0;
    const code = (secret: string) => {
      clock.advance(30_000);
      return oathtoolTotp(secret, clock.now());
    };
    const allow = (kinds: readonly string[]) =>
      w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { allowedMethods: [...kinds] });

    /** A user with an authenticator app (and, with `home`, an alternate email), registered through the pages. */
    async function person(home?: string) {
      const address = `m${++n}@contoso.test`;
      const password = `copper-meadow-${n}-quill-73`;
      await w.ctx.accounts.addUser(OPERATOR, { address, password });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
      const b = new Browser(w.app);
      const { secret, recoveryCodes } = await registerTotpAtSignIn(b, clock, address, password);
      if (home) {
        await b.submit('/security-info', '/security-info/add', {});
        await b.submit('/security-info/flow', '/security-info/flow/method', { kind: 'email', email: home });
        await b.submit('/security-info/flow', '/security-info/flow/verify', {
          code: lastEmailCode(smtp.received, home),
        });
        assert.equal((await b.submit('/security-info/flow', '/security-info/flow/next', {})).statusCode, 303);
      }
      const user = (await w.ctx.accounts.findUserByAddressOrNull(address))!;
      const methods = (await w.ctx.securityInfo.overview(user)).methods;
      return { address, password, secret, recoveryCodes, totpId: methods.find((m) => m.kind === 'totp')!.id };
    }

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(
        kind,
        { smtpUrl: `smtp://127.0.0.1:${smtp.port}`, mailFrom: 'Sesame <sesame@contoso.test>' },
        { clock },
      );
      orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
    });

    it('asks for an allowed method instead, and refuses to switch to the one turned off', async () => {
      const p = await person(`m${n + 1}@home.example`);
      await allow(METHOD_KINDS.filter((k) => k !== 'totp'));
      try {
        const b = new Browser(w.app);
        assert.equal((await b.signIn(p.address, p.password)).headers.location, '/signin/mfa');
        const page = await b.get('/signin/mfa');
        assert.doesNotMatch(page.body, new RegExp(`name="method" value="${p.totpId}"`), 'the app is not offered');
        assert.equal(
          (await b.submit('/signin/mfa', '/signin/mfa/verify', { code: code(p.secret) })).headers.location,
          undefined,
          'an authenticator code does not answer the email challenge',
        );
        const sw = await b.submit('/signin/mfa', '/signin/mfa/switch', { method: p.totpId });
        assert.notEqual(sw.statusCode, 303, 'switching to the app is refused');
        const done = await b.submit('/signin/mfa', '/signin/mfa/verify', {
          code: lastEmailCode(smtp.received, `m${n}@home.example`),
        });
        assert.equal(done.headers.location, '/account', 'the email code, an allowed kind, signs in');
      } finally {
        await allow(METHOD_KINDS);
      }
    });

    it('refuses a challenge begun before the admin turned the kind off', async () => {
      const p = await person();
      const b = new Browser(w.app);
      assert.equal((await b.signIn(p.address, p.password)).headers.location, '/signin/mfa');
      await allow(METHOD_KINDS.filter((k) => k !== 'totp'));
      try {
        const r = await b.submit('/signin/mfa', '/signin/mfa/verify', { code: code(p.secret) });
        assert.notEqual(r.headers.location, '/account', 'the app no longer proves anything');
        assert.ok(!b.cookies.has('sesame_session'));
      } finally {
        await allow(METHOD_KINDS);
      }
    });

    it('asks a user whose only method is turned off for a recovery code, never for a new registration', async () => {
      const p = await person();
      await allow(METHOD_KINDS.filter((k) => k !== 'totp'));
      try {
        const b = new Browser(w.app);
        assert.equal((await b.signIn(p.address, p.password)).headers.location, '/signin/mfa');
        const page = await b.get('/signin/mfa');
        assert.doesNotMatch(page.body, /action="\/signin\/mfa\/setup"/, 'no registration with the password alone');
        assert.match(page.body, /recovery code/i);
        const done = await b.submit('/signin/mfa', '/signin/mfa/verify', { code: p.recoveryCodes[0]! });
        assert.equal(done.headers.location, '/account');
      } finally {
        await allow(METHOD_KINDS);
      }
    });
  });
}
