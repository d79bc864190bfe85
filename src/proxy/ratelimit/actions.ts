// Route and virtual host `rate_limits` (envoy.config.route.v3.RateLimit) compiled into descriptor
// producers, as Envoy's router_ratelimit.cc: each RateLimit entry yields one descriptor per request
// from its actions in order (source_cluster, destination_cluster, request_headers, remote_address,
// generic_key, header_value_match, dynamic_metadata, metadata, masked_remote_address,
// query_parameter_value_match), or none when an action cannot produce its entry. The local and
// global rate-limit filters ask a route's policy for the entries of their stage. Compiled when the
// route configuration arrives; an action tsmesh does not implement is refused with its field path.
import { fromStruct } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import type { DynamicMetadata, MetadataValue } from "../dynamic-metadata.js";
import { XdsConfigError } from "../xds-error.js";
import { HeaderMatcher, QueryParameterMatcher } from "../http/matchers/matchers.js";

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

/** RateLimitResponse.RateLimit.Unit names the limit override takes. */
export type RateLimitUnit = "SECOND" | "MINUTE" | "HOUR" | "DAY" | "MONTH" | "YEAR";
const UNITS: ReadonlySet<string> = new Set(["SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR"]);

/** One descriptor a request produced (RateLimit::Descriptor). */
export interface RateLimitDescriptor {
  readonly entries: readonly DescriptorEntry[];
  /** The `limit` override read from dynamic metadata. */
  readonly limit?: { readonly requestsPerUnit: number; readonly unit: RateLimitUnit };
}

/** What actions read of a request. */
export interface ActionInput {
  /** The first value of a request header (lowercase name); pseudo-headers :path, :authority, :method, :scheme. */
  header(name: string): string | undefined;
  /** Every value of a header joined with "," (header matchers); pseudo-headers as above. */
  joinedHeader(name: string): string | undefined;
  /** :path with the query. */
  readonly path: string;
  /** The downstream remote address (IP, "" when not an IP connection). */
  readonly remote: string;
  /** The proxy's service cluster (node.cluster, Envoy's local_info clusterName). */
  readonly localCluster: string;
  /** The route's target cluster (undefined: none). */
  readonly routeCluster: string | undefined;
  /** The matched route's metadata (MetaData action, source ROUTE_ENTRY). */
  readonly routeMetadata: v3.Metadata | undefined;
  readonly dynamicMetadata: DynamicMetadata;
}

/** Produces one descriptor entry; false: this RateLimit yields no descriptor for the request. */
type Action = (input: ActionInput, out: DescriptorEntry[]) => boolean;

/** Envoy's MAX_STAGE_NUMBER + 1. */
const STAGES = 11;

interface MetadataKey {
  readonly key: string;
  readonly path: readonly string[];
}

function metadataKey(k: v3.envoy.type.metadata.v3.MetadataKey | undefined, path: string): MetadataKey {
  const key = k?.key ?? "";
  if (!key) throw new XdsConfigError(`${path}.key`, "metadata key must not be empty");
  const steps = (k?.path ?? []).map((s, i) => {
    if (!s.key) throw new XdsConfigError(`${path}.path[${i}].key`, "metadata path key must not be empty");
    return s.key;
  });
  if (steps.length === 0) throw new XdsConfigError(`${path}.path`, "metadata path must not be empty");
  return { key, path: steps };
}

/** A value at `path` of route metadata (filter_metadata[key]). */
function routeMetadataValue(md: v3.Metadata | undefined, k: MetadataKey): unknown {
  const s = md?.filterMetadata?.[k.key];
  if (s === undefined) return undefined;
  let v: unknown = fromStruct(s);
  for (const step of k.path) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, step)) return undefined;
    v = (v as Record<string, unknown>)[step];
  }
  return v;
}

function dynamicValue(dm: DynamicMetadata, k: MetadataKey): MetadataValue | undefined {
  return dm.lookup(k.key, k.path);
}

/** IPv4 in dotted form for an IPv4-mapped IPv6 address (Node's dual-stack sockets). */
function plainIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

function ipv4Bytes(ip: string): number[] | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4) return undefined;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return out.every((b) => b <= 255) ? out : undefined;
}

