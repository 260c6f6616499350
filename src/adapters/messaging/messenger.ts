/**
 * Outgoing messages to people: email (codes, notices) and text/voice (codes). The domain sees
 * only these interfaces; implementations live beside this file (SMTP via nodemailer, an HTTP
 * webhook gateway for text and voice, and a development outbox file).
 */
import type { Locale } from '../../domain/locale.js';

export type Channel = 'email' | 'sms' | 'voice';

export interface OutgoingMessage {
  channel: Channel;
  /** An email address, or a phone number in E.164 form (+31612345678). */
  to: string;
  /** Email subject; ignored for text and voice. */
  subject: string;
  /** Plain text. For voice, the words the gateway reads out. */
  text: string;
  locale: Locale;
}

/** Thrown when a message could not be handed over; the user is told to try another way. */
export class DeliveryError extends Error {
  constructor(
    readonly channel: Channel,
    detail: string,
  ) {
    super(`could not send ${channel}: ${detail}`);
    this.name = 'DeliveryError';
  }
}

export interface Messenger {
  /** Hands the message to its channel; throws DeliveryError on failure. */
  send(message: OutgoingMessage): Promise<void>;
  /** Whether a channel is configured at all (the policy hides methods that cannot work). */
  supports(channel: Channel): boolean;
}
