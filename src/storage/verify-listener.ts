/**
 * PostgreSQL's side of Store.verifyToken() (issue #21, item 1): a connection of its own that
 * LISTENs on `sesame_verify`, which migration 29's triggers notify at the commit of every change
 * that can alter a good app password's answer.
 *
 * The guarantee, and how it holds. The token moves at every notification, at every write of this
 * instance that can change an answer (WatchingDriver, when its connection is released), and at
 * every reconnection. It is given only while the connection is *confirmed*: a ping (`SELECT 1`)
 * sent at most CONFIRM_MS ago has been answered. PostgreSQL sends a listening session the
 * notifications of transactions that committed before it answers a query (before ReadyForQuery),
 * and the client reads them in order, so once a ping sent at time s is answered, every change
 * committed before s has moved the token. An answer kept in memory is therefore never older than
 * CONFIRM_MS plus the ping's own trip: when notifications are late or lost, or the connection hangs
 * or dies, memory is bypassed (and so dropped: see AnswerCache) within that time. In practice a
 * notification arrives within a millisecond or two (docs/performance.md has the figures).
 */
import type pg from 'pg';

/** How old the last answered ping may be (from its sending) for memory to be trusted. */
export const CONFIRM_MS = 500;
/** How often the ping is sent: several per window, so one slow answer does not bypass memory. */
const PING_EVERY_MS = 100;
/** A ping unanswered this long: the connection is given up and opened again. */
const PING_GIVE_UP_MS = 5_000;
/** Wait before connecting again after a failure. */
const RECONNECT_MS = 1_000;

export class VerifyListener {
  private client: pg.Client | undefined;
  private started = false;
  private closed = false;
  /** Moves at every notification, local change and reconnection. */
  private generation = 0;
  /** When the last answered ping was sent (performance.now()); -Infinity: none on this connection. */
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private pinging = false;
  private ping: NodeJS.Timeout | undefined;
  /** Notifications heard, and this instance's own writes that can change an answer (tests). */
  heard = 0;
  localChanges = 0;

  constructor(
    private readonly Client: typeof pg.Client,
    private readonly url: string,
    /** Clock in ms; tests may pass their own. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The token now: undefined while the connection is not confirmed (see above). The first call
   * starts listening (a CLI command never asks, so it never opens the connection).
   */
  token(): number | undefined {
    if (!this.started) {
      this.started = true;
      void this.connect();
    }
    return this.now() - this.confirmedAt <= CONFIRM_MS ? this.generation : undefined;
  }

  /** A write of this instance that can change an answer has ended (WatchingDriver). */
  changed(): void {
    this.localChanges++;
    this.generation++;
  }

  /** The listening session's backend, for tests that end it (pg_terminate_backend); undefined while not listening. */
  get backendPid(): number | undefined {
    return (this.client as unknown as { processID?: number } | undefined)?.processID ?? undefined;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new this.Client({ connectionString: this.url, keepAlive: true });
    this.client = client;
    const lost = () => this.lost(client);
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', () => {
      this.heard++;
      this.generation++;
    });
    try {
      await client.connect();
      const sentAt = this.now();
      await client.query('LISTEN sesame_verify');
      if (this.client !== client || this.closed) throw new Error('closed while connecting');
      // Whatever changed while no one listened is unknown: a new generation drops every kept answer.
      this.generation++;
      this.confirmedAt = sentAt;
    } catch {
      lost();
      return;
    }
    this.ping = setInterval(() => this.sendPing(client), PING_EVERY_MS);
    this.ping.unref();
  }

  private sendPing(client: pg.Client): void {
    if (this.pinging) {
      // The last one is still unanswered: memory is bypassed after CONFIRM_MS anyway; past
      // PING_GIVE_UP_MS the connection is presumed dead.
      if (this.now() - this.confirmedAt > PING_GIVE_UP_MS) this.lost(client);
      return;
    }
    this.pinging = true;
    const sentAt = this.now();
    client.query('SELECT 1').then(
      () => {
        if (this.client !== client) return;
        this.pinging = false;
        this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      },
      () => this.lost(client),
    );
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.confirmedAt = Number.NEGATIVE_INFINITY;
    this.generation++;
    this.client = undefined;
    this.pinging = false;
    clearInterval(this.ping);
    client.removeAllListeners('end');
    client.removeAllListeners('notification');
    client.on('error', () => {});
    void client.end().catch(() => {});
    if (!this.closed) setTimeout(() => void this.connect(), RECONNECT_MS).unref();
  }

  /** Whether memory may be used now (for metrics). */
  get confirmed(): boolean {
    return this.now() - this.confirmedAt <= CONFIRM_MS;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.confirmedAt = Number.NEGATIVE_INFINITY;
    clearInterval(this.ping);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
