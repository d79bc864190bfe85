// A route's policies compiled from RDS: retry (retry_on, back-off, host predicates), hedging,
// request mirroring and hash policies (for RING_HASH / MAGLEV), and fractional percents.
import type { ProtoObject } from "../../envoy/protos.js";
import { XdsConfigError } from "../xds-error.js";
import { at, boolField, durField, enumField, listField, numField, objField, objList, type P, strField, wrappedBool, wrappedNum } from "../xds/fields.js";
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
  readonly retryPriority: { readonly name: string; readonly config: ProtoObject | undefined } | undefined;
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

const DENOMINATORS: readonly string[] = ["HUNDRED", "TEN_THOUSAND", "MILLION"];
const DENOMINATOR_VALUES = [100, 10000, 1000000];

export function fractionalPercent(o: P, path: string): FractionalPercent {
  const d = enumField(o, "denominator", path, DENOMINATORS);
  return { numerator: numField(o, "numerator", path) ?? 0, denominator: DENOMINATOR_VALUES[DENOMINATORS.indexOf(d)] };
}

/** Runtime featureEnabled with the default value: does `random01` ∈ [0,1) fall inside the fraction? */
export function fractionFires(f: FractionalPercent, random01: number): boolean {
  if (f.numerator <= 0) return false;
  if (f.numerator >= f.denominator) return true;
  return Math.floor(random01 * f.denominator) < f.numerator;
}

