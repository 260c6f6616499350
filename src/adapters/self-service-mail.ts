/**
 * The SelfServiceMail port (domain/self-service/mail.ts), worded from the message catalogues and sent
 * by email through the Messenger: the reset link (its failure is the caller's to handle), and notices
 * (best effort, like the MFA notices).
 */
import { SesameError } from '../domain/errors.js';
import type { SelfServiceMail } from '../domain/self-service/mail.js';
import { DeliveryError, type Messenger } from './messaging/messenger.js';
import { translator } from '../i18n/i18n.js';
import { bestEffortEmail, type NotifierLog } from './notifications.js';
import type { Locale } from '../domain/locale.js';
import { timeFormat } from '../i18n/format.js';

/** A time in a mail: in the reader's language; in UTC, said as such (a mail does not know the organization's zone). */
const mailTime = (locale: Locale, at: number) => timeFormat(locale, null, at).at(at);

/** The page a reset link opens; its token travels in the query, like a set-password link's. */
export function resetPasswordUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
}

export function createSelfServiceMail(messenger: Messenger, log: NotifierLog, publicUrl: string): SelfServiceMail {
  const bestEffort = bestEffortEmail(messenger, log);
  /** A link someone waits for: its failure is the caller's, as `delivery_failed`. */
  const mustSend = async (to: string, subject: string, text: string, locale: Locale) => {
    try {
      await messenger.send({ channel: 'email', to, subject, text, locale });
    } catch (e) {
      if (e instanceof DeliveryError) throw new SesameError('delivery_failed', e.message);
      throw e;
    }
  };
  return {
    canSend: () => messenger.supports('email'),
    async resetLink(to, locale, token, expiresAt) {
      const t = translator(locale);
      await mustSend(
        to,
        t('msg.reset.subject'),
        t('msg.reset.text', { url: resetPasswordUrl(publicUrl, token), time: mailTime(locale, expiresAt) }),
        locale,
      );
    },
    async setPasswordLink(to, locale, token, expiresAt) {
      const t = translator(locale);
      // The path of web/links.ts's setPasswordPath (adapters do not import the web layer).
      const url = `${publicUrl}/set-password?token=${encodeURIComponent(token)}`;
      await mustSend(
        to,
        t('msg.set_password.subject'),
        t('msg.set_password.text', { url, time: mailTime(locale, expiresAt) }),
        locale,
      );
    },
    async passwordChanged(to, locale, ip, at) {
      const t = translator(locale);
      await bestEffort(
        to,
        t('msg.password_changed.subject'),
        t('msg.password_changed.text', { time: mailTime(locale, at), ip }),
        locale,
      );
    },
    async signInReported(to, locale, r) {
      const t = translator(locale);
      const text = t(r.revoked ? 'msg.reported.text' : 'msg.reported.text_gone', {
        address: r.address,
        name: r.appPasswordName ?? '',
        protocol: r.protocol.toUpperCase(),
        ip: r.ip,
        time: mailTime(locale, r.at),
      });
      await bestEffort(to, t('msg.reported.subject', { address: r.address }), text, locale);
    },
  };
}
