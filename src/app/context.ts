/**
 * Wires configuration -> store -> repositories -> domain services. The server (main.ts), the
 * CLI and the tests all build their world here, so they cannot drift apart.
 */
import { loadCommonPasswords } from '../domain/accounts/common-passwords.js';
import { AccountService } from '../domain/accounts/account-service.js';
import { PasswordPolicy } from '../domain/accounts/password-policy.js';
import type { AuditRepository } from '../domain/audit/events.js';
import { type Clock, systemClock } from '../domain/clock.js';
import { RecentAuth } from '../domain/sessions/recent-auth.js';
import { SessionService } from '../domain/sessions/session.js';
import { PasswordAuthenticator } from '../domain/sign-in/password-authenticator.js';
import { FamiliarLocations } from '../domain/throttling/locations.js';
import { LockAdmin } from '../domain/throttling/lock-admin.js';
import { KyselyLockedIpReads } from '../storage/lock-reads.js';
import { Throttle } from '../domain/throttling/throttle.js';
import { type Config, ConfigError } from '../config/config.js';
import { loadSecrets, type ServerSecrets } from '../config/secrets.js';
import { createArgon2Hasher, type PasswordHasher } from '../lib/crypto/password-hasher.js';
import { queuedHasher } from './queued-hasher.js';
import { createKeyedHasher, findByKeyedHash } from '../lib/crypto/tokens.js';
import { KyselyAccountRepository } from '../storage/account-repository.js';
import { KyselyAuditRepository } from '../storage/audit-repository.js';
import { openStore, type Store } from '../storage/db.js';
import { securePrivateData } from '../storage/private-files.js';
import { migrateToLatest } from '../storage/migrator.js';
import { KyselySessionRepository } from '../storage/session-repository.js';
import { createVerificationReads } from '../storage/verification-reads.js';
import { createCounterStore } from '../storage/throttle-store.js';
import { KyselyOneTimeTokenRepository } from '../storage/token-repository.js';
import { KyselyFlowRepository } from '../storage/flow-repository.js';
import { KyselyMfaRepository } from '../storage/mfa-repository.js';
import { SignInFlows } from '../domain/flows/sign-in-flow.js';
import { CodeFactor, type Factor, TotpFactor } from '../domain/mfa/factors.js';
import { MfaAdmin, mfaDefaultOf } from '../domain/mfa/mfa-admin.js';
import { SecurityInfo } from '../domain/mfa/security-info.js';
import { OnceKeys } from '../domain/once-keys.js';
import { WebAuthnFactor } from '../domain/mfa/webauthn-factor.js';
import type { Notifier } from '../domain/mfa/notifier.js';
import { CodeBudget, codeSendGuard } from '../domain/mfa/code-budget.js';
import { createNotifier } from '../adapters/notifications.js';
import { createAead } from '../lib/crypto/aead.js';
import { createMessenger, type Messenger } from '../adapters/messaging/index.js';
import pino from 'pino';
import { APP_PASSWORD_HASH_PURPOSE, AppPasswords } from '../domain/app-passwords/service.js';
import { KyselyAppPasswordRepository } from '../storage/app-password-repository.js';
import { LegacyVerifier } from '../domain/legacy/verifier.js';
import { CountryWatch } from '../domain/legacy/country-watch.js';
import { policyOf } from '../domain/mfa/model.js';
import { BatchQueue } from '../lib/batch-queue.js';
import { createMetrics } from '../adapters/metrics.js';
import { createDovecotAdmin, noDovecotAdmin } from '../adapters/dovecot-admin.js';
import type { AppPasswordUse } from '../domain/app-passwords/model.js';
import type { SignInEvent } from '../domain/audit/events.js';
import { SmartLockout } from '../domain/legacy/lockout.js';
import { Integrations } from '../domain/legacy/integrations.js';
import { KyselyBadPasswordMemory, KyselyIntegrationRepository } from '../storage/integration-repository.js';
import { MailSettingsService } from '../domain/mail-settings/service.js';
import { Groups } from '../domain/groups/service.js';
import { KyselyGroupRepository } from '../storage/group-repository.js';
import { NamedLocations } from '../domain/locations/service.js';
import { LocationGate } from '../domain/locations/gate.js';
import { AnswerCache } from '../domain/legacy/answer-cache.js';
import { KyselyNamedLocationRepository } from '../storage/named-location-repository.js';
import { GeoIpCountries } from '../adapters/geoip/countries.js';
import { KyselyAccountCountryRepository } from '../storage/account-country-repository.js';
import type { MailServerProbe } from '../domain/mail-settings/model.js';
import { KyselyMailSettingsRepository } from '../storage/mail-settings-repository.js';
import { SocketMailServerProbe } from '../adapters/mail-server-check.js';
import { ProfileLinks } from '../domain/device-setup/profile-links.js';
import { identifierPrefixFor } from '../domain/device-setup/apple-profile.js';
import { KyselyProfileLinkRepository } from '../storage/profile-link-repository.js';
import type { ProfileSigner } from '../adapters/profile-signer.js';
import { reencryptAll, type ReencryptionReport } from '../domain/keys/reencryption.js';
import { KyselySealedValues } from '../storage/sealed-values.js';
import { UserDirectory } from '../domain/accounts/directory.js';
import { BulkChanges } from '../domain/accounts/bulk-changes.js';
import { KyselyUserDirectoryRepository } from '../storage/user-directory-repository.js';
import { KyselyBulkChangeRepository } from '../storage/bulk-change-repository.js';
import { PasswordReset } from '../domain/self-service/password-reset.js';
import { SelfService } from '../domain/self-service/self-service.js';
import { createSelfServiceMail } from '../adapters/self-service-mail.js';
import { AdminReports } from '../domain/audit/reports.js';
import { KyselyReportRepository } from '../storage/report-repository.js';
import { forwardingAudit } from '../domain/audit/forwarding.js';
import { createEventForwarder, type ForwardingTuning } from '../adapters/messaging/event-forwarder.js';
import { OidcClients } from '../domain/oidc/clients.js';
import { SigningKeys } from '../domain/oidc/signing-keys.js';
import {
  KyselyOidcClientRepository,
  KyselyOidcPayloads,
  KyselySigningKeyRepository,
} from '../storage/oidc-repository.js';
import { checkReadiness } from '../storage/readiness.js';
import type { Services } from '../web/services.js';
import { createConsequences } from './consequences.js';

