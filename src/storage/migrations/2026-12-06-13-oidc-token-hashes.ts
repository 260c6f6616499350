/**
 * Frozen: codes, access and refresh tokens of the OpenID Connect provider are stored under a keyed
 * hash of their value from now on (storage/oidc-repository.ts, HASHED_MODELS). Those stored before,
 * in clear, are deleted rather than hashed in place: the apps holding them sign their users in
 * again (a code lives a minute, an access token an hour; a refresh token ends early). Sessions,
 * grants and interactions stay.
 */
import type { Kysely } from 'kysely';

const MODELS = [
  'AuthorizationCode',
  'AccessToken',
  'RefreshToken',
  'ClientCredentials',
  'BackchannelAuthenticationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // The table as this migration knows it (frozen: not the current schema's type).
  const tables = db as Kysely<{ oidc_payloads: { model: string } }>;
  await tables.deleteFrom('oidc_payloads').where('model', 'in', MODELS).execute();
}

export async function down(): Promise<void> {
  // Nothing to bring back: the deleted tokens are gone, and the hashed ones are no use to an older version.
}
