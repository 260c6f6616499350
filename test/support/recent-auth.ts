/**
 * Recent authentication ("sudo mode") in tests, through the real surfaces: a user without a method
 * re-enters the password (the "Confirm your password" page, or POST /api/v1/me/reauth); a user with
 * a method proves it in a step-up (Security info's "Confirm it is me", then the flow's verify).
 */
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Browser } from './world.js';

/** "Confirm your password" in `b` (a user without a method); asserts it was accepted and returns the answer (a 303 to `next`). */
export async function confirmPassword(
  b: Browser,
  password: string,
  next = '/security-info',
): Promise<LightMyRequestResponse> {
  const r = await b.submit(`/security-info/reauth?${new URLSearchParams({ next })}`, '/security-info/reauth', {
    password,
    next,
  });
  assert.equal(r.statusCode, 303, `password confirmed (${r.statusCode}: ${r.body.slice(0, 200)})`);
  return r;
}

/** A step-up in `b` (a user with a method): "Confirm it is me", then the code `code()` gives. Returns the verify answer. */
export async function stepUp(
  b: Browser,
  code: () => string | Promise<string>,
  next = '/security-info',
): Promise<LightMyRequestResponse> {
  const started = await b.submit('/security-info', '/security-info/confirm', { next });
  assert.equal(started.headers.location, '/security-info/flow', 'a step-up flow started');
  const r = await b.submit('/security-info/flow', '/security-info/flow/verify', { code: await code() });
  assert.equal(r.statusCode, 303, `second factor accepted (${r.statusCode})`);
  return r;
}

/** POST /api/v1/me/reauth with the password; returns the answer (200: `token` is the session's token from now on). */
export async function reauthApi(
  app: FastifyInstance,
  token: string,
  password: string,
): Promise<{ status: number; body: { token?: string; recentAuthUntil?: string; error?: { code: string } } }> {
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/me/reauth',
    headers: { authorization: `Bearer ${token}` },
    payload: { password },
  });
  return { status: r.statusCode, body: r.json() };
}