/**
 * Everything the server, the CLI and the tests get: the features' Services (web/services.ts) plus
 * what only the composition root may hold (the store, all key material, flushing and closing).
 */
export interface AppContext extends Services {
  secrets: ServerSecrets;
  store: Store;
  audit: AuditRepository;
  notifier: Notifier;
  /** Good app passwords' answers kept in memory (issue #21); undefined when SESAME_ANSWER_CACHE_ROWS is 0. */
  answers: AnswerCache | undefined;
  /**
   * Seals every stored encrypted value that is not under the current encryption key again under it
   * (`write`), or only counts them (`sesame keys reencrypt` / `drop-previous`; domain/keys/reencryption.ts).
   */
  reencrypt(opts: { write: boolean }): Promise<ReencryptionReport>;
  /** Writes everything queued (sign-in log, last-used times). */
  flush(): Promise<void>;
  /** Writes this process's queued sign-in log rows (another worker asks before it reads the log). */
  flushSignIns(): Promise<void>;
  close(): Promise<void>;
}

export interface ContextOptions {
  clock?: Clock;
  passwordHasher?: PasswordHasher;
  /** Run pending migrations (the server and CLI do; `sesame migrate` does it itself). */
  migrate?: boolean;
  secrets?: ServerSecrets;
  /** Replaces the messenger built from configuration (tests that capture messages). */
  messenger?: Messenger;
  /** Extra factors (tests); one of a kind already present replaces it (the last of a kind wins). */
  factors?: (deps: { mfa: KyselyMfaRepository }) => Factor[];
  /** Retry timing of event forwarding (tests shorten it). */
  forwarding?: ForwardingTuning;
  /** Replaces the check of the mail settings that connects to the servers (tests that answer for them). */
  mailServerProbe?: MailServerProbe;
  /** Replaces the signer of configuration profiles loaded from the configured files (tests; null: unsigned). */
  profileSigner?: ProfileSigner | null;
  /** Several workers (app/cluster.ts): has the other workers write their queued sign-in log rows, before the log is read. */
  flushSignInsElsewhere?: () => Promise<void>;
}

