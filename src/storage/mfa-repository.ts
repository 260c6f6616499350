/** MfaRepository on Kysely (SQLite and PostgreSQL alike). */
import type { Kysely, Selectable } from 'kysely';
import type { MfaMethod, MfaState, MethodKind, OrgPolicy } from '../domain/mfa/model.js';
import type { Protocol } from '../domain/app-passwords/model.js';
import type { MfaRepository, NewMethod, WebAuthnCredential } from '../domain/mfa/repository.js';
import type { Database, MfaMethodsTable } from './schema.js';

const PUBLIC_COLUMNS = ['id', 'user_id', 'kind', 'label', 'target', 'created_at', 'last_used_at'] as const;

function toMethod(r: Pick<Selectable<MfaMethodsTable>, (typeof PUBLIC_COLUMNS)[number]>): MfaMethod {
  return {
    id: r.id,
    userId: r.user_id,
    kind: r.kind as MethodKind,
    label: r.label,
    target: r.target,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

export class KyselyMfaRepository implements MfaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async getPolicy(orgId: string): Promise<OrgPolicy | undefined> {
    const r = await this.db.selectFrom('org_policies').selectAll().where('org_id', '=', orgId).executeTakeFirst();
    if (!r) return undefined;
    return {
      orgId,
      mfaDefault: r.mfa_default as MfaState,
      allowedMethods: r.allowed_methods.split(',').filter(Boolean) as MethodKind[],
      rememberDays: r.remember_days,
      appPasswords: {
        allowed: r.app_passwords_allowed === 1,
        keepExistingWhenOff: r.app_passwords_keep_when_off === 1,
        cap: r.app_password_cap,
        protocols: r.app_password_protocols.split(',').filter(Boolean) as Protocol[],
        maxLifetimeDays: r.app_password_max_days,
        revokeUnusedDays: r.app_password_unused_days,
        revokeOnPasswordChange: r.revoke_on_password_change === 1,
        notifyAdminsNewCountry: r.notify_admins_new_country === 1,
      },
      legacyMainPassword: r.legacy_main_password === 'never' ? 'never' : 'until_enforced',
      phoneCountries: r.phone_countries === null ? null : r.phone_countries.split(',').filter(Boolean),
      timeZone: r.time_zone,
      defaultCountry: r.default_country,
    };
  }

  async savePolicy(p: OrgPolicy, at: number) {
    const a = p.appPasswords;
    const { org_id: _key, ...fields } = {
      org_id: p.orgId,
      mfa_default: p.mfaDefault,
      allowed_methods: p.allowedMethods.join(','),
      remember_days: p.rememberDays,
      updated_at: at,
      app_passwords_allowed: a.allowed ? 1 : 0,
      app_passwords_keep_when_off: a.keepExistingWhenOff ? 1 : 0,
      app_password_cap: a.cap,
      app_password_protocols: a.protocols.join(','),
      app_password_max_days: a.maxLifetimeDays,
      app_password_unused_days: a.revokeUnusedDays,
      revoke_on_password_change: a.revokeOnPasswordChange ? 1 : 0,
      notify_admins_new_country: a.notifyAdminsNewCountry ? 1 : 0,
      legacy_main_password: p.legacyMainPassword,
      phone_countries: p.phoneCountries === null ? null : p.phoneCountries.join(','),
      time_zone: p.timeZone,
      default_country: p.defaultCountry,
    };
    await this.db
      .insertInto('org_policies')
      .values({ org_id: p.orgId, ...fields })
      .onConflict((oc) => oc.column('org_id').doUpdateSet(fields))
      .execute();
  }

  async getState(userId: string) {
    const r = await this.db
      .selectFrom('users')
      .select(['mfa_state', 'default_method_id'])
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    return { state: r.mfa_state as MfaState, defaultMethodId: r.default_method_id };
  }

  async setState(userId: string, state: MfaState) {
    await this.db.updateTable('users').set({ mfa_state: state }).where('id', '=', userId).execute();
  }

  async promoteEnabled(userId: string) {
    const r = await this.db
      .updateTable('users')
      .set({ mfa_state: 'enforced' })
      .where('id', '=', userId)
      .where('mfa_state', '=', 'enabled')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setDefaultMethod(userId: string, methodId: string | null) {
    await this.db.updateTable('users').set({ default_method_id: methodId }).where('id', '=', userId).execute();
  }

  async addMethod(id: string, m: NewMethod, at: number): Promise<MfaMethod> {
    const row = {
      id,
      user_id: m.userId,
      kind: m.kind,
      label: m.label,
      target: m.target,
      secret_enc: m.secretEnc ?? null,
      last_step: m.lastStep ?? null,
      credential_id: m.webauthn?.credentialId ?? null,
      public_key: m.webauthn?.publicKey ?? null,
      sign_count: m.webauthn?.signCount ?? null,
      transports: m.webauthn?.transports ?? null,
      created_at: at,
      last_used_at: null,
    };
    await this.db.insertInto('mfa_methods').values(row).execute();
    return toMethod(row);
  }

  async listMethods(userId: string) {
    return (
      await this.db
        .selectFrom('mfa_methods')
        .select(PUBLIC_COLUMNS)
        .where('user_id', '=', userId)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
    ).map(toMethod);
  }

  async getMethod(userId: string, methodId: string) {
    const r = await this.db
      .selectFrom('mfa_methods')
      .select(PUBLIC_COLUMNS)
      .where('user_id', '=', userId)
      .where('id', '=', methodId)
      .executeTakeFirst();
    return r && toMethod(r);
  }

  async getTotpSecret(userId: string, methodId: string) {
    const r = await this.db
      .selectFrom('mfa_methods')
      .select(['secret_enc', 'last_step'])
      .where('user_id', '=', userId)
      .where('id', '=', methodId)
      .where('kind', '=', 'totp')
      .executeTakeFirst();
    return r?.secret_enc ? { secretEnc: r.secret_enc, lastStep: r.last_step } : undefined;
  }

  async acceptTotpStep(methodId: string, step: number, at: number) {
    const r = await this.db
      .updateTable('mfa_methods')
      .set({ last_step: step, last_used_at: at })
      .where('id', '=', methodId)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async deleteMethod(userId: string, methodId: string) {
    const r = await this.db
      .deleteFrom('mfa_methods')
      .where('user_id', '=', userId)
      .where('id', '=', methodId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async deleteAllMethods(userId: string) {
    const r = await this.db.deleteFrom('mfa_methods').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async touchMethod(methodId: string, at: number) {
    await this.db.updateTable('mfa_methods').set({ last_used_at: at }).where('id', '=', methodId).execute();
  }

  async getWebAuthnCredentials(userId: string): Promise<WebAuthnCredential[]> {
    const rows = await this.db
      .selectFrom('mfa_methods')
      .select(['id', 'user_id', 'credential_id', 'public_key', 'sign_count', 'transports'])
      .where('user_id', '=', userId)
      .where('kind', '=', 'webauthn')
      .execute();
    return rows.map((r) => ({
      methodId: r.id,
      userId: r.user_id,
      credentialId: r.credential_id!,
      publicKey: r.public_key!,
      signCount: Number(r.sign_count ?? 0),
      transports: (r.transports ?? '').split(',').filter(Boolean),
    }));
  }

  async updateWebAuthnCounter(methodId: string, signCount: number, at: number) {
    await this.db
      .updateTable('mfa_methods')
      .set({ sign_count: signCount, last_used_at: at })
      .where('id', '=', methodId)
      .execute();
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], at: number) {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      if (hashes.length)
        await tx
          .insertInto('recovery_codes')
          .values(hashes.map((h) => ({ code_hash: h, user_id: userId, created_at: at, used_at: null })))
          .execute();
    });
  }

  async consumeRecoveryCode(userId: string, hash: string, at: number) {
    const r = await this.db
      .updateTable('recovery_codes')
      .set({ used_at: at })
      .where('user_id', '=', userId)
      .where('code_hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async countUnusedRecoveryCodes(userId: string) {
    const r = await this.db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async deleteRecoveryCodes(userId: string) {
    await this.db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  }

  async addTrustedDevice(tokenHash: string, userId: string, at: number, expiresAt: number) {
    await this.db
      .insertInto('trusted_devices')
      .values({ token_hash: tokenHash, user_id: userId, created_at: at, expires_at: expiresAt })
      .execute();
  }

  async isTrustedDevice(tokenHash: string, userId: string, now: number) {
    const r = await this.db
      .selectFrom('trusted_devices')
      .select('token_hash')
      .where('token_hash', '=', tokenHash)
      .where('user_id', '=', userId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return !!r;
  }

  async deleteTrustedDevices(userId: string) {
    await this.db.deleteFrom('trusted_devices').where('user_id', '=', userId).execute();
  }
}
