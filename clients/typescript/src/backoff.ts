/**
 * Reconnect delays: full-jitter exponential backoff without a give-up. Attempt n waits a uniform
 * random time in [0, min(cap, base · 2ⁿ)], so a host restart does not bring every device back in
 * the same instant, and a device keeps trying for as long as it is asked to stay connected.
 */
export interface BackoffOptions {
  /** The first ceiling, in milliseconds. */
  baseMs: number;
  /** The largest ceiling, in milliseconds. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/** The delay before reconnect attempt `attempt` (0 for the first); `random` returns [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * (ceiling + 1));
}