/**
 * The signer of configuration profiles from SESAME_PROFILE_SIGNING_CERT_FILE and _KEY_FILE, or
 * null when they are not set (profiles go out unsigned). A file that cannot be used is a
 * configuration problem: the server and the CLI refuse to start, as for any bad setting.
 */
async function configuredProfileSigner(config: Readonly<Config>): Promise<ProfileSigner | null> {
  if (!config.profileSigningCertFile || !config.profileSigningKeyFile) return null;
  // Loaded only when signing is set up: PKI.js costs ~0.2 s of CPU at every start otherwise.
  const { loadProfileSigner } = await import('../adapters/profile-signer.js');
  try {
    return await loadProfileSigner(config.profileSigningCertFile, config.profileSigningKeyFile);
  } catch (e) {
    throw new ConfigError([e instanceof Error ? e.message : String(e)]);
  }
}

/**
 * Security keys and passkeys, bound to the public URL: its host name is the RP ID and its origin the
 * only one accepted. Browsers refuse an IP address as RP ID, so with a public URL such as the default
 * http://127.0.0.1:8080 the method is not offered at all (use https://your.host, or http://localhost).
 */
function webAuthnFactors(repo: KyselyMfaRepository, publicUrl: string): Factor[] {
  const url = new URL(publicUrl);
  if (!WebAuthnFactor.usableRpId(url.hostname)) return [];
  return [new WebAuthnFactor(repo, { id: url.hostname, name: 'Sesame', origin: url.origin })];
}

