/**
 * Who is asking. The CLI runs as the operator (whoever can read the data folder owns the
 * service); everyone else is a signed-in user whose rights are checked on every call.
 */
import { SesameError } from '../errors.js';
import type { User } from './model.js';

export type Actor = { kind: 'operator' } | { kind: 'user'; user: User };

export const OPERATOR: Actor = { kind: 'operator' };

export function actorLabel(a: Actor): string {
  return a.kind === 'operator' ? 'operator (CLI)' : a.user.address;
}

export function actorId(a: Actor): string | null {
  return a.kind === 'operator' ? null : a.user.id;
}

/** Throws unless the actor may administer organization `orgId`: the operator, or an active admin of that organization. */
export function requireAdminOf(a: Actor, orgId: string): void {
  if (a.kind === 'operator') return;
  if (a.user.role === 'admin' && a.user.status === 'active' && a.user.orgId === orgId) return;
  throw new SesameError('forbidden', `${a.user.address} is not an admin of organization ${orgId}`);
}
