/**
 * The account-lifecycle table (docs/security.md, "Account lifecycle"), row by row and cell by cell,
 * through the real pages on SQLite and on PostgreSQL: each credential event, performed as a user or
 * an admin would, and each thing that could outlive it, tried afterwards as whoever held it would.
 * One test per cell; each fails when its cell's rule is broken.
 *
 * Rows so far: a new main password, however it is set (changed by the user, set with a one-time
 * link, the end of a password reset). Columns so far: a pending sign-in flow started with the old
 * password, older set-password and reset links, and a remembered device ("Don't ask again").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { parseMessage, startSmtp } from '../support/sinks.js';
import { addUserWithAppAndEmail } from '../support/people.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, FakeClock, makeWorld, oathtoolTotp, type World } from '../support/world.js';

/** A user of the table: an authenticator app, and a verified alternate email for reset links. */
interface Person {
  address: string;
  password: string;
  home: string;
  secret: string;
}

/** How a row's event is performed; returns the new password. */
type Event = (p: Person) => Promise<string>;

for (const kind of STORE_KINDS) {
  describe(`account lifecycle on ${kind}: a new main password`, () => {
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    const clock = new FakeClock(Date.UTC(2026, 11, 6, 9, 0, 0));
    let n = 0;
    let ip = 10;
    const browser = () => new Browser(w.app, { 'x-forwarded-for': `198.51.100.${ip++}` });
    /** A fresh TOTP code: each in a time step of its own, so none is refused as a replay. */
    const code = (secret: string) => {
      clock.advance(30_000);
      return oathtoolTotp(secret, clock.now());
    };

    /** A new user with an authenticator app and an alternate email, registered through the pages. */
    async function person(): Promise<Person> {
      const i = ++n;
      const p = {
        address: `p${i}@contoso.test`,
        password: `orchard-lantern-${i}-fjord-42`,
        home: `p${i}@home.example`,
      };
      const { secret } = await addUserWithAppAndEmail(w, browser(), clock, smtp.received, p);
      return { ...p, secret };
    }

    /** Signs in with password and a second factor; returns where the browser ends up. */
    async function signIn(b: Browser, p: Person, password: string, remember = false): Promise<string> {
      const r = await b.signIn(p.address, password);
      if (r.headers.location !== '/signin/mfa') return String(r.headers.location ?? r.statusCode);
      const v = await b.submit('/signin/mfa', '/signin/mfa/verify', {
        code: code(p.secret),
        ...(remember ? { remember: '1' } : {}),
      });
      return String(v.headers.location ?? v.statusCode);
    }

    /** The newest reset link mailed to `to` (path and query). */
    function resetLinkTo(to: string): string {
      const mail = [...smtp.received]
        .reverse()
        .find((r) => r.to.includes(to) && /reset-password\?token=/.test(parseMessage(r.raw).body));
      assert.ok(mail, `a reset link was mailed to ${to}`);
      const u = new URL(/(http:\/\/\S+\/reset-password\?token=\S+)/.exec(parseMessage(mail.raw).body)![1]!);
      return u.pathname + u.search;
    }

    async function requestReset(p: Person): Promise<string> {
      await browser().submit('/forgot-password', '/forgot-password', { email: p.address });
      await w.ctx.passwordReset.idle();
      return resetLinkTo(p.home);
    }

    /** A one-time set-password link, as `sesame user link` or the admin gives it. */
    async function setPasswordLink(p: Person): Promise<string> {
      const { token } = await w.ctx.accounts.issueSetPasswordToken(OPERATOR, p.address);
      return `/set-password?token=${encodeURIComponent(token)}`;
    }

    const fresh = (p: Person) => `${p.password}-new${++n}`;

    /** The rows: each way a main password is set. */
    const rows: Record<string, Event> = {
      'the user changes it (Change password)': async (p) => {
        const b = browser();
        assert.equal(await signIn(b, p, p.password), '/account');
        const password = fresh(p);
        const r = await b.submit('/account/password', '/account/password', {
          current: p.password,
          password,
          confirm: password,
        });
        assert.equal(r.statusCode, 303, r.body);
        return password;
      },
      'a one-time set-password link sets it': async (p) => {
        const link = await setPasswordLink(p);
        const password = fresh(p);
        const r = await browser().submit(link, '/set-password', {
          token: new URLSearchParams(link.split('?')[1]).get('token')!,
          password,
          confirm: password,
        });
        assert.equal(r.headers.location, '/signin?m=password', r.body);
        return password;
      },
      'a password reset ends (link, second factor, new password)': async (p) => {
        const link = await requestReset(p);
        const b = browser();
        const opened = await b.submit(link, '/reset-password', {
          token: new URLSearchParams(link.split('?')[1]).get('token')!,
        });
        assert.equal(opened.headers.location, '/reset-password/flow');
        await b.submit('/reset-password/flow', '/reset-password/flow/verify', { code: code(p.secret) });
        const password = fresh(p);
        const done = await b.submit('/reset-password/flow', '/reset-password/flow/password', {
          password,
          confirm: password,
        });
        // The reset's own flow goes on to its end: the other flows of the user end, not this one.
        assert.equal(done.statusCode, 303, done.body);
        assert.ok(b.cookies.has('sesame_session'), 'the reset ends signed in');
        return password;
      },
    };

    before(async () => {
      smtp = await startSmtp();
      w = await makeWorld(
        kind,
        {
          smtpUrl: `smtp://127.0.0.1:${smtp.port}`,
          mailFrom: 'Sesame <sesame@contoso.test>',
          trustedProxies: ['127.0.0.1'],
        },
        { clock },
      );
      const org = await w.ctx.accounts.organizationByDomain('contoso.test');
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { rememberDays: 30 });
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
    });

    for (const [row, event] of Object.entries(rows)) {
      describe(row, () => {
        it('ends a sign-in flow started with the old password: its second factor no longer finishes it', async () => {
          const p = await person();
          const thief = browser();
          assert.equal((await thief.signIn(p.address, p.password)).headers.location, '/signin/mfa');
          await event(p);
          const finish = await thief.submit('/signin/mfa', '/signin/mfa/verify', { code: code(p.secret) });
          assert.equal(finish.statusCode, 400, 'the flow is gone');
          assert.match(finish.body, /expired|verlopen/i);
          assert.ok(!thief.cookies.has('sesame_session'), 'and no session came of it');
        });

        it('ends older set-password and reset links: neither sets another password', async () => {
          const p = await person();
          const olderSetLink = await setPasswordLink(p);
          const olderReset = await requestReset(p);
          await event(p);
          const set = await browser().get(olderSetLink);
          assert.equal(set.statusCode, 400, 'the older set-password link is refused');
          const opened = await browser().submit(olderReset, '/reset-password', {
            token: new URLSearchParams(olderReset.split('?')[1]).get('token')!,
          });
          assert.notEqual(opened.headers.location, '/reset-password/flow', 'the older reset link opens nothing');
          assert.equal(opened.statusCode, 400);
        });

        it('forgets remembered devices: a device remembered before is asked for a second factor again', async () => {
          const p = await person();
          const device = browser();
          assert.equal(await signIn(device, p, p.password, true), '/account');
          await device.submit('/account', '/signout', {});
          const before = await device.signIn(p.address, p.password);
          assert.equal(before.headers.location, '/account', 'remembered: no second step before the change');
          await device.submit('/account', '/signout', {});
          const password = await event(p);
          const afterwards = await device.signIn(p.address, password);
          assert.equal(afterwards.headers.location, '/signin/mfa', 'asked again after the change');
        });
      });
    }
  });
}
