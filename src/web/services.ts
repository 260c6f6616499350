/**
 * What the features are given: the domain services and the few settings they read, and nothing
 * of the composition root (no store handle, no key material beyond the cookie keys, no shutdown).
 * app/context.ts builds an AppContext that is a Services and more.
 */
import type { Config } from '../config/config.js';
import type { ServerSecrets } from '../config/secrets.js';
import type { AccountService } from '../domain/accounts/account-service.js';
import type { BulkChanges } from '../domain/accounts/bulk-changes.js';
import type { UserDirectory } from '../domain/accounts/directory.js';
import type { AppPasswords } from '../domain/app-passwords/service.js';
import type { AdminReports } from '../domain/audit/reports.js';
import type { Clock } from '../domain/clock.js';
import type { SignInFlows } from '../domain/flows/sign-in-flow.js';
import type { Integrations } from '../domain/legacy/integrations.js';
import type { LegacyVerifier } from '../domain/legacy/verifier.js';
import type { MfaAdmin } from '../domain/mfa/mfa-admin.js';
import type { Groups } from '../domain/groups/service.js';
import type { NamedLocations } from '../domain/locations/service.js';
import type { GeoIpCountries } from '../adapters/geoip/countries.js';
import type { MailSettingsService } from '../domain/mail-settings/service.js';
import type { ProfileLinks } from '../domain/device-setup/profile-links.js';
import type { LockAdmin } from '../domain/throttling/lock-admin.js';
import type { SecurityInfo } from '../domain/mfa/security-info.js';
import type { OidcClients } from '../domain/oidc/clients.js';
import type { OidcPayloadStore } from '../domain/oidc/payloads.js';
import type { SigningKeys } from '../domain/oidc/signing-keys.js';
import type { PasswordReset } from '../domain/self-service/password-reset.js';
import type { SelfService } from '../domain/self-service/self-service.js';
import type { RecentAuth } from '../domain/sessions/recent-auth.js';
import type { SessionService } from '../domain/sessions/session.js';
import type { PasswordAuthenticator } from '../domain/sign-in/password-authenticator.js';
import type { Metrics } from '../adapters/metrics.js';
import type { ProfileSigner } from '../adapters/profile-signer.js';
import type { Readiness } from '../storage/readiness.js';

export interface Services {
  config: Readonly<Config>;
  /** The cookie keys (the current one signs; previous ones, after a rotation, still verify). */
  secrets: Pick<ServerSecrets, 'cookieKey' | 'previous'>;
  clock: Clock;
  accounts: AccountService;
  signIn: PasswordAuthenticator;
  sessions: SessionService;
  /** Recent authentication ("sudo mode") before changing how one signs in (domain/sessions/recent-auth.ts). */
  recentAuth: RecentAuth;
  flows: SignInFlows;
  mfaAdmin: MfaAdmin;
  /** Groups of users and which group a use requires (domain/groups). */
  groups: Groups;
  /** Named locations of an organization (domain/locations); nothing enforces them yet (issue #20, item 2). */
  locations: NamedLocations;
  /** The country of an IP address, offline; the data is read at the first lookup (adapters/geoip). */
  geoip: GeoIpCountries;
  /** The organization's mail, calendar and contacts servers as apps are told them, and their check (domain/mail-settings). */
  mailSettings: MailSettingsService;
  /** One-time links to an Apple configuration profile holding a new app password (domain/device-setup). */
  profileLinks: ProfileLinks;
  /** Signs the configuration profiles users download (adapters/profile-signer.ts); null: none configured, profiles unsigned. */
  profileSigner: ProfileSigner | null;
  /** An account's and a client IP's sign-in locks, shown and lifted by admins (domain/throttling/lock-admin.ts). */
  locks: LockAdmin;
  securityInfo: SecurityInfo;
  appPasswords: AppPasswords;
  legacy: LegacyVerifier;
  integrations: Integrations;
  /** The admin Users console's listing: filters, sorts, keyset pages (domain/accounts/directory.ts). */
  directory: UserDirectory;
  /** Bulk changes to users, checked in full and applied in one transaction (domain/accounts/bulk-changes.ts). */
  bulkChanges: BulkChanges;
  /** Prometheus metrics of this instance (served at /metrics; see features/monitoring). */
  metrics: Metrics;
  /** "Forgot your password?" and admins' reset links (domain/self-service/password-reset.ts). */
  passwordReset: PasswordReset;
  /** Change password, My sessions, My sign-ins (domain/self-service/self-service.ts). */
  selfService: SelfService;
  /** The admin dashboard and the filtered, exportable sign-in log (domain/audit/reports.ts). */
  reports: AdminReports;
  /** The OpenID Connect provider's client registry, signing keys and stored payloads (features/oidc). */
  oidc: { clients: OidcClients; keys: SigningKeys; payloads: OidcPayloadStore };
  /** Whether the store answers and its schema is this version's (GET /readyz). */
  readiness(): Promise<Readiness>;
}
