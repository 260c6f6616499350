/**
 * Development outbox: instead of sending, appends each message as one JSON line
 * `{"at","channel","to","subject","text","locale"}` to a file (mode 0600, created with its folder
 * when missing), so a developer can read codes with `tail -f`. It takes every channel.
 * `createMessenger` never uses it in production mode, and loadConfig refuses production with
 * SESAME_DEV_OUTBOX set.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Channel, DeliveryError, type Messenger, type OutgoingMessage } from './messenger.js';

export class DevOutbox implements Messenger {
  constructor(
    readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  supports(_channel: Channel): boolean {
    return true;
  }

  async send(message: OutgoingMessage): Promise<void> {
    const line = `${JSON.stringify({
      at: this.now().toISOString(),
      channel: message.channel,
      to: message.to,
      subject: message.subject,
      text: message.text,
      locale: message.locale,
    })}\n`;
    try {
      await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const handle = await fs.open(this.file, 'a', 0o600);
      try {
        // The mode given to open() applies only to a new file; codes are secrets, so insist.
        await handle.chmod(0o600);
        await handle.appendFile(line, 'utf8');
      } finally {
        await handle.close();
      }
    } catch (e) {
      const code = (e as { code?: unknown })?.code;
      throw new DeliveryError(
        message.channel,
        `development outbox ${this.file} not writable${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
  }
}
