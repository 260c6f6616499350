/**
 * Users set up as the account-lifecycle tests need them, the way a person does it: added by the
 * operator with MFA `enabled`, an authenticator app registered at the first sign-in (codes from
 * oathtool), then an alternate email added on Security info (its code read from what was mailed).
 */
import assert from 'node:assert/strict';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { lastEmailCode } from './sinks.js';
import { type Browser, registerTotpAtSignIn, type World } from './world.js';

export interface AppAndEmail {
  id: string;
  /** The authenticator app's key (base32). */
  secret: string;
  totpMethodId: string;
  emailMethodId: string;
}

/** Adds `p` and registers an authenticator app and the alternate email `p.home` through the pages in `b`. */
export async function addUserWithAppAndEmail(
  w: World,
  b: Browser,
  clock: { now(): number },
  mailbox: { to: string[]; raw: string }[],
  p: { address: string; password: string; home: string },
): Promise<AppAndEmail> {
  const user = await w.ctx.accounts.addUser(OPERATOR, { address: p.address, password: p.password });
  await w.ctx.mfaAdmin.setUserState(OPERATOR, p.address, 'enabled');
  const { secret, done } = await registerTotpAtSignIn(b, clock, p.address, p.password);
  assert.equal(done.headers.location, '/account');
  await b.submit('/security-info', '/security-info/add', {});
  await b.submit('/security-info/flow', '/security-info/flow/method', { kind: 'email', email: p.home });
  await b.submit('/security-info/flow', '/security-info/flow/verify', { code: lastEmailCode(mailbox, p.home) });
  assert.equal((await b.submit('/security-info/flow', '/security-info/flow/next', {})).statusCode, 303);
  const methods = (await w.ctx.securityInfo.overview(user)).methods;
  const email = methods.find((m) => m.kind === 'email');
  const totp = methods.find((m) => m.kind === 'totp');
  assert.ok(email && totp, 'the authenticator app and the alternate email are registered');
  return { id: user.id, secret, totpMethodId: totp.id, emailMethodId: email.id };
}
