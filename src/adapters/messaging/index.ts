/**
 * Builds the Messenger the domain uses, from configuration: email goes to the SMTP server when
 * one is configured, text and voice to the webhook gateway when one is configured, and anything
 * else to the development outbox file, but only outside production mode. In production a channel
 * without a real route is simply not supported (`supports()` is false), and the policy does not
 * offer it.
 */
import type { Config } from '../../config/config.js';
import { type Channel, DeliveryError, type Messenger, type OutgoingMessage } from './messenger.js';
import { DevOutbox } from './outbox.js';
import { SmtpMailer } from './smtp-mailer.js';
import { WebhookGateway } from './webhook-gateway.js';

export { type Channel, DeliveryError, type Messenger, type OutgoingMessage } from './messenger.js';
export { DevOutbox } from './outbox.js';
export { SmtpMailer, type SmtpMailerOptions } from './smtp-mailer.js';
export { SECRET_HEADER, WebhookGateway, type WebhookGatewayOptions } from './webhook-gateway.js';

/** The part of the configuration the messenger needs (documented in src/config/config.ts). */
export type MessengerSettings = Pick<
  Config,
  'mode' | 'smtpUrl' | 'mailFrom' | 'smsWebhookUrl' | 'smsWebhookSecret' | 'devOutbox'
>;

/** Timeouts and trust, for tests and special setups; the defaults suit production. */
export interface MessengerTuning {
  smtpConnectTimeoutMs?: number;
  smtpSocketTimeoutMs?: number;
  smtpCa?: string | Buffer;
  webhookTimeoutMs?: number;
}

export type Route = 'smtp' | 'webhook' | 'outbox' | 'none';

export interface RoutedMessenger extends Messenger {
  /** Where each channel goes, for the start-up log. */
  readonly routes: Readonly<Record<Channel, Route>>;
  /** The outbox file when some channel uses it, else ''. */
  readonly outboxFile: string;
}

export function createMessenger(settings: MessengerSettings, tuning: MessengerTuning = {}): RoutedMessenger {
  const production = settings.mode === 'production';
  if (production && settings.devOutbox) throw new Error('the development outbox is not allowed in production mode');
  const mailer = settings.smtpUrl
    ? new SmtpMailer({
        url: settings.smtpUrl,
        from: settings.mailFrom,
        connectTimeoutMs: tuning.smtpConnectTimeoutMs,
        socketTimeoutMs: tuning.smtpSocketTimeoutMs,
        ca: tuning.smtpCa,
      })
    : undefined;
  const gateway = settings.smsWebhookUrl
    ? new WebhookGateway({
        url: settings.smsWebhookUrl,
        secret: settings.smsWebhookSecret,
        timeoutMs: tuning.webhookTimeoutMs,
      })
    : undefined;
  const outbox = !production && settings.devOutbox ? new DevOutbox(settings.devOutbox) : undefined;

  const senders: Partial<Record<Channel, Messenger>> = {};
  const routes: Record<Channel, Route> = { email: 'none', sms: 'none', voice: 'none' };
  const pick = (channel: Channel, real: Messenger | undefined, route: Route) => {
    const sender = real ?? outbox;
    if (!sender) return;
    senders[channel] = sender;
    routes[channel] = real ? route : 'outbox';
  };
  pick('email', mailer, 'smtp');
  pick('sms', gateway, 'webhook');
  pick('voice', gateway, 'webhook');

  return {
    routes: Object.freeze(routes),
    outboxFile: Object.values(routes).includes('outbox') && outbox ? outbox.file : '',
    supports: (channel) => senders[channel] !== undefined,
    async send(message: OutgoingMessage) {
      const sender = senders[message.channel];
      if (!sender) throw new DeliveryError(message.channel, 'this channel is not configured');
      await sender.send(message);
    },
  };
}
