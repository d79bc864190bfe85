// A route's policies compiled from RDS: retry (retry_on, back-off, host predicates), hedging,
// request mirroring and hash policies (for RING_HASH / MAGLEV), and fractional percents.
import { durationMs } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { HeaderMatcher } from "./matchers/matchers.js";
import { compileRegexRewrite, type RegexRewrite } from "./matchers/regex.js";

export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: number;
}

export interface RetryPolicy {
  /** `retry_on` conditions, trimmed (`5xx`, `connect-failure`, `retriable-status-codes`, gRPC codes…). */
  readonly retryOn: readonly string[];
  /** Default 1. */
  readonly numRetries: number;
  /** 0 = no per-try timeout (the route timeout applies). */
  readonly perTryTimeoutMs: number;
  readonly perTryIdleTimeoutMs: number;
  readonly retriableStatusCodes: readonly number[];
  /** Retry host predicate names (`envoy.retry_host_predicates.previous_hosts`). */
  readonly retryHostPredicates: readonly string[];
  readonly retryPriority: { readonly name: string; readonly config: v3.Any | undefined } | undefined;
  /** Default 1. */
  readonly hostSelectionRetryMaxAttempts: number;
  /** Back-off base (default 25 ms) and max (default 10 × base). */
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  /** Response headers that make a response retriable (`retriable-headers`). */
  readonly retriableHeaders: readonly HeaderMatcher[];
  /** Request headers that must match for any retry to happen. */
  readonly retriableRequestHeaders: readonly HeaderMatcher[];
}

export interface HedgePolicy {
  readonly initialRequests: number;
  readonly additionalRequestChance: FractionalPercent | undefined;
  readonly hedgeOnPerTryTimeout: boolean;
}

export type HashPolicy =
  | { readonly kind: "header"; readonly headerName: string; readonly regexRewrite: RegexRewrite | undefined; readonly terminal: boolean }
  | {
      readonly kind: "cookie";
      readonly name: string;
      /** undefined: hash only an existing cookie; set (also 0): generate one when missing. */
      readonly ttlMs: number | undefined;
      readonly path: string | undefined;
      readonly attributes: readonly { readonly name: string; readonly value: string }[];
      readonly terminal: boolean;
    }
  | { readonly kind: "sourceIp"; readonly terminal: boolean }
  | { readonly kind: "queryParameter"; readonly name: string; readonly terminal: boolean }
  | { readonly kind: "filterState"; readonly key: string; readonly terminal: boolean };

export interface MirrorPolicy {
  readonly cluster: string | undefined;
  readonly clusterHeader: string | undefined;
  /** runtimeFraction.defaultValue (100% when runtimeFraction is absent). */
  readonly fraction: FractionalPercent;
  readonly traceSampled: boolean | undefined;
  readonly disableShadowHostSuffixAppend: boolean;
}

// Policies

const DENOMINATOR_VALUES: Readonly<Record<v3.FractionalPercent.DenominatorType, number>> = { HUNDRED: 100, TEN_THOUSAND: 10000, MILLION: 1000000 };

/** A decoded enum's value in `table`: a value the schema does not know arrives as its number and is refused. */
export function enumValue<K extends string, V>(table: Readonly<Record<K, V>>, v: K | undefined, dflt: K, path: string): V {
  const k = v ?? dflt;
  if (!Object.hasOwn(table, k)) throw new XdsConfigError(path, `unknown value ${JSON.stringify(k)}`);
  return table[k];
}

/** A google.protobuf.Duration in ms (undefined when absent); a negative one is refused, as Envoy does. */
export function nonNegativeMs(d: v3.Duration | undefined, path: string): number | undefined {
  if (d === undefined) return undefined;
  const ms = durationMs(d) ?? 0;
  if (ms < 0) throw new XdsConfigError(path, "duration must not be negative");
  return ms;
}

export function fractionalPercent(o: v3.FractionalPercent, path: string): FractionalPercent {
  return { numerator: o.numerator ?? 0, denominator: enumValue(DENOMINATOR_VALUES, o.denominator, "HUNDRED", `${path}.denominator`) };
}

/** A FractionalPercent as a probability in [0, 1]. */
export function probability(o: v3.FractionalPercent, path: string): number {
  const f = fractionalPercent(o, path);
  return Math.min(1, f.numerator / f.denominator);
}

/** A RuntimeFractionalPercent's default value (tsmesh has no runtime overrides); 0% without one. */
export function runtimeDefault(o: v3.RuntimeFractionalPercent, path: string): FractionalPercent {
  return o.defaultValue ? fractionalPercent(o.defaultValue, `${path}.defaultValue`) : { numerator: 0, denominator: 100 };
}

/** Runtime featureEnabled with the default value: does `random01` ∈ [0,1) fall inside the fraction? */
export function fractionFires(f: FractionalPercent, random01: number): boolean {
  if (f.numerator <= 0) return false;
  if (f.numerator >= f.denominator) return true;
  return Math.floor(random01 * f.denominator) < f.numerator;
}

