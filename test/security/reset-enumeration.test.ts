/**
 * "Forgot your password?" must not tell whether an account exists by how long it takes (checklist
 * 12): the answer comes before the look-up and the mail. A real SMTP server that takes 1.5 s to
 * accept the sender shows it: a known address with an alternate email is answered before that mail
 * is even accepted, as fast as an unknown one, and the mail still arrives afterwards. Both stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { lastEmailCode, startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, makeWorld, USER, type World } from '../support/world.js';

const HOME = 'bob.home@example.org';
const SMTP_DELAY_MS = 1_500;

for (const kind of STORE_KINDS) {
  describe(`reset requests on ${kind}: no enumeration by timing`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let slow = false;

    before(async () => {
      smtp = await startSmtp({
        onMailFrom(_address, _session, callback) {
          if (slow) setTimeout(() => callback(), SMTP_DELAY_MS);
          else callback();
        },
      });
      w = await makeWorld(kind, { smtpUrl: `smtp://127.0.0.1:${smtp.port}`, trustedProxies: ['127.0.0.1'] });
      // Bob's alternate email, registered as it is at sign-in: an email method confirmed by its code.
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
      const b = new Browser(w.app);
      await b.signIn(USER.address, USER.password);
      await b.submit('/signin/mfa', '/signin/mfa/setup', {});
      await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'email', email: HOME });
      await b.submit('/signin/mfa', '/signin/mfa/verify', { code: lastEmailCode(smtp.received, HOME) });
      slow = true;
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
    });

    it('answers a known address before its mail is accepted, as fast as an unknown one', async () => {
      const ask = async (email: string, ip: string) => {
        const b = new Browser(w.app, { 'x-forwarded-for': ip });
        const page = await b.get('/forgot-password');
        const started = performance.now();
        const res = await b.post('/forgot-password', {
          _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!,
          email,
        });
        return { status: res.statusCode, ms: performance.now() - started };
      };
      const before = smtp.received.length;
      const known = await ask(USER.address, '198.51.100.1');
      assert.equal(smtp.received.length, before, 'the answer came before the mail was accepted');
      const unknown = await ask('nobody@contoso.test', '198.51.100.2');
      assert.equal(known.status, 200);
      assert.equal(unknown.status, 200);
      assert.ok(
        known.ms < SMTP_DELAY_MS / 2,
        `a known address is answered in ${Math.round(known.ms)} ms, without waiting for the mail server`,
      );
      await w.ctx.passwordReset.idle();
      assert.equal(smtp.received.length, before + 1, 'and the link was sent afterwards');
      assert.deepEqual(smtp.received.at(-1)!.to, [HOME]);
    });
  });
}
