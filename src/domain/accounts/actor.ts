/**
 * Who is asking. The CLI runs as the operator (whoever can read the data folder owns the
 * service); everyone else is a signed-in user whose rights are checked on every call.
 */
import { SesameError } from '../errors.js';
import { provesSecondFactor } from '../mfa/model.js';
import type { User } from './model.js';

/**
 * A signed-in user acts through a session; `amr` is what that session proved. Admin rights need
 * a second factor in it (checklist 36), so an actor built without `amr` has no admin rights.
 */
export type Actor = { kind: 'operator' } | { kind: 'user'; user: User; amr?: readonly string[] };

/** The actor for `user` acting through `session` (web page or bearer token). */
export function sessionActor(user: User, session: { amr: readonly string[] }): Actor {
  return { kind: 'user', user, amr: session.amr };
}

export const OPERATOR: Actor = { kind: 'operator' };

export function actorLabel(a: Actor): string {
  return a.kind === 'operator' ? 'operator (CLI)' : a.user.address;
}

export function actorId(a: Actor): string | null {
  return a.kind === 'operator' ? null : a.user.id;
}

/**
 * Throws unless the actor may administer organization `orgId`: the operator, or an active admin of
 * that organization whose session proved a second factor (`admin_mfa_required` otherwise; checked
 * after the organization, so it tells an admin nothing about another organization).
 */
export function requireAdminOf(a: Actor, orgId: string): void {
  if (a.kind === 'operator') return;
  if (a.user.role === 'admin' && a.user.status === 'active' && a.user.orgId === orgId) {
    if (provesSecondFactor(a.amr ?? [])) return;
    throw new SesameError(
      'admin_mfa_required',
      `${a.user.address} used admin rights from a session without a second factor`,
    );
  }
  throw new SesameError('forbidden', `${a.user.address} is not an admin of organization ${orgId}`);
}
