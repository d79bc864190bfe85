// For a test that needs something the repository cannot hold (a system package, a tool on PATH):
// on a developer's machine without it the test is skipped with the reason; under CI=true it fails
// with the same reason, so a CI run never passes by skipping.
import type { TestContext } from "node:test";

/** True when the test may go on; otherwise skips it (locally) or throws naming what is missing (CI). */
export function needsOutside(t: Pick<TestContext, "skip">, present: boolean, what: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (present) return true;
  if (env.CI === "true") throw new Error(`this test needs ${what}, which is not there (CI=true: failing rather than skipping)`);
  t.skip(`${what} is not there`);
  return false;
}