export function compileRetryPolicy(o: P, path: string): RetryPolicy {
  const retryOn = (strField(o, "retryOn", path) ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const codes = listField(o, "retriableStatusCodes", path).map((c, i) => {
    if (typeof c !== "number") throw new XdsConfigError(`${at(path, "retriableStatusCodes")}[${i}]`, "expected a status code");
    return c;
  });
  const predicates = objList(o, "retryHostPredicate", path).map((p, i) => {
    const name = strField(p, "name", `${at(path, "retryHostPredicate")}[${i}]`);
    if (!name) throw new XdsConfigError(`${at(path, "retryHostPredicate")}[${i}].name`, "name is required");
    return name;
  });
  const prio = objField(o, "retryPriority", path);
  let retryPriority: RetryPolicy["retryPriority"];
  if (prio) {
    const name = strField(prio, "name", at(path, "retryPriority")) ?? "";
    if (name) retryPriority = { name, config: objField(prio, "typedConfig", at(path, "retryPriority")) };
  }
  let baseIntervalMs = 25;
  let maxIntervalMs = 250;
  const backOff = objField(o, "retryBackOff", path);
  if (backOff) {
    const bp = at(path, "retryBackOff");
    const base = durField(backOff, "baseInterval", bp);
    if (base === undefined) throw new XdsConfigError(at(bp, "baseInterval"), "base_interval is required");
    baseIntervalMs = Math.max(1, Math.floor(base));
    const max = durField(backOff, "maxInterval", bp);
    if (max !== undefined) {
      maxIntervalMs = Math.max(1, Math.floor(max));
      if (maxIntervalMs < baseIntervalMs) throw new XdsConfigError(bp, "retry_policy.max_interval must greater than or equal to the base_interval");
    } else maxIntervalMs = baseIntervalMs * 10;
  }
  return {
    retryOn,
    numRetries: wrappedNum(o, "numRetries", path) ?? 1,
    perTryTimeoutMs: durField(o, "perTryTimeout", path) ?? 0,
    perTryIdleTimeoutMs: durField(o, "perTryIdleTimeout", path) ?? 0,
    retriableStatusCodes: codes,
    retryHostPredicates: predicates,
    retryPriority,
    hostSelectionRetryMaxAttempts: numField(o, "hostSelectionRetryMaxAttempts", path) || 1,
    baseIntervalMs,
    maxIntervalMs,
    retriableHeaders: objList(o, "retriableHeaders", path).map((h, i) => HeaderMatcher.compile(h, `${at(path, "retriableHeaders")}[${i}]`)),
    retriableRequestHeaders: objList(o, "retriableRequestHeaders", path).map((h, i) =>
      HeaderMatcher.compile(h, `${at(path, "retriableRequestHeaders")}[${i}]`),
    ),
  };
}

export function compileHedgePolicy(o: P, path: string): HedgePolicy {
  const chance = objField(o, "additionalRequestChance", path);
  return {
    initialRequests: wrappedNum(o, "initialRequests", path) ?? 1,
    additionalRequestChance: chance ? fractionalPercent(chance, at(path, "additionalRequestChance")) : undefined,
    hedgeOnPerTryTimeout: boolField(o, "hedgeOnPerTryTimeout", path),
  };
}

export function compileMirrorPolicy(o: P, path: string): MirrorPolicy {
  const cluster = strField(o, "cluster", path) || undefined;
  const clusterHeader = strField(o, "clusterHeader", path) || undefined;
  if (cluster && clusterHeader) {
    throw new XdsConfigError(path, `Only one of cluster '${cluster}' or cluster_header '${clusterHeader}' in request mirror policy can be specified`);
  }
  if (!cluster && !clusterHeader) throw new XdsConfigError(path, "Exactly one of cluster or cluster_header in request mirror policy need to be specified");
  const rf = objField(o, "runtimeFraction", path);
  let fraction: FractionalPercent = { numerator: 100, denominator: 100 };
  if (rf) {
    const dv = objField(rf, "defaultValue", at(path, "runtimeFraction"));
    fraction = dv ? fractionalPercent(dv, at(at(path, "runtimeFraction"), "defaultValue")) : { numerator: 0, denominator: 100 };
  }
  return {
    cluster,
    clusterHeader: clusterHeader?.toLowerCase(),
    fraction,
    traceSampled: wrappedBool(o, "traceSampled", path),
    disableShadowHostSuffixAppend: boolField(o, "disableShadowHostSuffixAppend", path),
  };
}

export function compileHashPolicy(o: P, path: string): HashPolicy | undefined {
  const terminal = boolField(o, "terminal", path);
  const header = objField(o, "header", path);
  if (header) {
    const hp = at(path, "header");
    const headerName = strField(header, "headerName", hp) ?? "";
    if (!headerName) throw new XdsConfigError(at(hp, "headerName"), "header_name must not be empty");
    const rr = objField(header, "regexRewrite", hp);
    return { kind: "header", headerName: headerName.toLowerCase(), regexRewrite: rr ? compileRegexRewrite(rr, at(hp, "regexRewrite")) : undefined, terminal };
  }
  const cookie = objField(o, "cookie", path);
  if (cookie) {
    const cp = at(path, "cookie");
    const name = strField(cookie, "name", cp) ?? "";
    if (!name) throw new XdsConfigError(at(cp, "name"), "cookie name must not be empty");
    const attributes = objList(cookie, "attributes", cp).map((a, i) => ({
      name: strField(a, "name", `${at(cp, "attributes")}[${i}]`) ?? "",
      value: strField(a, "value", `${at(cp, "attributes")}[${i}]`) ?? "",
    }));
    return { kind: "cookie", name, ttlMs: durField(cookie, "ttl", cp), path: strField(cookie, "path", cp) || undefined, attributes, terminal };
  }
  const cp = objField(o, "connectionProperties", path);
  if (cp) return boolField(cp, "sourceIp", at(path, "connectionProperties")) ? { kind: "sourceIp", terminal } : undefined;
  const qp = objField(o, "queryParameter", path);
  if (qp) {
    const name = strField(qp, "name", at(path, "queryParameter")) ?? "";
    if (!name) throw new XdsConfigError(at(at(path, "queryParameter"), "name"), "query parameter name must not be empty");
    return { kind: "queryParameter", name, terminal };
  }
  const fs = objField(o, "filterState", path);
  if (fs) return { kind: "filterState", key: strField(fs, "key", at(path, "filterState")) ?? "", terminal };
  throw new XdsConfigError(path, "hash policy needs one of header, cookie, connectionProperties, queryParameter or filterState");
}

