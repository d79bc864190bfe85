// Reading Envoy's admin ConfigDump (a proxy's /config_dump, istiod's /debug/config_dump) as the
// operating commands need it: the section of one type, the resources in it, fields by their proto
// name in either JSON spelling (proto JSON's lowerCamel or the snake_case Envoy's /clusters prints).

/** A JSON object from an admin page. */
export type Json = { [k: string]: unknown };

export function field(o: unknown, snake: string): unknown {
  if (o === null || typeof o !== "object") return undefined;
  const r = o as Json;
  return r[snake] ?? r[snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())];
}

export const list = (o: unknown, snake: string): unknown[] => {
  const v = field(o, snake);
  return Array.isArray(v) ? v : [];
};

export const str = (o: unknown, snake: string): string => {
  const v = field(o, snake);
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
};

export const num = (o: unknown, snake: string): number => {
  const v = field(o, snake);
  return typeof v === "number" ? v : typeof v === "string" && v !== "" ? Number(v) : 0;
};

export const ADMIN_TYPE_PREFIX = "type.googleapis.com/envoy.admin.v3.";

/** The section of a ConfigDump of one admin type (ClustersConfigDump, …); undefined when absent. */
export function dumpSection(dump: unknown, adminType: string): Json | undefined {
  const s = list(dump, "configs").find((c) => field(c, "@type") === `${ADMIN_TYPE_PREFIX}${adminType}`);
  return s as Json | undefined;
}

export interface DumpedResource {
  name: string;
  /** The resource itself (an Any in proto JSON: "@type" plus its fields). */
  resource: Json;
  versionInfo: string;
  lastUpdated: string;
  /** Where in the dump it was: dynamic (from xDS), static (bootstrap), warming. */
  origin: "dynamic" | "static" | "warming";
}

function entry(e: unknown, key: string, origin: DumpedResource["origin"]): DumpedResource | undefined {
  const r = field(e, key);
  if (!r || typeof r !== "object") return undefined;
  return { name: str(r, "name"), resource: r as Json, versionInfo: str(e, "version_info"), lastUpdated: str(e, "last_updated"), origin };
}

const present = <T>(xs: (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);

/** Clusters in a dump: dynamic active, static, warming. */
export function dumpedClusters(dump: unknown): DumpedResource[] {
  const s = dumpSection(dump, "ClustersConfigDump");
  return present([
    ...list(s, "dynamic_active_clusters").map((e) => entry(e, "cluster", "dynamic")),
    ...list(s, "static_clusters").map((e) => entry(e, "cluster", "static")),
    ...list(s, "dynamic_warming_clusters").map((e) => entry(e, "cluster", "warming")),
  ]);
}

/** Listeners in a dump: the active state of each dynamic listener, and static ones. */
export function dumpedListeners(dump: unknown): DumpedResource[] {
  const s = dumpSection(dump, "ListenersConfigDump");
  return present([...list(s, "dynamic_listeners").map((e) => entry(field(e, "active_state"), "listener", "dynamic")), ...list(s, "static_listeners").map((e) => entry(e, "listener", "static"))]);
}

export function dumpedRoutes(dump: unknown): DumpedResource[] {
  const s = dumpSection(dump, "RoutesConfigDump");
  return present([...list(s, "dynamic_route_configs").map((e) => entry(e, "route_config", "dynamic")), ...list(s, "static_route_configs").map((e) => entry(e, "route_config", "static"))]);
}

export function dumpedEndpoints(dump: unknown): DumpedResource[] {
  const s = dumpSection(dump, "EndpointsConfigDump");
  return present([...list(s, "dynamic_endpoint_configs").map((e) => entry(e, "endpoint_config", "dynamic")), ...list(s, "static_endpoint_configs").map((e) => entry(e, "endpoint_config", "static"))]).map((r) => ({
    ...r,
    name: r.name || str(r.resource, "cluster_name"),
  }));
}

/** The Istio config a generated resource came from (metadata.filter_metadata.istio.config) as NAME.NAMESPACE, as istioctl renders it. */
export function istioConfigOf(resource: unknown): string {
  const path = str(field(field(field(resource, "metadata"), "filter_metadata"), "istio"), "config");
  if (!path) return "";
  // /apis/networking.istio.io/v1/namespaces/NS/KIND/NAME
  const parts = path.split("/");
  if (!path.startsWith("/apis/networking.istio.io/") || parts.length !== 8) return "<unknown>";
  return `${parts[7]}.${parts[5]}`;
}
