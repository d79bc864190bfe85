// The test certificates and keys in test/fixtures/tls (see its README), read by name.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../src/core/paths.js";

/** The bytes of test/fixtures/tls/NAME. */
export function tlsFixture(name: string): Buffer {
  return readFileSync(join(packageRoot(), "test", "fixtures", "tls", name));
}
