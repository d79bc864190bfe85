// Envoy's MetadataMatcher and ValueMatcher (envoy.type.matcher.v3), compiled once, matched against
// a stream's or connection's dynamic metadata (RBAC's `metadata` permission and principal, ext_authz's
// filter_enabled_metadata — Istio's CUSTOM gate on its shadow RBAC result —, routes'
// `dynamic_metadata` — Istio's `@request.auth.claims` gateway routes against what jwt_authn wrote —
// and any filter that gates on metadata). As Envoy's Matchers::MetadataMatcher: the value
// at `filter` + `path` (nested Struct keys) is matched — a missing value matches nothing but an
// inverted matcher — and `invert` flips the result. Value kinds: null, double (exact or [start, end)
// range), string (StringMatcher), bool, present, list (one_of: some element matches), or_match.
import type { envoy } from "../../../envoy/types.js";
import type { DynamicMetadata, MetadataValue } from "../../dynamic-metadata.js";
import { XdsConfigError } from "../../xds-error.js";
import { StringMatcher } from "./matchers.js";

type ValueMatcherMessage = envoy.type.matcher.v3.ValueMatcher;
type MetadataMatcherMessage = envoy.type.matcher.v3.MetadataMatcher;

/** A compiled ValueMatcher: `undefined` is a value no one set (protobuf's KIND_NOT_SET). */
export type ValueMatcher = (v: MetadataValue | undefined) => boolean;

/** Nesting past this (list one_of / or_match within each other) is refused, never recursed into. */
const MAX_VALUE_MATCHER_DEPTH = 16;

/** Compiles a ValueMatcher (exactly one kind). */
export function compileValueMatcher(m: ValueMatcherMessage, path: string, depth = 0): ValueMatcher {
  if (depth > MAX_VALUE_MATCHER_DEPTH) throw new XdsConfigError(path, "value matchers nested too deep");
  if (m.nullMatch !== undefined) return (v) => v === null;
  if (m.doubleMatch !== undefined) {
    const d = m.doubleMatch;
    if (d.exact !== undefined) {
      const x = d.exact;
      return (v) => typeof v === "number" && v === x;
    }
    if (d.range !== undefined) {
      const start = d.range.start ?? 0;
      const end = d.range.end ?? 0;
      return (v) => typeof v === "number" && v >= start && v < end;
    }
    throw new XdsConfigError(`${path}.doubleMatch`, "DoubleMatcher needs range or exact");
  }
  if (m.stringMatch !== undefined) {
    const sm = StringMatcher.compile(m.stringMatch, `${path}.stringMatch`);
    return (v) => typeof v === "string" && sm.match(v);
  }
  if (m.boolMatch !== undefined) {
    const b = m.boolMatch;
    return (v) => typeof v === "boolean" && v === b;
  }
  if (m.presentMatch !== undefined) {
    // As Envoy: present_match false never matches (use invert to ask for absence).
    const p = m.presentMatch;
    return (v) => p && v !== undefined;
  }
  if (m.listMatch !== undefined) {
    if (m.listMatch.oneOf === undefined) throw new XdsConfigError(`${path}.listMatch`, "ListMatcher needs one_of");
    const one = compileValueMatcher(m.listMatch.oneOf, `${path}.listMatch.oneOf`, depth + 1);
    return (v) => Array.isArray(v) && (v as readonly MetadataValue[]).some(one);
  }
  if (m.orMatch !== undefined) {
    const list = m.orMatch.valueMatchers ?? [];
    if (list.length < 2) throw new XdsConfigError(`${path}.orMatch.valueMatchers`, "OrMatcher needs at least 2 value matchers");
    const ms = list.map((x, i) => compileValueMatcher(x, `${path}.orMatch.valueMatchers[${i}]`, depth + 1));
    return (v) => ms.some((f) => f(v));
  }
  throw new XdsConfigError(path, "ValueMatcher needs one of null_match, double_match, string_match, bool_match, present_match, list_match or or_match");
}

/** A compiled MetadataMatcher over dynamic metadata. */
export type MetadataMatcher = (md: DynamicMetadata | undefined) => boolean;

/** Compiles a MetadataMatcher: `filter` (the namespace) and `path` are required, as Envoy validates. */
export function compileMetadataMatcher(m: MetadataMatcherMessage, path: string): MetadataMatcher {
  const ns = m.filter ?? "";
  if (ns === "") throw new XdsConfigError(`${path}.filter`, "filter must not be empty");
  const keys = (m.path ?? []).map((s, i) => {
    if (!s.key) throw new XdsConfigError(`${path}.path[${i}].key`, "key must not be empty");
    return s.key;
  });
  if (keys.length === 0) throw new XdsConfigError(`${path}.path`, "path needs at least one segment");
  if (m.value === undefined) throw new XdsConfigError(`${path}.value`, "value is required");
  const value = compileValueMatcher(m.value, `${path}.value`);
  const invert = m.invert === true;
  return (md) => value(md?.lookup(ns, keys)) !== invert;
}
