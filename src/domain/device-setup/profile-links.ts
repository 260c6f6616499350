/**
 * One-time links to an Apple configuration profile (issue #18, item 2). The profile embeds an app
 * password, which Sesame only knows while the page that shows it is being made; so that page mints
 * a link, and the profile is built when the link is used.
 *
 * - The link is a 256-bit token. The store keeps its keyed hash and the app password sealed under a
 *   key derived from the token itself: neither a dump of the store nor the link without its row
 *   gives the app password.
 * - It lives LINK_MINUTES and works once: the download is one conditional UPDATE, so of two
 *   devices racing, one gets the profile.
 * - It belongs to the browser session it was made in. A browser signed in to Sesame in any other
 *   session is refused (and the link stays usable); a device with no Sesame session (the phone that
 *   scanned the QR code) may use it. Ending that session (signing out, "sign out everywhere", an
 *   admin's revocation) ends the link with it.
 * - When used, everything is judged again as it is then: the app password still exists, still
 *   holds that secret and is still usable (user active, MFA on, not expired, not suspended), and
 *   the organization still has the servers; the profile is built from the settings of that moment.
 */
import { hkdfSync } from 'node:crypto';
import { createAead } from '../../lib/crypto/aead.js';
import { type KeyedHasher, randomToken } from '../../lib/crypto/tokens.js';
import type { User } from '../accounts/model.js';
import { normalizeAppPassword } from '../app-passwords/format.js';
import type { AppPasswordRepository, Protocol, VerificationRow } from '../app-passwords/model.js';
import { APP_PASSWORD_HASH_PURPOSE } from '../app-passwords/service.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { MailSettingsService } from '../mail-settings/service.js';
import { appleProfile, type ProfileContents, type ProfileLabels, profileContents } from './apple-profile.js';

