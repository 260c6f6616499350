/**
 * Writes that must not slow the answer (the sign-in log of the legacy endpoints, last-used times)
 * are queued and written in batches: every `intervalMs`, or at once when `maxPending` items wait.
 * A batch is written in chunks of at most `chunk` items, one statement each, with a turn of the
 * event loop between chunks, so a large backlog never blocks the loop in one piece (a 10k-row
 * synchronous SQLite transaction was measured to block it 84 ms). `flush()` drains everything:
 * graceful shutdown and readers that must see the latest rows call it.
 */
export interface BatchQueueOptions<T> {
  write: (items: T[]) => Promise<void>;
  intervalMs?: number;
  chunk?: number;
  maxPending?: number;
  onError?: (e: unknown, items: T[]) => void;
}

export class BatchQueue<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly intervalMs: number;
  private readonly chunk: number;
  private readonly maxPending: number;

  constructor(private readonly o: BatchQueueOptions<T>) {
    this.intervalMs = o.intervalMs ?? 100;
    this.chunk = o.chunk ?? 200;
    this.maxPending = o.maxPending ?? 2000;
  }

  push(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.maxPending) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.pending.length;
  }

  /** Writes everything queued so far; resolves when it is in the store. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const items = this.pending;
    this.pending = [];
    // Batches are written one after another, in order.
    this.running = this.running.then(async () => {
      for (let i = 0; i < items.length; i += this.chunk) {
        const part = items.slice(i, i + this.chunk);
        try {
          await this.o.write(part);
        } catch (e) {
          this.o.onError?.(e, part);
        }
        if (i + this.chunk < items.length) await new Promise((r) => setImmediate(r));
      }
    });
    return this.running;
  }
}
