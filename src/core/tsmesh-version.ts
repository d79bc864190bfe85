// tsmesh's own release (package.json's version), as `tsmesh version`, the mesh registry and the
// proxy's admin /server_info report it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./paths.js";

let cached: string | undefined;

export function tsmeshVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
  return cached;
}

/**
 * The proxy's build version in Envoy's shape, REVISION/VERSION/STATUS/BUILD_TYPE/SSL_LIBRARY
 * (`/server_info`'s `version`). A package has no source-control stamp, so REVISION and STATUS are
 * what Envoy reports for a build from a source archive: revision "0", status "Distribution".
 * The TLS library is Node's (OpenSSL) where Envoy names BoringSSL.
 */
export function proxyBuildVersion(): string {
  return `0/${tsmeshVersion()}/Distribution/RELEASE/OpenSSL`;
}

/** The release in an Envoy build version string (its second field), or undefined when it is not one. */
export function releaseOfBuildVersion(build: string): string | undefined {
  const parts = build.split("/");
  return parts.length === 5 && parts[1] !== "" ? parts[1] : undefined;
}
