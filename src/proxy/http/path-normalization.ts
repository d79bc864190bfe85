// The HTTP connection manager's path normalization, before routing and every filter (what RBAC
// and routes match must be what the upstream gets): normalize_path canonicalizes the path as
// Envoy's chromium-derived canonicalizer does — `.` and `..` segments (also percent-encoded)
// resolved, backslashes as slashes, characters outside the path set percent-encoded — through the
// WHATWG URL parser, which follows the same rules; merge_slashes collapses repeated slashes;
// path_with_escaped_slashes_action decides what %2F and %5C mean. The query is left as it came.
import type { envoy } from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";

type HcmMessage = envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;

export interface PathNormalization {
  normalizePath: boolean;
  mergeSlashes: boolean;
  /** What to do with %2F / %5C (either case) in the path. */
  escapedSlashes: "KEEP_UNCHANGED" | "REJECT_REQUEST" | "UNESCAPE_AND_FORWARD";
}

/** Compiles the HCM's path settings (UNESCAPE_AND_REDIRECT is refused: tsmesh does not implement it). */
export function pathNormalization(c: HcmMessage, path: string): PathNormalization | undefined {
  const action = c.pathWithEscapedSlashesAction ?? "IMPLEMENTATION_SPECIFIC_DEFAULT";
  if (action === "UNESCAPE_AND_REDIRECT") throw new XdsConfigError(`${path}.pathWithEscapedSlashesAction`, "UNESCAPE_AND_REDIRECT is not implemented by tsmesh");
  if (typeof action === "number") throw new XdsConfigError(`${path}.pathWithEscapedSlashesAction`, `unknown value ${action}`);
  const escapedSlashes = action === "REJECT_REQUEST" || action === "UNESCAPE_AND_FORWARD" ? action : "KEEP_UNCHANGED";
  const normalizePath = c.normalizePath?.value === true;
  const mergeSlashes = c.mergeSlashes === true;
  if (!normalizePath && !mergeSlashes && escapedSlashes === "KEEP_UNCHANGED") return undefined;
  return { normalizePath, mergeSlashes, escapedSlashes };
}

/** A path that needs the canonicalizer: dot segments, encoded dots, backslashes, or bytes outside the path set. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be encoded
const NEEDS_CANONICAL = /(?:^|\/)\.\.?(?:\/|$)|%2e|[\\\x00-\x20"<>`{}\x7f-\uffff]/i;
const ESCAPED_SLASH = /%2f|%5c/i;

/**
 * The normalized path (with its query), or undefined when the request must be refused (Envoy's
 * 400 for REJECT_REQUEST, or a path the canonicalizer cannot make sense of).
 */
export function normalizePath(p: PathNormalization, full: string): string | undefined {
  const q = full.indexOf("?");
  let path = q < 0 ? full : full.slice(0, q);
  if (path.charCodeAt(0) !== 47 /* / */) return full; // absolute-form or "*": nothing to normalize
  if (p.escapedSlashes !== "KEEP_UNCHANGED" && ESCAPED_SLASH.test(path)) {
    if (p.escapedSlashes === "REJECT_REQUEST") return undefined;
    path = path.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
  }
  if (p.normalizePath && NEEDS_CANONICAL.test(path)) {
    try {
      path = new URL(path, "http://h").pathname;
    } catch {
      return undefined;
    }
  }
  if (p.mergeSlashes && path.includes("//")) path = path.replace(/\/{2,}/g, "/");
  return q < 0 ? path : path + full.slice(q);
}