export function compileRetryPolicy(o: v3.RetryPolicy, path: string): RetryPolicy {
  const retryOn = (o.retryOn ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const predicates = (o.retryHostPredicate ?? []).map((p, i) => {
    if (!p.name) throw new XdsConfigError(`${path}.retryHostPredicate[${i}].name`, "name is required");
    return p.name;
  });
  const prio = o.retryPriority;
  const retryPriority: RetryPolicy["retryPriority"] = prio?.name ? { name: prio.name, config: prio.typedConfig } : undefined;
  let baseIntervalMs = 25;
  let maxIntervalMs = 250;
  const backOff = o.retryBackOff;
  if (backOff) {
    const bp = `${path}.retryBackOff`;
    const base = nonNegativeMs(backOff.baseInterval, `${bp}.baseInterval`);
    if (base === undefined) throw new XdsConfigError(`${bp}.baseInterval`, "base_interval is required");
    baseIntervalMs = Math.max(1, Math.floor(base));
    const max = nonNegativeMs(backOff.maxInterval, `${bp}.maxInterval`);
    if (max !== undefined) {
      maxIntervalMs = Math.max(1, Math.floor(max));
      if (maxIntervalMs < baseIntervalMs) throw new XdsConfigError(bp, "retry_policy.max_interval must greater than or equal to the base_interval");
    } else maxIntervalMs = baseIntervalMs * 10;
  }
  return {
    retryOn,
    // A wrapper decoded from `{ value: 0 }` is `{}`: present means its value, 0 when unset.
    numRetries: o.numRetries ? (o.numRetries.value ?? 0) : 1,
    perTryTimeoutMs: nonNegativeMs(o.perTryTimeout, `${path}.perTryTimeout`) ?? 0,
    perTryIdleTimeoutMs: nonNegativeMs(o.perTryIdleTimeout, `${path}.perTryIdleTimeout`) ?? 0,
    retriableStatusCodes: o.retriableStatusCodes ?? [],
    retryHostPredicates: predicates,
    retryPriority,
    hostSelectionRetryMaxAttempts: o.hostSelectionRetryMaxAttempts || 1,
    baseIntervalMs,
    maxIntervalMs,
    retriableHeaders: (o.retriableHeaders ?? []).map((h, i) => HeaderMatcher.compile(h, `${path}.retriableHeaders[${i}]`)),
    retriableRequestHeaders: (o.retriableRequestHeaders ?? []).map((h, i) => HeaderMatcher.compile(h, `${path}.retriableRequestHeaders[${i}]`)),
  };
}

export function compileHedgePolicy(o: v3.HedgePolicy, path: string): HedgePolicy {
  const chance = o.additionalRequestChance;
  // The router sends one request per try and never hedges: a policy asking for more cannot be
  // enforced, so it is refused (initial_requests and additional_request_chance are not implemented
  // in Envoy either).
  if (o.hedgeOnPerTryTimeout === true) throw new XdsConfigError(`${path}.hedgeOnPerTryTimeout`, "request hedging is not implemented by tsmesh's router");
  if (o.initialRequests && (o.initialRequests.value ?? 0) > 1) throw new XdsConfigError(`${path}.initialRequests`, "request hedging is not implemented (Envoy does not implement initial_requests either)");
  if (chance && (chance.numerator ?? 0) > 0) throw new XdsConfigError(`${path}.additionalRequestChance`, "request hedging is not implemented (Envoy does not implement additional_request_chance either)");
  return {
    initialRequests: o.initialRequests ? (o.initialRequests.value ?? 0) : 1,
    additionalRequestChance: chance ? fractionalPercent(chance, `${path}.additionalRequestChance`) : undefined,
    hedgeOnPerTryTimeout: false,
  };
}

const ALWAYS: FractionalPercent = { numerator: 100, denominator: 100 };

export function compileMirrorPolicy(o: v3.RequestMirrorPolicy, path: string): MirrorPolicy {
  const cluster = o.cluster || undefined;
  const clusterHeader = o.clusterHeader || undefined;
  if (cluster && clusterHeader) {
    throw new XdsConfigError(path, `Only one of cluster '${cluster}' or cluster_header '${clusterHeader}' in request mirror policy can be specified`);
  }
  if (!cluster && !clusterHeader) throw new XdsConfigError(path, "Exactly one of cluster or cluster_header in request mirror policy need to be specified");
  return {
    cluster,
    clusterHeader: clusterHeader?.toLowerCase(),
    fraction: o.runtimeFraction ? runtimeDefault(o.runtimeFraction, `${path}.runtimeFraction`) : ALWAYS,
    traceSampled: o.traceSampled ? o.traceSampled.value === true : undefined,
    disableShadowHostSuffixAppend: o.disableShadowHostSuffixAppend === true,
  };
}

export function compileHashPolicy(o: v3.HashPolicy, path: string): HashPolicy | undefined {
  const terminal = o.terminal === true;
  const header = o.header;
  if (header) {
    const hp = `${path}.header`;
    const headerName = header.headerName ?? "";
    if (!headerName) throw new XdsConfigError(`${hp}.headerName`, "header_name must not be empty");
    const rr = header.regexRewrite;
    return { kind: "header", headerName: headerName.toLowerCase(), regexRewrite: rr ? compileRegexRewrite(rr, `${hp}.regexRewrite`) : undefined, terminal };
  }
  const cookie = o.cookie;
  if (cookie) {
    const cp = `${path}.cookie`;
    const name = cookie.name ?? "";
    if (!name) throw new XdsConfigError(`${cp}.name`, "cookie name must not be empty");
    const attributes = (cookie.attributes ?? []).map((a) => ({ name: a.name ?? "", value: a.value ?? "" }));
    return { kind: "cookie", name, ttlMs: nonNegativeMs(cookie.ttl, `${cp}.ttl`), path: cookie.path || undefined, attributes, terminal };
  }
  if (o.connectionProperties) return o.connectionProperties.sourceIp === true ? { kind: "sourceIp", terminal } : undefined;
  const qp = o.queryParameter;
  if (qp) {
    const name = qp.name ?? "";
    if (!name) throw new XdsConfigError(`${path}.queryParameter.name`, "query parameter name must not be empty");
    return { kind: "queryParameter", name, terminal };
  }
  if (o.filterState) return { kind: "filterState", key: o.filterState.key ?? "", terminal };
  throw new XdsConfigError(path, "hash policy needs one of header, cookie, connectionProperties, queryParameter or filterState");
}
