/**
 * Fills an organization with many users straight through the store (multi-row INSERTs, no Argon2
 * hash: none of them signs in), with a spread of MFA states, methods, app passwords, statuses and
 * last sign-ins that a test can recompute from the same generator (`seededUser`).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { MethodKind, MfaState } from '../../src/domain/mfa/model.js';
import type { Database } from '../../src/storage/schema.js';

export const DAY = 86_400_000;

export interface SeededUser {
  id: string;
  address: string;
  name: string;
  mfaState: MfaState;
  status: 'active' | 'disabled';
  createdAt: number;
  /** 0: never. */
  lastSignInAt: number;
  methods: MethodKind[];
  appPasswords: number;
}

const pad = (n: number) => String(n).padStart(5, '0');

/** The i-th seeded user of `domain`, relative to `now`. */
export function seededUser(i: number, domain: string, now: number): SeededUser {
  const methods: MethodKind[] = [];
  if (i % 5 === 0) methods.push('totp');
  if (i % 7 === 0) methods.push('webauthn');
  return {
    id: randomUUID(),
    address: `u${pad(i)}@${domain}`,
    // A permutation of the numbers (7919 is prime to 50,000), so name order is not address order.
    name: `Person ${pad((i * 7919) % 50_000)}`,
    mfaState: (['disabled', 'enabled', 'enforced'] as const)[i % 3]!,
    status: i % 50 === 1 ? 'disabled' : 'active',
    createdAt: now - 400 * DAY + i * 1000,
    lastSignInAt: i % 4 === 0 ? 0 : now - (i % 100) * DAY - 1000,
    methods,
    appPasswords: i % 10 === 3 ? 1 : 0,
  };
}

/** Inserts `count` seeded users into organization `orgId`; returns them in index order. */
export async function seedUsers(
  db: Kysely<Database>,
  orgId: string,
  domain: string,
  count: number,
  now: number,
): Promise<SeededUser[]> {
  const users = Array.from({ length: count }, (_, i) => seededUser(i, domain, now));
  const CHUNK = 1000;
  await db.transaction().execute(async (tx) => {
    for (let i = 0; i < users.length; i += CHUNK) {
      const part = users.slice(i, i + CHUNK);
      await tx
        .insertInto('users')
        .values(
          part.map((u) => ({
            id: u.id,
            org_id: orgId,
            address: u.address,
            name: u.name,
            status: u.status,
            role: 'user',
            password_hash: null,
            password_changed_at: null,
            created_at: u.createdAt,
            mfa_state: u.mfaState,
            default_method_id: null,
            last_sign_in_at: u.lastSignInAt,
          })),
        )
        .execute();
      const methods = part.flatMap((u) =>
        u.methods.map((kind) => ({
          id: randomUUID(),
          user_id: u.id,
          kind,
          label: kind,
          target: null,
          secret_enc: null,
          last_step: null,
          credential_id: null,
          public_key: null,
          sign_count: null,
          transports: null,
          created_at: u.createdAt,
          last_used_at: null,
        })),
      );
      if (methods.length) await tx.insertInto('mfa_methods').values(methods).execute();
      const aps = part
        .filter((u) => u.appPasswords)
        .map((u) => ({
          id: randomUUID(),
          user_id: u.id,
          name: 'Phone',
          hash: randomUUID(),
          protocols: 'imap,smtp',
          created_at: u.createdAt,
          created_ip: '127.0.0.1',
          expires_at: null,
          last_used_at: null,
          last_used_protocol: null,
          last_used_ip: null,
        }));
      if (aps.length) await tx.insertInto('app_passwords').values(aps).execute();
    }
  });
  return users;
}