function ipv6Words(ip: string): number[] | undefined {
  const zone = ip.indexOf("%");
  if (zone >= 0) ip = ip.slice(0, zone);
  if (ip.includes(".")) {
    // An embedded IPv4 tail becomes two hex words.
    const lastColon = ip.lastIndexOf(":");
    const v4 = ipv4Bytes(ip.slice(lastColon + 1));
    if (!v4) return undefined;
    ip = `${ip.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = ip.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] => (s === "" ? [] : s.split(":").map((h) => (/^[0-9a-f]{1,4}$/i.test(h) ? parseInt(h, 16) : NaN)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const words = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  return words.every((w) => Number.isInteger(w)) ? words : undefined;
}

/** RFC 5952 text of 8 words (the longest run of ≥2 zero words compressed). */
function ipv6Text(w: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** Envoy's CidrRange::create(address, len).asString(): the address masked to `len` bits, "/len". */
export function maskedAddress(ip: string, v4Len: number, v6Len: number): string | undefined {
  ip = plainIp(ip);
  const v4 = ipv4Bytes(ip);
  if (v4) {
    const masked = v4.map((b, i) => {
      const bits = Math.max(0, Math.min(8, v4Len - i * 8));
      return b & ((0xff << (8 - bits)) & 0xff);
    });
    return `${masked.join(".")}/${v4Len}`;
  }
  const v6 = ipv6Words(ip);
  if (!v6) return undefined;
  const masked = v6.map((x, i) => {
    const bits = Math.max(0, Math.min(16, v6Len - i * 16));
    return x & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${ipv6Text(masked)}/${v6Len}`;
}

function boolValue(b: v3.BoolValue | undefined): boolean {
  return b === undefined ? true : b.value === true;
}

function compileAction(a: v3.RateLimit.Action, path: string): Action {
  const set = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  if (set.length !== 1) throw new XdsConfigError(path, set.length === 0 ? "rate limit action needs one action kind" : `rate limit action sets more than one kind: ${set.join(", ")}`);
  if (a.sourceCluster) return (input, out) => (out.push({ key: "source_cluster", value: input.localCluster }), true);
  if (a.destinationCluster) {
    return (input, out) => {
      if (input.routeCluster === undefined) return false;
      out.push({ key: "destination_cluster", value: input.routeCluster });
      return true;
    };
  }
  const rh = a.requestHeaders;
  if (rh) {
    const name = (rh.headerName ?? "").toLowerCase();
    const key = rh.descriptorKey ?? "";
    if (!name) throw new XdsConfigError(`${path}.requestHeaders.headerName`, "header_name must not be empty");
    if (!key) throw new XdsConfigError(`${path}.requestHeaders.descriptorKey`, "descriptor_key must not be empty");
    const skip = rh.skipIfAbsent === true;
    return (input, out) => {
      const v = input.header(name);
      // Absent: with skip_if_absent the entry is left out and the descriptor still produced.
      if (v === undefined) return skip;
      out.push({ key, value: v });
      return true;
    };
  }
  if (a.remoteAddress) {
    return (input, out) => {
      const ip = plainIp(input.remote);
      if (!ip) return false;
      out.push({ key: "remote_address", value: ip });
      return true;
    };
  }
  const mra = a.maskedRemoteAddress;
  if (mra) {
    const v4 = mra.v4PrefixMaskLen ? (mra.v4PrefixMaskLen.value ?? 0) : 32;
    const v6 = mra.v6PrefixMaskLen ? (mra.v6PrefixMaskLen.value ?? 0) : 128;
    if (v4 > 32) throw new XdsConfigError(`${path}.maskedRemoteAddress.v4PrefixMaskLen`, "must be <= 32");
    if (v6 > 128) throw new XdsConfigError(`${path}.maskedRemoteAddress.v6PrefixMaskLen`, "must be <= 128");
    return (input, out) => {
      const m = input.remote ? maskedAddress(input.remote, v4, v6) : undefined;
      if (m === undefined) return false;
      out.push({ key: "masked_remote_address", value: m });
      return true;
    };
  }
  const gk = a.genericKey;
  if (gk) {
    const value = gk.descriptorValue ?? "";
    if (!value) throw new XdsConfigError(`${path}.genericKey.descriptorValue`, "descriptor_value must not be empty");
    const entry = { key: gk.descriptorKey || "generic_key", value };
    return (_input, out) => (out.push(entry), true);
  }
  const hvm = a.headerValueMatch;
  if (hvm) {
    const value = hvm.descriptorValue ?? "";
    if (!value) throw new XdsConfigError(`${path}.headerValueMatch.descriptorValue`, "descriptor_value must not be empty");
    if (!hvm.headers?.length) throw new XdsConfigError(`${path}.headerValueMatch.headers`, "headers must not be empty");
    const matchers = hvm.headers.map((h, i) => HeaderMatcher.compile(h, `${path}.headerValueMatch.headers[${i}]`));
    const expect = boolValue(hvm.expectMatch);
    const entry = { key: hvm.descriptorKey || "header_match", value };
    return (input, out) => {
      const view = { header: (n: string) => input.joinedHeader(n) };
      if (matchers.every((m) => m.matches(view)) !== expect) return false;
      out.push(entry);
      return true;
    };
  }
  const qvm = a.queryParameterValueMatch;
  if (qvm) {
    const value = qvm.descriptorValue ?? "";
    if (!value) throw new XdsConfigError(`${path}.queryParameterValueMatch.descriptorValue`, "descriptor_value must not be empty");
    if (!qvm.queryParameters?.length) throw new XdsConfigError(`${path}.queryParameterValueMatch.queryParameters`, "query_parameters must not be empty");
    const matchers = qvm.queryParameters.map((q, i) => QueryParameterMatcher.compile(q, `${path}.queryParameterValueMatch.queryParameters[${i}]`));
    const expect = boolValue(qvm.expectMatch);
    const entry = { key: qvm.descriptorKey || "query_match", value };
    return (input, out) => {
      const q = input.path.indexOf("?");
      if (matchers.every((m) => m.matches(input.path, q)) !== expect) return false;
      out.push(entry);
      return true;
    };
  }
  const dm = a.dynamicMetadata;
  const md = a.metadata;
  if (dm || md) {
    const p = dm ? `${path}.dynamicMetadata` : `${path}.metadata`;
    const o = (dm ?? md)!;
    const key = o.descriptorKey ?? "";
    if (!key) throw new XdsConfigError(`${p}.descriptorKey`, "descriptor_key must not be empty");
    const k = metadataKey(o.metadataKey, `${p}.metadataKey`);
    const fallback = o.defaultValue ?? "";
    const fromRoute = md?.source === "ROUTE_ENTRY";
    if (md?.source !== undefined && md.source !== "DYNAMIC" && md.source !== "ROUTE_ENTRY") throw new XdsConfigError(`${p}.source`, `unknown source ${String(md.source)}`);
    const skip = md?.skipIfAbsent === true;
    return (input, out) => {
      const v = fromRoute ? routeMetadataValue(input.routeMetadata, k) : dynamicValue(input.dynamicMetadata, k);
      // Only a string value counts (Envoy reads string_value()).
      const s = typeof v === "string" ? v : "";
      if (s) out.push({ key, value: s });
      else if (fallback) out.push({ key, value: fallback });
      else return skip;
      return true;
    };
  }
  if (a.extension) throw new XdsConfigError(`${path}.extension`, "rate limit descriptor extensions are not implemented by tsmesh");
  throw new XdsConfigError(path, `rate limit action kind ${set[0]} is not implemented by tsmesh`);
}

/** One compiled RateLimit entry (Envoy's RateLimitPolicyEntryImpl). */
export class RateLimitEntry {
  constructor(
    readonly stage: number,
    readonly disableKey: string,
    private readonly actions: readonly Action[],
    private readonly limitOverride: MetadataKey | undefined,
  ) {}

  /** Adds this entry's descriptor for the request to `out`, unless an action declines. */
  populate(input: ActionInput, out: RateLimitDescriptor[]): void {
    const entries: DescriptorEntry[] = [];
    for (const a of this.actions) if (!a(input, entries)) return;
    const limit = this.limitOverride ? overrideLimit(dynamicValue(input.dynamicMetadata, this.limitOverride)) : undefined;
    out.push(limit ? { entries, limit } : { entries });
  }
}

/** The limit override: a Struct with a number `requests_per_unit` and a string `unit`. */
function overrideLimit(v: MetadataValue | undefined): RateLimitDescriptor["limit"] {
  if (v === null || v === undefined || typeof v !== "object" || Array.isArray(v)) return undefined;
  const o = v as { readonly [k: string]: MetadataValue };
  const n = o.requests_per_unit;
  const unit = o.unit;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff || typeof unit !== "string") return undefined;
  const u = unit.toUpperCase();
  return UNITS.has(u) ? { requestsPerUnit: n, unit: u as RateLimitUnit } : undefined;
}

