/**
 * A queue for CPU-bound work (Argon2) with a fixed concurrency and a maximum wait. Work beyond
 * the concurrency waits its turn, but never longer than `maxWaitMs`: a job that would wait longer
 * is refused at once (QueueBusyError), so that under a flood each request gets a fast "try again
 * shortly" instead of every user waiting seconds behind the flood (issue #15, item 3).
 *
 * "Would wait longer" is estimated from the jobs ahead and the recent average job time; a job
 * admitted on that estimate that is still waiting at its deadline is refused then (the estimate
 * can be wrong when jobs suddenly slow down), so no job ever waits more than `maxWaitMs`.
 */

export class QueueBusyError extends Error {
  constructor(
    /** How long the queue expects to stay this full: a hint for Retry-After. */
    readonly retryAfterMs: number,
  ) {
    super('work queue full: refused rather than waiting beyond its maximum');
    this.name = 'QueueBusyError';
  }
}

export interface WorkQueueOptions {
  /** Jobs running at once (for Argon2: the number of cores). */
  concurrency: number;
  /** Longest a job may wait for its turn. */
  maxWaitMs: number;
  /** Millisecond clock (tests); default performance.now. */
  now?: () => number;
}

interface Waiting {
  start: () => void;
  /** The deadline; none for a patient job. */
  timer: NodeJS.Timeout | undefined;
}

export class WorkQueue {
  private running = 0;
  private readonly waiting: Waiting[] = [];
  /** Exponentially weighted average of recent job times, ms; 0 until the first job ends. */
  private averageMs = 0;
  private readonly now: () => number;

  constructor(private readonly opts: WorkQueueOptions) {
    if (!(opts.concurrency >= 1)) throw new Error('concurrency must be at least 1');
    this.now = opts.now ?? (() => performance.now());
  }

  /** Jobs running and waiting now (metrics, tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** The expected wait of a job queued now, ms. */
  private expectedWaitMs(): number {
    const rounds = Math.ceil((this.waiting.length + 1) / this.opts.concurrency);
    return rounds * this.averageMs;
  }

  /**
   * Runs `job` in its turn. A `patient` job waits however long its turn takes (it still counts
   * toward the concurrency): for work that must not fail under load and is bounded elsewhere.
   */
  async run<T>(job: () => Promise<T>, opts: { patient?: boolean } = {}): Promise<T> {
    await this.acquire(opts.patient === true);
    const started = this.now();
    try {
      return await job();
    } finally {
      const took = this.now() - started;
      this.averageMs = this.averageMs === 0 ? took : this.averageMs * 0.8 + took * 0.2;
      this.release();
    }
  }

  /** Takes a slot: at once when one is free, else after waiting (refused beyond the maximum wait). */
  private acquire(patient: boolean): Promise<void> | void {
    if (this.running < this.opts.concurrency) {
      this.running++;
      return;
    }
    const expected = this.expectedWaitMs();
    if (!patient && expected > this.opts.maxWaitMs) throw new QueueBusyError(expected);
    return new Promise<void>((resolve, reject) => {
      const entry: Waiting = {
        start: resolve,
        timer: patient
          ? undefined
          : setTimeout(() => {
              const i = this.waiting.indexOf(entry);
              if (i >= 0) this.waiting.splice(i, 1);
              reject(new QueueBusyError(Math.max(this.expectedWaitMs(), this.opts.maxWaitMs)));
            }, this.opts.maxWaitMs),
      };
      this.waiting.push(entry);
    });
  }

  private release() {
    const next = this.waiting.shift();
    if (next) {
      // The slot passes straight to the next job: `running` stays the same.
      clearTimeout(next.timer);
      next.start();
    } else this.running--;
  }
}
