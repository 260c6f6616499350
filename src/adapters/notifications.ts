/**
 * The Notifier port, worded from the message catalogues in the user's language and sent through
 * the Messenger (SMTP, the text/voice gateway, or the development outbox).
 */
import { SesameError } from '../domain/errors.js';
import type { CodeChannel, Notifier } from '../domain/mfa/notifier.js';
import { DeliveryError, type Messenger } from './messaging/messenger.js';
import { type Locale, translator } from '../i18n/i18n.js';
import { timeFormat } from '../i18n/format.js';
import { countryName } from '../i18n/country-name.js';

/** A time in a mail: in the reader's language; in UTC, said as such (a mail does not know the organization's zone). */
const mailTime = (locale: Locale, at: number) => timeFormat(locale, null, at).at(at);

export interface NotifierLog {
  warn(obj: object, msg: string): void;
}

/** Sends a notice by email. Notices must never break the action they describe: failures are logged, not thrown. */
export function bestEffortEmail(messenger: Messenger, log: NotifierLog) {
  return async (to: string, subject: string, text: string, locale: Locale): Promise<void> => {
    try {
      await messenger.send({ channel: 'email', to, subject, text, locale });
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'notice email not sent');
    }
  };
}

export function createNotifier(messenger: Messenger, log: NotifierLog): Notifier {
  const bestEffort = bestEffortEmail(messenger, log);
  return {
    supports: (channel) => messenger.supports(channel),
    async sendCode(channel: CodeChannel, to, code, locale) {
      const t = translator(locale);
      const text =
        channel === 'voice' ? t('msg.code.voice', { spaced: code.split('').join(' ') }) : t('msg.code.text', { code });
      try {
        await messenger.send({ channel, to, subject: t('msg.code.subject'), text, locale });
      } catch (e) {
        if (e instanceof DeliveryError) throw new SesameError('delivery_failed', e.message);
        throw e;
      }
    },
    async secondFactorFailed(to, locale, ip, at) {
      const t = translator(locale);
      await bestEffort(
        to,
        t('msg.mfa_failed.subject'),
        t('msg.mfa_failed.text', { time: mailTime(locale, at), ip }),
        locale,
      );
    },
    async appPasswordCreated(to, locale, name, ip, at) {
      const t = translator(locale);
      await bestEffort(
        to,
        t('msg.app_password.subject'),
        t('msg.app_password.created', { name, time: mailTime(locale, at), ip }),
        locale,
      );
    },
    async appPasswordNewIp(to, locale, name, ip, protocol, at, country) {
      const t = translator(locale);
      const params = { name, ip, protocol: protocol.toUpperCase(), time: mailTime(locale, at) };
      if (!country) {
        await bestEffort(to, t('msg.app_password.new_ip.subject'), t('msg.app_password.new_ip', params), locale);
        return;
      }
      const where = { ...params, country: `${countryName(locale, country.code)} (${country.code})` };
      await bestEffort(
        to,
        t(country.isNew ? 'msg.app_password.new_country.subject' : 'msg.app_password.new_ip.subject'),
        `${t(country.isNew ? 'msg.app_password.new_country' : 'msg.app_password.new_ip_country', where)}\n\n${t('msg.country.credit')}`,
        locale,
      );
    },
    async appPasswordNewCountryToAdmin(to, locale, n) {
      const t = translator(locale);
      const text = t('msg.admin.new_country', {
        name: n.appPasswordName,
        user: n.user.name,
        address: n.user.address,
        country: `${countryName(locale, n.country)} (${n.country})`,
        ip: n.ip,
        protocol: n.protocol.toUpperCase(),
        time: mailTime(locale, n.at),
      });
      await bestEffort(
        to,
        t('msg.admin.new_country.subject', { address: n.user.address }),
        `${text}\n\n${t('msg.country.credit')}`,
        locale,
      );
    },
    async mfaTurnedOff(to, locale, appPasswords, at) {
      const t = translator(locale);
      const time = mailTime(locale, at);
      const text = appPasswords.length
        ? t('msg.mfa_off.text_ap', {
            time,
            count: appPasswords.length,
            names: appPasswords.map((n) => `"${n}"`).join(', '),
          })
        : t('msg.mfa_off.text', { time });
      await bestEffort(to, t('msg.mfa_off.subject'), text, locale);
    },
    async methodsChanged(to, locale, change, at) {
      const t = translator(locale);
      await bestEffort(
        to,
        t('msg.methods.subject'),
        t(`msg.methods.${change}`, { time: mailTime(locale, at) }),
        locale,
      );
    },
  };
}