/** A route's or virtual host's rate_limits, by stage (Envoy's RateLimitPolicyImpl). */
export class RateLimitPolicy {
  private readonly byStage: readonly (readonly RateLimitEntry[])[];

  constructor(readonly entries: readonly RateLimitEntry[]) {
    const stages: RateLimitEntry[][] = Array.from({ length: STAGES }, () => []);
    for (const e of entries) stages[e.stage].push(e);
    this.byStage = stages;
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** The entries of a stage (empty past the last stage). */
  applicable(stage: number): readonly RateLimitEntry[] {
    return this.byStage[stage] ?? [];
  }
}

export const NO_RATE_LIMITS = new RateLimitPolicy([]);

export function compileRateLimit(r: v3.RateLimit, path: string): RateLimitEntry {
  const stage = r.stage ? (r.stage.value ?? 0) : 0;
  if (stage >= STAGES) throw new XdsConfigError(`${path}.stage`, `stage must be <= ${STAGES - 1}`);
  const actions = r.actions ?? [];
  if (actions.length === 0) throw new XdsConfigError(`${path}.actions`, "rate limit needs at least one action");
  const compiled = actions.map((a, i) => compileAction(a, `${path}.actions[${i}]`));
  let limit: MetadataKey | undefined;
  if (r.limit) {
    if (!r.limit.dynamicMetadata) throw new XdsConfigError(`${path}.limit`, "limit override needs dynamic_metadata");
    limit = metadataKey(r.limit.dynamicMetadata.metadataKey, `${path}.limit.dynamicMetadata.metadataKey`);
  }
  return new RateLimitEntry(stage, r.disableKey ?? "", compiled, limit);
}

/** Compiles a `rate_limits` list (the route's, the virtual host's or a filter's own). */
export function compileRateLimits(list: readonly v3.RateLimit[] | undefined, path: string): RateLimitPolicy {
  if (!list || list.length === 0) return NO_RATE_LIMITS;
  return new RateLimitPolicy(list.map((r, i) => compileRateLimit(r, `${path}[${i}]`)));
}
