// Waiting for a condition in tests, with a bound generous enough for a loaded machine. A module of
// its own so a test that only waits does not load the e2e harness (the control plane) with it.

/** Polls `fn` until it returns a truthy value or `ms` pass; returns the value or throws with `what`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000, every = 20): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
