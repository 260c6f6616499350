/**
 * Text and voice messages through a generic HTTP webhook: each message is POSTed as JSON
 * `{"to","channel","text","locale"}` to one configured URL with the header
 * `X-Sesame-Secret: <shared secret>`. Only a 2xx answer counts as sent; any other status, a
 * redirect, a network error or no answer within the timeout is a DeliveryError (the user is told
 * to try another way). Error messages never contain the secret or the URL.
 */
import { type Channel, DeliveryError, type Messenger, type OutgoingMessage } from './messenger.js';

export const SECRET_HEADER = 'X-Sesame-Secret';
const E164 = /^\+[1-9]\d{6,14}$/;

export interface WebhookGatewayOptions {
  /** http(s) URL the messages are POSTed to. */
  url: string;
  /** Sent as X-Sesame-Secret so the gateway can tell Sesame from anyone else. */
  secret: string;
  /** Milliseconds to wait for the answer's status line and headers (default 5000). */
  timeoutMs?: number;
}

export class WebhookGateway implements Messenger {
  private readonly url: URL;
  private readonly timeoutMs: number;
  readonly #secret: string;

  constructor(options: WebhookGatewayOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:')
      throw new Error('the webhook URL must be http or https');
    if (!options.secret) throw new Error('the webhook needs a shared secret');
    this.#secret = options.secret;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  supports(channel: Channel): boolean {
    return channel === 'sms' || channel === 'voice';
  }

  async send(message: OutgoingMessage): Promise<void> {
    const { channel } = message;
    if (!this.supports(channel)) throw new DeliveryError(channel, 'the text gateway only sends sms and voice');
    if (!E164.test(message.to)) throw new DeliveryError(channel, 'the recipient is not a phone number in E.164 form');
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/plain, */*',
          [SECRET_HEADER]: this.#secret,
        },
        body: JSON.stringify({ to: message.to, channel, text: message.text, locale: message.locale }),
        // A redirect would carry the secret header to wherever it points: treat it as a failure.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new DeliveryError(channel, this.describe(e));
    }
    // The answer's body is not used; release the connection without waiting for it.
    await res.body?.cancel().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new DeliveryError(channel, `gateway answered ${res.status}`);
  }

  private describe(e: unknown): string {
    const err = e as { name?: string; cause?: { code?: unknown } };
    if (err?.name === 'TimeoutError' || err?.name === 'AbortError')
      return `gateway did not answer within ${this.timeoutMs} ms`;
    const code = typeof err?.cause?.code === 'string' ? err.cause.code : '';
    return `gateway unreachable${code ? ` (${code})` : ''}`;
  }
}
