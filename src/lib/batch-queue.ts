/**
 * Writes that must not slow the answer (the sign-in log of the legacy endpoints, last-used times)
 * are queued and written in batches: every `intervalMs`, or at once when `maxPending` items wait.
 * A batch is written in chunks of at most `chunk` items, one statement each, with a turn of the
 * event loop between chunks, so a large backlog never blocks the loop in one piece (a 10k-row
 * synchronous SQLite transaction was measured to block it 84 ms). `flush()` drains everything:
 * graceful shutdown and readers that must see the latest rows call it.
 *
 * A chunk whose write fails (the store restarting, locked, full) is held and tried again, a
 * bounded number of times with growing waits (`retries`), so a short outage loses nothing; only
 * then, or when more is held than `maxHeld` (memory stays bounded in a long outage), is it given
 * up through `onError`. A retry that succeeds after a failure that only looked like one (the
 * commit reached the store but its answer did not) writes the chunk twice; the queue does not
 * know, and the writer may make its statement idempotent if that matters.
 */
export interface BatchQueueOptions<T> {
  write: (items: T[]) => Promise<void>;
  intervalMs?: number;
  chunk?: number;
  maxPending?: number;
  /** Items given up: their write failed and no retry is left, or too many were held. */
  onError?: (e: unknown, items: T[]) => void;
  /** How many more times a chunk whose write failed is tried (default 0: given up at once). */
  retries?: number;
  /** Wait before the first retry, doubled for each next one up to `retryMaxDelayMs` (defaults 1 s and 10 s). */
  retryDelayMs?: number;
  retryMaxDelayMs?: number;
  /** At most this many items are held for retry; beyond it the oldest are given up (default 10 × maxPending). */
  maxHeld?: number;
  /** A chunk's write failed and it is held for another try; `attempt` counts the retries, from 1. */
  onRetry?: (e: unknown, items: T[], attempt: number) => void;
}

interface Held<T> {
  items: T[];
  /** Retries used so far. */
  attempts: number;
  error: unknown;
}

export class BatchQueue<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly intervalMs: number;
  private readonly chunk: number;
  private readonly maxPending: number;
  private readonly retries: number;
  private readonly maxHeld: number;
  private held: Held<T>[] = [];
  private heldCount = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: BatchQueueOptions<T>) {
    this.intervalMs = o.intervalMs ?? 100;
    this.chunk = o.chunk ?? 200;
    this.maxPending = o.maxPending ?? 2000;
    this.retries = o.retries ?? 0;
    this.maxHeld = o.maxHeld ?? 10 * this.maxPending;
  }

  push(item: T): void {
    this.pending.push(item);
    // The queue's own flushes write what is pending; held chunks wait for their retry (or flush()).
    if (this.pending.length >= this.maxPending) void this.drain(false);
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.drain(false), this.intervalMs);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.pending.length;
  }

  /** Items whose write failed and that wait for another try. */
  get heldSize(): number {
    return this.heldCount;
  }

  /**
   * Writes everything queued so far, and tries the held chunks once more (without using up one of
   * their retries: a reader calling this during an outage must not make them given up sooner).
   * Resolves when it is in the store, or held again.
   */
  flush(): Promise<void> {
    return this.drain(true);
  }

  /** flush(), then gives up (through onError) whatever is still held: for shutdown. */
  async close(): Promise<void> {
    await this.flush();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const left = this.held;
    this.held = [];
    this.heldCount = 0;
    for (const h of left) this.o.onError?.(h.error, h.items);
  }

  private drain(withHeld: boolean): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const items = this.pending;
    this.pending = [];
    // Batches are written one after another, in order (held ones first: they are older).
    this.running = this.running.then(async () => {
      if (withHeld) await this.retryHeld(false);
      for (let i = 0; i < items.length; i += this.chunk) {
        await this.write(items.slice(i, i + this.chunk), 0, true);
        if (i + this.chunk < items.length) await new Promise((r) => setImmediate(r));
      }
    });
    return this.running;
  }

  /** Tries every held chunk once; `counted`: the retry timer's tries use up a retry, flush()'s do not. */
  private async retryHeld(counted: boolean): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const held = this.held;
    this.held = [];
    this.heldCount = 0;
    for (const h of held) await this.write(h.items, h.attempts, counted);
  }

  private async write(items: T[], attempts: number, counted: boolean): Promise<void> {
    try {
      await this.o.write(items);
    } catch (e) {
      if (counted && attempts >= this.retries) {
        this.o.onError?.(e, items);
        return;
      }
      const next = counted ? attempts + 1 : attempts;
      this.held.push({ items, attempts: next, error: e });
      this.heldCount += items.length;
      if (counted) this.o.onRetry?.(e, items, next);
      while (this.heldCount > this.maxHeld && this.held.length > 0) {
        const oldest = this.held.shift()!;
        this.heldCount -= oldest.items.length;
        this.o.onError?.(oldest.error, oldest.items);
      }
      this.scheduleRetry(Math.max(next, 1));
    }
  }

  private scheduleRetry(attempt: number): void {
    if (this.retryTimer || this.held.length === 0) return;
    const ms = Math.min((this.o.retryDelayMs ?? 1000) * 2 ** (attempt - 1), this.o.retryMaxDelayMs ?? 10_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.running = this.running.then(() => this.retryHeld(true));
    }, ms);
    this.retryTimer.unref();
  }
}
