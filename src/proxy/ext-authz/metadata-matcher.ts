// Envoy's MetadataMatcher (envoy.type.matcher.v3.MetadataMatcher) over a stream's or connection's
// dynamic metadata, compiled once: ext_authz's filter_enabled_metadata reads it (Istio's CUSTOM
// action gates the ext_authz filter on the metadata its shadow RBAC filter wrote). A value the path
// does not reach is "absent": only present_match: false and an inverted matcher accept it.
import type { envoy } from "../../envoy/types.js";
import type { DynamicMetadata, MetadataValue } from "../dynamic-metadata.js";
import { StringMatcher } from "../http/matchers/matchers.js";
import { XdsConfigError } from "../xds-error.js";

type ValueTest = (v: MetadataValue | undefined) => boolean;

/** A compiled ValueMatcher (Envoy's Matchers::ValueMatcher). */
export function compileValueMatcher(o: envoy.type.matcher.v3.ValueMatcher, path: string, depth = 0): ValueTest {
  if (depth > 16) throw new XdsConfigError(path, "value matchers nested too deep");
  if (o.nullMatch !== undefined) return (v) => v === null;
  if (o.doubleMatch !== undefined) {
    const d = o.doubleMatch;
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
  if (o.stringMatch !== undefined) {
    const m = StringMatcher.compile(o.stringMatch, `${path}.stringMatch`);
    return (v) => typeof v === "string" && m.match(v);
  }
  if (o.boolMatch !== undefined) {
    const b = o.boolMatch;
    return (v) => typeof v === "boolean" && v === b;
  }
  if (o.presentMatch !== undefined) {
    const want = o.presentMatch;
    return (v) => (v !== undefined) === want;
  }
  if (o.listMatch !== undefined) {
    if (o.listMatch.oneOf === undefined) throw new XdsConfigError(`${path}.listMatch`, "ListMatcher needs one_of");
    const one = compileValueMatcher(o.listMatch.oneOf, `${path}.listMatch.oneOf`, depth + 1);
    return (v) => Array.isArray(v) && (v as readonly MetadataValue[]).some((e) => one(e));
  }
  if (o.orMatch !== undefined) {
    const ms = (o.orMatch.valueMatchers ?? []).map((m, i) => compileValueMatcher(m, `${path}.orMatch.valueMatchers[${i}]`, depth + 1));
    if (ms.length < 2) throw new XdsConfigError(`${path}.orMatch.valueMatchers`, "OrMatcher needs at least 2 value matchers");
    return (v) => ms.some((m) => m(v));
  }
  throw new XdsConfigError(path, "ValueMatcher needs one of null_match, double_match, string_match, bool_match, present_match, list_match, or_match");
}

/** A compiled MetadataMatcher. */
export interface MetadataMatcher {
  matches(md: DynamicMetadata): boolean;
}

export function compileMetadataMatcher(o: envoy.type.matcher.v3.MetadataMatcher, path: string): MetadataMatcher {
  const ns = o.filter ?? "";
  if (ns === "") throw new XdsConfigError(`${path}.filter`, "MetadataMatcher needs a filter (namespace)");
  const keys = (o.path ?? []).map((s, i) => {
    if (s.key === undefined || s.key === "") throw new XdsConfigError(`${path}.path[${i}].key`, "path segment needs a key");
    return s.key;
  });
  if (keys.length === 0) throw new XdsConfigError(`${path}.path`, "MetadataMatcher needs at least one path segment");
  if (o.value === undefined) throw new XdsConfigError(`${path}.value`, "MetadataMatcher needs a value");
  const test = compileValueMatcher(o.value, `${path}.value`);
  const invert = o.invert === true;
  return { matches: (md) => test(md.lookup(ns, keys)) !== invert };
}