export async function createContext(config: Readonly<Config>, opts: ContextOptions = {}): Promise<AppContext> {
  const clock = opts.clock ?? systemClock;
  // Production mode refuses unsafe keys here (ConfigError), before the store is opened or any key generated.
  // The data folder private before anything is read or written in it (storage/private-files.ts);
  // what was too open is logged once the logger exists, below.
  const fixedModes = securePrivateData(config.dataDir);
  const secrets =
    opts.secrets ?? loadSecrets(config.dataDir, process.env, { mode: config.mode, databaseUrl: config.databaseUrl });
  // Before the store is opened: a bad certificate or key stops the start with nothing to undo.
  const profileSigner = opts.profileSigner !== undefined ? opts.profileSigner : await configuredProfileSigner(config);
  const store = openStore({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    onFixed: (f) => fixedModes.push(...f),
  });
  try {
    if (opts.migrate !== false) await migrateToLatest(store.db);
  } catch (e) {
    await store.close();
    throw e;
  }
  // Previous keys (after a rotation) are only read with: see findByKeyedHash and Aead.open.
  const keyedHasher = createKeyedHasher(secrets.hashKey, secrets.previous?.hashKey);
  // Every hash, verification and dummy hash waits in one bounded queue (issue #15, item 3).
  const passwordHasher = queuedHasher(opts.passwordHasher ?? createArgon2Hasher(), {
    concurrency: config.argon2Concurrency,
    maxWaitMs: config.argon2MaxWaitMs,
  });
  const accountsRepo = new KyselyAccountRepository(store.db, clock);
  const auditStore = new KyselyAuditRepository(store.db, {
    aggregationWindowMs: config.signInAggregationMinutes * 60_000,
  });
  const sessions = new SessionService(new KyselySessionRepository(store.db), keyedHasher, clock, {
    idleMs: config.sessionIdleMinutes * 60_000,
    absoluteMs: config.sessionAbsoluteHours * 3_600_000,
  });
  // What follows each domain event (app/consequences.ts): every service publishes to it; its
  // handlers are bound to the services once they all exist (connect(), at the end).
  const events = createConsequences();
  // One set of counters in the store, shared by the browser/API throttle and the legacy lockout.
  const counters = createCounterStore(store);
  const throttle = new Throttle(
    counters,
    { lockBaseSeconds: config.lockBaseSeconds, lockMaxSeconds: config.lockMaxSeconds },
    events,
  );
  // Good app passwords' answers kept in memory while the store announces no change (issue #21).
  const answers =
    config.answerCacheRows > 0
      ? new AnswerCache({ token: () => store.verifyToken() }, config.answerCacheRows)
      : undefined;
  const metrics = createMetrics(() => store.stats(), answers ? () => answers.counts() : undefined);
  const mfaRepo = new KyselyMfaRepository(store.db);
  // Recent authentication ("sudo mode") before any change to how one signs in.
  const recentAuth = new RecentAuth({
    methodCount: async (userId) => (await mfaRepo.listMethods(userId)).length,
    clock,
    windowMs: config.recentAuthMinutes * 60_000,
  });
  const flowRepo = new KyselyFlowRepository(store.db);
  const log = pino({ level: config.logLevel });
  if (fixedModes.length)
    log.warn(
      { code: 'file_modes_fixed', fixed: fixedModes },
      'the data folder or files in it could be read by other users: made private (files 0600, folders 0700)',
    );
  // Not refused: Sesame still runs, and the profiles are still signed, only not verified by devices.
  if (profileSigner && profileSigner.notAfter <= clock.now())
    log.warn(
      {
        code: 'profile_signing_certificate_expired',
        subject: profileSigner.subject,
        expired: new Date(profileSigner.notAfter).toISOString(),
      },
      'the certificate that signs configuration profiles has expired: devices show the profiles as Not Verified until it is renewed and Sesame restarted',
    );
  // Every row the sign-in and audit logs record, and every lock, also goes to the SIEM when configured.
  const forwarder = createEventForwarder(
    config,
    log,
    opts.forwarding,
    async (id) => (await accountsRepo.findOrganizationById(id))?.domain,
  );
  const audit = forwarder ? forwardingAudit(auditStore, forwarder) : auditStore;
  const messenger = opts.messenger ?? createMessenger(config);
  const notifier = createNotifier(messenger, log);
  const aead = createAead(secrets.encryptionKey, secrets.previous?.encryptionKey);
  // Tells Dovecot (when its doveadm API is configured) to forget what it cached about a user.
  const dovecot = config.doveadmUrl
    ? createDovecotAdmin({ url: config.doveadmUrl, apiKey: config.doveadmApiKey, log })
    : noDovecotAdmin;
  const appPasswordRepo = new KyselyAppPasswordRepository(store.db, store.kind, store.readHot);
  const accounts = new AccountService({
    accounts: accountsRepo,
    tokens: new KyselyOneTimeTokenRepository(store.db),
    audit,
    sessions,
    passwordHasher,
    keyedHasher,
    policy: new PasswordPolicy(loadCommonPasswords()),
    clock,
    setPasswordLinkMs: config.setPasswordLinkHours * 3_600_000,
    mfaDefaultFor: (orgId) => mfaDefaultOf(mfaRepo, orgId),
    events,
  });
  const mfaAdmin = new MfaAdmin(accounts, mfaRepo, sessions, audit, clock, events);
  const groupRepo = new KyselyGroupRepository(store.db);
  const groups = new Groups(groupRepo, accounts, audit, clock, events);
  // Named locations and the rules that use them (issue #20); the country data loads at the first
  // lookup that needs it (a rule naming a country, a page showing one), not at start.
  const geoip = new GeoIpCountries(config.geoipCountryFile);
  const locationRepo = new KyselyNamedLocationRepository(store.db);
  const locations = new NamedLocations(
    locationRepo,
    audit,
    clock,
    async (orgId) => new Set((await groupRepo.list(orgId)).map((g) => g.id)),
    async (orgId) => events.publish({ type: 'policy_narrowed', org: await accounts.getOrganization(orgId) }),
  );
  const locationGate = new LocationGate(
    locationRepo,
    async () => {
      const table = await geoip.table();
      return (ip) => table.country(ip);
    },
    async (userId, ids) =>
      new Set((await groupRepo.groupsOf(userId)).map((g) => g.id).filter((id) => ids.includes(id))),
  );
  const appPasswords = new AppPasswords(
    appPasswordRepo,
    mfaRepo,
    accounts,
    recentAuth,
    audit,
    keyedHasher,
    { created: (...a) => notifier.appPasswordCreated(...a) },
    clock,
    events,
    groups,
    (orgId, raw) => locations.pinFor(orgId, raw),
  );
  // Every code sent, in every flow, goes through one guard: allowed phone numbers, then the budgets
  // (counted in the store's rate_limits, shared by every instance). Issue #15, item 3.
  const codeGuard = codeSendGuard(
    mfaRepo,
    config.phoneCountries,
    new CodeBudget(
      counters,
      keyedHasher,
      {
        user: { hour: config.codesPerUserHour, day: config.codesPerUserDay },
        destination: { hour: config.codesPerDestinationHour, day: config.codesPerDestinationDay },
        organization: { hour: config.codesPerOrganizationHour, day: config.codesPerOrganizationDay },
        total: { hour: config.codesTotalHour, day: config.codesTotalDay },
      },
      audit,
      clock,
    ),
  );
  const factors: Factor[] = [
    new TotpFactor(mfaRepo, aead, async (orgId) => (await accountsRepo.findOrganizationById(orgId))?.name || 'Sesame'),
    new CodeFactor('sms', notifier, keyedHasher, codeGuard),
    new CodeFactor('voice', notifier, keyedHasher, codeGuard),
    new CodeFactor('email', notifier, keyedHasher, codeGuard),
    ...webAuthnFactors(mfaRepo, config.publicUrl),
    ...(opts.factors?.({ mfa: mfaRepo }) ?? []),
  ];
  const flows = new SignInFlows({
    flows: flowRepo,
    mfa: mfaRepo,
    accounts: accountsRepo,
    audit,
    sessions,
    recentAuth,
    throttle,
    factors,
    notifier,
    aead,
    keyedHasher,
    clock,
    mfaFailureLimit: config.accountFailureLimit,
    appPasswords,
    events,
  });
  const lockout = new SmartLockout(
    counters,
    new KyselyBadPasswordMemory(store.db),
    keyedHasher,
    {
      accountLimit: config.accountFailureLimit,
      ipLimit: config.ipFailureLimit,
      ipChecksPerMinute: config.ipPasswordChecksPerMinute,
      lockBaseSeconds: config.lockBaseSeconds,
      lockMaxSeconds: config.lockMaxSeconds,
    },
    clock,
    events,
  );
  const integrations = new Integrations(new KyselyIntegrationRepository(store.db), keyedHasher, audit, clock, (e) =>
    log.warn(
      { err: e instanceof Error ? e.message : String(e) },
      'integration bookkeeping failed (key rehash or last seen)',
    ),
  );
  // The legacy endpoints answer first and write after: their sign-in log rows and last-used times
  // go through batch queues (flushed on shutdown, and before the sign-in log is read).
  // A batch the store refuses (PostgreSQL restarting, SQLite locked or full) is held and retried
  // for about a minute (1, 2, 4, 8, then every 10 s), so a short outage loses no row; only after
  // that, or at shutdown, is it given up, with one error line that says how many rows were lost.
  const retry = { retries: 8, retryDelayMs: 1000, retryMaxDelayMs: 10_000 };
  // A row may name the address whose owner it belongs to instead of the owner (the verifier leaves
  // that read for after its answer): resolved here, for the whole batch in two reads.
  const legacyLog = new BatchQueue<{ event: SignInEvent; ownerOf?: string }>({
    ...retry,
    write: async (items) => {
      const addresses = items.flatMap((i) => (i.ownerOf ? [i.ownerOf] : []));
      const owners = await accountsRepo.findSignInOwners(addresses);
      await audit.recordSignIns(
        items.map(({ event, ownerOf }) => {
          const o = ownerOf ? owners.get(ownerOf) : undefined;
          return o ? { ...event, userId: o.userId, orgId: o.orgId } : event;
        }),
      );
    },
    onRetry: (e, items, attempt) =>
      log.warn({ err: String(e), held: items.length, attempt }, 'sign-in log batch not written yet: will retry'),
    onError: (e, items) =>
      log.error({ err: String(e), lost: items.length }, 'sign-in log batch not written: rows lost'),
  });
  const legacyUses = new BatchQueue<AppPasswordUse>({
    ...retry,
    intervalMs: 1000,
    write: (items) => appPasswordRepo.recordUses(items),
    onError: (e) => log.warn({ err: String(e) }, 'last-used batch not written'),
  });
  // Mails go out in English: no language is stored per account (as for the other notices of a legacy use).
  const countryWatch = new CountryWatch({
    countries: new KyselyAccountCountryRepository(store.db),
    accounts: accountsRepo,
    policyOf: (orgId) => policyOf(mfaRepo, orgId),
    countryOf: (ip) => geoip.country(ip),
    tellOwner: (to, use, country, isNew) =>
      notifier.appPasswordNewIp(
        to,
        'en',
        use.appPasswordName,
        use.ip,
        use.protocol,
        use.at,
        country ? { code: country, isNew } : undefined,
      ),
    tellAdmin: (to, n) => notifier.appPasswordNewCountryToAdmin(to, 'en', n),
    onCountryError: (e) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'country data not readable'),
  });
  const legacy = new LegacyVerifier(
    appPasswordRepo,
    accountsRepo,
    mfaRepo,
    keyedHasher,
    passwordHasher,
    clock,
    (use) => countryWatch.firstUse(use).then(() => undefined),
    lockout,
    createVerificationReads(store, counters),
    {
      logSignIn: (event, ownerOf) => legacyLog.push(ownerOf ? { event, ownerOf } : { event }),
      recordUse: (u) => legacyUses.push(u),
      revokeUnused: (owner, id) => appPasswords.revokeUnused(owner, id),
    },
    (e) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'app-password bookkeeping failed'),
    (user, protocol) =>
      protocol === 'ldap' || protocol === 'radius' ? groups.mayUse(user, protocol) : Promise.resolve(true),
    locationGate,
    answers,
  );
  const flush = async () => {
    await Promise.all([legacyLog.flush(), legacyUses.flush(), passwordReset.idle(), integrations.save()]);
    await forwarder?.flush();
  };
  // Readers of the sign-in log see every attempt answered so far, by any worker.
  const flushSignIns = async () => {
    await Promise.all([legacyLog.flush(), opts.flushSignInsElsewhere?.()]);
  };
  const reports = new AdminReports(
    new KyselyReportRepository(store.db),
    clock,
    flushSignIns,
    // Without the country data (a broken SESAME_GEOIP_COUNTRY_FILE) the dashboard still shows, countries unknown.
    async () => {
      try {
        const table = await geoip.table();
        return (ip) => table.country(ip);
      } catch (e) {
        log.warn({ err: e instanceof Error ? e.message : String(e) }, 'country data not readable');
        return () => undefined;
      }
    },
  );
  // Readers of the sign-in log see every attempt answered so far.
  const auditRepo = audit;
  const auditView: AuditRepository = {
    recordSignIn: (e) => auditRepo.recordSignIn(e),
    recordSignIns: (e) => auditRepo.recordSignIns(e),
    recordAudit: (e) => auditRepo.recordAudit(e),
    listAudit: (o, l) => auditRepo.listAudit(o, l),
    listSignIns: async (q) => {
      await flushSignIns();
      return auditRepo.listSignIns(q);
    },
  };
  const securityInfo = new SecurityInfo(
    mfaRepo,
    flows,
    recentAuth,
    notifier,
    audit,
    clock,
    events,
    new OnceKeys(new KyselyOneTimeTokenRepository(store.db), keyedHasher, clock),
  );
  const signIn = new PasswordAuthenticator(
    accountsRepo,
    audit,
    passwordHasher,
    throttle,
    clock,
    {
      accountFailureLimit: config.accountFailureLimit,
      ipFailureLimit: config.ipFailureLimit,
      ipChecksPerMinute: config.ipPasswordChecksPerMinute,
    },
    new FamiliarLocations(counters),
    async (canonical) =>
      (await findByKeyedHash(keyedHasher, APP_PASSWORD_HASH_PURPOSE, canonical, (h) => appPasswordRepo.findOwner(h)))
        ?.found,
  );
  const selfServiceMail = createSelfServiceMail(messenger, log, config.publicUrl);
  const passwordReset = new PasswordReset({
    accounts: accountsRepo,
    accountService: accounts,
    tokens: new KyselyOneTimeTokenRepository(store.db),
    mfa: mfaRepo,
    flows,
    throttle,
    keyedHasher,
    mail: selfServiceMail,
    audit,
    clock,
    onError: (e) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'password reset link not sent'),
  });
  const selfService = new SelfService({
    accountService: accounts,
    accounts: accountsRepo,
    signIn,
    sessions,
    recentAuth,
    appPasswords,
    audit: auditView,
    mail: selfServiceMail,
    throttle,
    clock,
    events,
  });
  const oidc = {
    clients: new OidcClients(new KyselyOidcClientRepository(store.db), keyedHasher, audit, clock),
    keys: new SigningKeys(new KyselySigningKeyRepository(store.db), aead, clock),
    payloads: new KyselyOidcPayloads(store.db, () => clock.now(), keyedHasher),
  };
  const directory = new UserDirectory(new KyselyUserDirectoryRepository(store.db), clock);
  const bulkChanges = new BulkChanges(
    new KyselyBulkChangeRepository(store.db),
    async (orgId) => (await accounts.getOrganization(orgId)).domain,
    clock,
    events,
  );
  // Every service exists: bind the handlers of what follows each domain event to them, once.
  events.connect({
    clock,
    metrics,
    forwarder,
    dovecot,
    appPasswords,
    notifier,
    signIn,
    accounts,
    flows,
    oidc: oidc.payloads,
  });
  const mailSettings = new MailSettingsService(
    new KyselyMailSettingsRepository(store.db),
    opts.mailServerProbe ?? new SocketMailServerProbe({ extraCaFile: config.tlsCheckCaFile || undefined }),
    audit,
    clock,
  );
  const reencrypt = (o: { write: boolean }) => reencryptAll(new KyselySealedValues(store.db), aead, clock.now(), o);
  return {
    config,
    secrets,
    store,
    clock,
    readiness: () => checkReadiness(store),
    accounts,
    signIn,
    sessions,
    recentAuth,
    audit: auditView,
    flows,
    mfaAdmin,
    groups,
    locations,
    geoip,
    profileSigner,
    mailSettings,
    profileLinks: new ProfileLinks({
      repo: new KyselyProfileLinkRepository(store.db),
      appPasswords: appPasswordRepo,
      mailSettings,
      organizationName: async (orgId) => (await accounts.getOrganization(orgId)).name,
      sessionLive: (id) => sessions.isLive(id),
      keyed: keyedHasher,
      audit,
      clock,
      signer: profileSigner,
      identifierPrefix: identifierPrefixFor(new URL(config.publicUrl).hostname),
    }),
    locks: new LockAdmin(counters, accounts, new KyselyLockedIpReads(store.db), audit, clock),
    securityInfo,
    notifier,
    appPasswords,
    legacy,
    integrations,
    directory,
    bulkChanges,
    metrics,
    answers,
    reports,
    oidc,
    passwordReset,
    selfService,
    reencrypt,
    flush,
    flushSignIns: () => legacyLog.flush(),
    close: async () => {
      // close(), not flush(): whatever is still held for retry is reported as lost, not dropped silently.
      await Promise.all([legacyLog.close(), legacyUses.close(), passwordReset.idle(), integrations.save()]);
      await forwarder?.close();
      await store.close();
    },
  };
}