/** How long a link may wait to be used: time to pick up the phone and scan, not an afternoon. */
export const LINK_MINUTES = 10;
const LINK_PURPOSE = 'profile-link';
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface ProfileLinkRow {
  idHash: string;
  userId: string;
  appPasswordId: string;
  sessionId: string | null;
  sealed: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

export interface ProfileLinkRepository {
  create(row: ProfileLinkRow): Promise<void>;
  find(idHash: string): Promise<ProfileLinkRow | undefined>;
  /** Marks the link used unless it already is or has expired; whether this call did. */
  consume(idHash: string, now: number): Promise<boolean>;
}

/** Signs a profile (CMS SignedData, DER) with the certificate the operator configured. */
export interface ProfileSigning {
  sign(content: Uint8Array): Promise<Buffer>;
}

/** A minted link, for the page that shows the app password. */
export interface ProfileOffer {
  token: string;
  expiresAt: number;
  contents: ProfileContents;
  signed: boolean;
}

/** What the landing page of a link says before the download. */
export interface ProfileLinkView {
  appPasswordName: string;
  address: string;
  organization: string;
  contents: ProfileContents;
  expiresAt: number;
  signed: boolean;
}

export interface ProfileDownload {
  body: Buffer;
  signed: boolean;
  appPasswordName: string;
  organization: string;
}

/** Why a link is refused: used, expired, unknown, or what it was for is no longer there. */
const gone = (detail: string) => new SesameError('profile_link_gone', `profile link refused: ${detail}`);

export interface ProfileLinkDeps {
  repo: ProfileLinkRepository;
  appPasswords: Pick<AppPasswordRepository, 'findForVerification'>;
  mailSettings: Pick<MailSettingsService, 'forApps'>;
  organizationName(orgId: string): Promise<string>;
  /** Whether the browser session with this id is still live (not ended, not idle or past its end). */
  sessionLive(id: string): Promise<boolean>;
  keyed: KeyedHasher;
  audit: AuditRepository;
  clock: Clock;
  signer: ProfileSigning | null;
  /** Reverse-DNS prefix of the profiles' identifiers (apple-profile.ts identifierPrefixFor). */
  identifierPrefix: string;
}

const sealer = (token: string) =>
  createAead(Buffer.from(hkdfSync('sha256', Buffer.from(token), Buffer.alloc(0), 'sesame profile link', 32)));

export class ProfileLinks {
  constructor(private readonly d: ProfileLinkDeps) {}

  /**
   * A link for the app password just made (`password` as shown to its owner), or null when no
   * profile would hold anything: no mail settings yet, or none for the protocols it may use.
   * `sessionId`: the browser session showing it; null before sign-in has finished (the first
   * sign-in's registration flow).
   */
  async offer(
    user: User,
    sessionId: string | null,
    appPassword: { id: string; password: string },
  ): Promise<ProfileOffer | null> {
    const canonical = normalizeAppPassword(appPassword.password);
    const row = canonical ? await this.usable(canonical, appPassword.id) : undefined;
    if (!canonical || !row || row.userId !== user.id) return null;
    const contents = await this.contentsFor(row);
    if (!contents) return null;
    const token = randomToken(32);
    const idHash = this.d.keyed.digest(LINK_PURPOSE, token);
    const now = this.d.clock.now();
    const expiresAt = now + LINK_MINUTES * 60_000;
    await this.d.repo.create({
      idHash,
      userId: user.id,
      appPasswordId: appPassword.id,
      sessionId,
      // Its canonical form (no spaces): what the device will send.
      sealed: sealer(token).seal(canonical, idHash),
      createdAt: now,
      expiresAt,
      usedAt: null,
    });
    return { token, expiresAt, contents, signed: this.d.signer !== null };
  }

  /** What the link would give, without using it; throws profile_link_gone or profile_link_other_session. */
  async look(token: string, sessionId: string | undefined): Promise<ProfileLinkView> {
    const { link, row, contents } = await this.judge(token, sessionId);
    return {
      appPasswordName: row.name,
      address: row.address,
      organization: await this.d.organizationName(row.orgId),
      contents,
      expiresAt: link.expiresAt,
      signed: this.d.signer !== null,
    };
  }

  /** Uses the link: the profile, built and (when configured) signed now; the link never works again. */
  async download(
    token: string,
    sessionId: string | undefined,
    labels: (v: { organization: string; appPasswordName: string; address: string }) => ProfileLabels,
    meta: { ip: string },
  ): Promise<ProfileDownload> {
    const { link, row, password } = await this.judge(token, sessionId);
    const settings = await this.d.mailSettings.forApps(row.orgId);
    if (!settings) throw gone('the organization has no mail settings');
    const organization = await this.d.organizationName(row.orgId);
    const xml = await appleProfile({
      settings,
      organization,
      address: row.address,
      displayName: row.userName,
      appPassword: { id: row.id, protocols: allowedProtocols(row), password },
      identifierPrefix: this.d.identifierPrefix,
      labels: labels({ organization, appPasswordName: row.name, address: row.address }),
    });
    if (!xml) throw gone('nothing left to set up');
    // Built first, used last: a failure above leaves the link for another try.
    if (!(await this.d.repo.consume(link.idHash, this.d.clock.now()))) throw gone('used by another request');
    const plain = Buffer.from(xml, 'utf8');
    const body = this.d.signer ? await this.d.signer.sign(plain) : plain;
    await this.d.audit.recordAudit(
      auditEvent({ kind: 'sesame' }, this.d.clock.now(), {
        orgId: row.orgId,
        action: 'app_password.profile',
        targetUserId: row.userId,
        detail: `${row.name}: configuration profile downloaded from ${meta.ip}${this.d.signer ? ' (signed)' : ' (unsigned)'}${link.sessionId && sessionId === link.sessionId ? ', in the session that made the link' : ', on another device'}`,
      }),
    );
    return { body, signed: this.d.signer !== null, appPasswordName: row.name, organization };
  }

  private async judge(token: string, sessionId: string | undefined) {
    if (!TOKEN_SHAPE.test(token)) throw gone('not a link token');
    const idHash = this.d.keyed.digest(LINK_PURPOSE, token);
    const link = await this.d.repo.find(idHash);
    const now = this.d.clock.now();
    if (!link) throw gone('unknown link');
    if (link.usedAt !== null) throw gone('already used');
    if (now >= link.expiresAt) throw gone('expired');
    if (sessionId !== undefined && sessionId !== link.sessionId)
      throw new SesameError('profile_link_other_session', 'profile link opened in another signed-in session');
    if (link.sessionId !== null && !(await this.d.sessionLive(link.sessionId)))
      throw gone('the session it was made in has ended');
    let password: string;
    try {
      password = sealer(token).open(link.sealed, idHash);
    } catch {
      throw gone('the sealed app password does not open');
    }
    const row = await this.usable(password, link.appPasswordId);
    if (!row) throw gone('the app password is gone or no longer usable');
    const contents = await this.contentsFor(row);
    if (!contents) throw gone('nothing left to set up');
    return { link, row, password, contents };
  }

  /**
   * The app password with this secret and id, if it may still be used: the same conditions the
   * legacy verifier applies (domain/legacy/verifier.ts checkAppPassword), but for protocols.
   */
  private async usable(password: string, id: string): Promise<VerificationRow | undefined> {
    const canonical = normalizeAppPassword(password);
    if (!canonical) return undefined;
    const row = await this.d.appPasswords.findForVerification(
      this.d.keyed.digest(APP_PASSWORD_HASH_PURPOSE, canonical),
    );
    if (!row || row.id !== id) return undefined;
    const now = this.d.clock.now();
    const p = row.policy;
    if (row.userStatus !== 'active' || row.mfaState === 'disabled') return undefined;
    if (row.expiresAt !== null && now >= row.expiresAt) return undefined;
    if (p.maxLifetimeDays !== null && now >= row.createdAt + p.maxLifetimeDays * 86_400_000) return undefined;
    if (!p.allowed && !p.keepExistingWhenOff) return undefined;
    return row;
  }

  private async contentsFor(row: VerificationRow): Promise<ProfileContents | null> {
    const settings = await this.d.mailSettings.forApps(row.orgId);
    return settings ? profileContents(settings, allowedProtocols(row)) : null;
  }
}

/** The protocols the app password may use now: its own, narrowed by the organization's policy. */
const allowedProtocols = (row: VerificationRow): Protocol[] =>
  row.protocols.filter((p) => row.policy.protocols.includes(p));
