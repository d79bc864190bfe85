// Tests that need a Debian package (installed by scripts/test-prereqs.sh, which `npm test` runs
// first): under CI=true a missing prerequisite fails the test; elsewhere the test is skipped with a
// message that says what to install.

const INSTALL = "bash scripts/test-prereqs.sh (as root) installs it";

/** For a test's `skip` option: a reason when `present` is false outside CI; false (run) otherwise. */
export function skipUnlessPresent(what: string, present: boolean): string | false {
  if (present || process.env.CI === "true") return false;
  return `${what} is not installed; ${INSTALL}`;
}

/** Throws (failing the test) when the prerequisite is missing: for CI, where nothing is skipped. */
export function assertPresent(what: string, present: boolean): void {
  if (!present) throw new Error(`test prerequisite missing: ${what}; ${INSTALL}`);
}
