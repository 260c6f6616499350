/**
 * The "Set up an iPhone, iPad or Mac" part of a page that shows a new app password (Security info,
 * the registration flow): a one-time link to a configuration profile holding it
 * (domain/device-setup/profile-links.ts), as a button for this device and, on a wide screen, as a
 * QR code for a phone. The link's own pages are in features/device-setup.
 */
import QRCode from 'qrcode';
import type { User } from '../domain/accounts/model.js';
import type { ProfileContents } from '../domain/device-setup/apple-profile.js';
import type { MessageId } from '../i18n/en.js';
import type { Translate } from '../i18n/i18n.js';
import { html, type Html } from './html.js';
import type { PageContext } from './layout.js';
import type { Services } from './services.js';

export interface ProfileOfferView {
  /** This device's download (same browser: straight to the file). */
  downloadPath: string;
  /** What the QR code opens on another device: the link's landing page, absolute. */
  landingUrl: string;
  qrDataUrl: string;
  expiresAt: number;
  contents: ProfileContents;
  signed: boolean;
  address: string;
  organization: string;
}

export const profilePath = (token: string) => `/apple-profile/${token}`;

/**
 * A fresh link for the app password being shown, or undefined when a profile would hold nothing
 * (no mail settings yet, or none for the protocols the app password may use).
 */
export async function mintProfileOffer(
  services: Pick<Services, 'profileLinks' | 'config' | 'accounts'>,
  user: User,
  sessionId: string | null,
  appPassword: { id: string; password: string },
): Promise<ProfileOfferView | undefined> {
  const offer = await services.profileLinks.offer(user, sessionId, appPassword);
  if (!offer) return undefined;
  const landingUrl = new URL(profilePath(offer.token), services.config.publicUrl).href;
  return {
    downloadPath: `${profilePath(offer.token)}/download`,
    landingUrl,
    qrDataUrl: await QRCode.toDataURL(landingUrl, { margin: 1, width: 200 }),
    expiresAt: offer.expiresAt,
    contents: offer.contents,
    signed: offer.signed,
    address: user.address,
    organization: (await services.accounts.getOrganization(user.orgId)).name,
  };
}

/** "mail, calendars and contacts", in the reader's language. */
export function contentsInWords(t: Translate, locale: string, c: ProfileContents): string {
  const parts: MessageId[] = [];
  if (c.mail) parts.push(c.mail.sends ? 'profile.what.mail' : 'profile.what.mail_read');
  if (c.caldav) parts.push('profile.what.calendar');
  if (c.carddav) parts.push('profile.what.contacts');
  return new Intl.ListFormat(locale, { type: 'conjunction' }).format(parts.map((p) => t(p)));
}

/** What the device will show about the signature, and how to install the profile. */
export function profileInstallNotes(
  ctx: PageContext,
  v: { signed: boolean; organization: string; address: string },
): Html {
  const { t } = ctx;
  return html`<p class="hint" id="profile-signature">${v.signed ? t('profile.signed') : t('profile.unsigned', { organization: v.organization, address: v.address })}</p>
<details class="profile-install"><summary>${t('profile.install.title')}</summary>
<ul><li>${t('profile.install.ios')}</li><li>${t('profile.install.mac')}</li></ul></details>`;
}

export function profileOfferSection(ctx: PageContext, v: ProfileOfferView): Html {
  const { t } = ctx;
  return html`<section class="device-profile card" id="apple-profile" aria-labelledby="apple-profile-title">
<h2 id="apple-profile-title">${t('profile.title')}</h2>
<p>${t('profile.intro', { what: contentsInWords(t, ctx.locale, v.contents), address: v.address })}</p>
<div class="profile-qr"><img id="profile-qr" src="${v.qrDataUrl}" width="200" height="200" alt="${t('profile.qr_alt')}"><p>${t('profile.scan')}</p></div>
<p><a class="button" id="profile-download" href="${v.downloadPath}">${t('profile.download')}</a></p>
<p class="hint" id="profile-once">${t('profile.once', { time: ctx.time.clock(v.expiresAt) })}</p>
${profileInstallNotes(ctx, v)}
</section>`;
}
