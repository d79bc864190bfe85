// What the xDS client's debug lines say about a response and an accepted update: version and
// resource names (at most ten, then a count), so `/logging?config=debug` shows what arrived and
// what was ACKed without flooding the log on a mesh with thousands of resources.
import type { ResourceUpdate } from "./resources.js";

/** At most this many names in a line. */
const NAMES_SHOWN = 10;

function someNames(names: readonly string[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, NAMES_SHOWN).join(", ");
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown;
}

const text = (v: unknown): string => (typeof v === "string" ? v : "");

/** A decoded DiscoveryResponse / DeltaDiscoveryResponse (SotW resources are named once decoded: counted here). */
export function describeResponse(msg: Record<string, unknown>, protocol: "delta" | "sotw"): string {
  const list: unknown[] = Array.isArray(msg.resources) ? msg.resources : [];
  if (protocol === "sotw") return `version ${text(msg.versionInfo) || "-"}, ${list.length} resource(s)`;
  const names = list.map((r) => (typeof r === "object" && r !== null ? text((r as { name?: unknown }).name) : ""));
  const removed: string[] = Array.isArray(msg.removedResources) ? msg.removedResources.filter((n): n is string => typeof n === "string") : [];
  return `version ${text(msg.systemVersionInfo) || "-"}, ${names.length} resource(s): ${someNames(names)}${removed.length ? `; removed: ${someNames(removed)}` : ""}`;
}

/** An update the client accepted (what its ACK covers). */
export function describeUpdate(u: ResourceUpdate): string {
  const parts = [`${u.updated.length} updated (${someNames(u.updated.map((r) => r.name))})`];
  if (u.removed.length) parts.push(`${u.removed.length} removed (${someNames(u.removed)})`);
  return parts.join(", ");
}
