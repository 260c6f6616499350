/** Time source; injected so that tests can move time (timeouts, lockouts) without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
