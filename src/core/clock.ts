// Monotonic time and timers behind one small interface, so the proxy's timed state machines
// (outlier detection, the primary's lease arbiter) take an injected clock in tests.
import { performance } from "node:perf_hooks";

/** Time and timers, injectable for tests (milliseconds, monotonic). */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** performance.now() and unref'd Node timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

