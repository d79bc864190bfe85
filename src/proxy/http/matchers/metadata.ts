// Envoy's MetadataMatcher and ValueMatcher (envoy.type.matcher.v3, source/common/common/matchers.cc),
// compiled once: the value at `filter` + `path` in a stream's dynamic metadata, tested by a value
// matcher (null, double exact/range, string, bool, present, list one_of, or), optionally inverted.
// A missing value is Envoy's unset Value: only `present_match: false` (or an inverted matcher)
// matches it. Route matches on `dynamic_metadata` (Istio's `@request.auth.claims` routing on
// gateways, against what jwt_authn wrote) and the filters that gate on metadata use it.
import type { envoy } from "../../../envoy/types.js";
import type { DynamicMetadata, MetadataValue } from "../../dynamic-metadata.js";
import { XdsConfigError } from "../../xds-error.js";
import { StringMatcher } from "./matchers.js";

/** A compiled envoy.type.matcher.v3.ValueMatcher; `undefined` is a value that is not there. */
export type ValueMatcher = (v: MetadataValue | undefined) => boolean;

/** Compiles a ValueMatcher (throws XdsConfigError with the field path). */
export function compileValueMatcher(o: envoy.type.matcher.v3.ValueMatcher, path: string): ValueMatcher {
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
    throw new XdsConfigError(`${path}.doubleMatch`, "needs exact or range");
  }
  if (o.stringMatch !== undefined) {
    const sm = StringMatcher.compile(o.stringMatch, `${path}.stringMatch`);
    return (v) => typeof v === "string" && sm.match(v);
  }
  if (o.boolMatch !== undefined) {
    const b = o.boolMatch;
    return (v) => typeof v === "boolean" && v === b;
  }
  if (o.presentMatch !== undefined) {
    const p = o.presentMatch;
    return (v) => (v !== undefined) === p;
  }
  if (o.listMatch !== undefined) {
    if (o.listMatch.oneOf === undefined) throw new XdsConfigError(`${path}.listMatch`, "needs one_of");
    const one = compileValueMatcher(o.listMatch.oneOf, `${path}.listMatch.oneOf`);
    return (v) => Array.isArray(v) && (v as readonly MetadataValue[]).some((e) => one(e));
  }
  if (o.orMatch !== undefined) {
    const ms = (o.orMatch.valueMatchers ?? []).map((m, i) => compileValueMatcher(m, `${path}.orMatch.valueMatchers[${i}]`));
    if (ms.length < 2) throw new XdsConfigError(`${path}.orMatch.valueMatchers`, "needs at least 2 matchers");
    return (v) => ms.some((m) => m(v));
  }
  throw new XdsConfigError(path, "value matcher needs one of null_match, double_match, string_match, bool_match, present_match, list_match or or_match");
}

/** A compiled envoy.type.matcher.v3.MetadataMatcher. */
export class MetadataMatcher {
  private constructor(
    readonly filter: string,
    readonly path: readonly string[],
    private readonly value: ValueMatcher,
    private readonly invert: boolean,
  ) {}

  static compile(o: envoy.type.matcher.v3.MetadataMatcher, path: string): MetadataMatcher {
    const filter = o.filter ?? "";
    if (!filter) throw new XdsConfigError(`${path}.filter`, "filter must not be empty");
    const segs = o.path ?? [];
    if (segs.length === 0) throw new XdsConfigError(`${path}.path`, "path must have at least one segment");
    const keys = segs.map((s, i) => {
      if (!s.key) throw new XdsConfigError(`${path}.path[${i}].key`, "key must not be empty");
      return s.key;
    });
    if (o.value === undefined) throw new XdsConfigError(`${path}.value`, "value is required");
    return new MetadataMatcher(filter, keys, compileValueMatcher(o.value, `${path}.value`), o.invert === true);
  }

  /** Does the metadata match? `md` undefined: no filter wrote any (every value is missing). */
  matches(md: DynamicMetadata | undefined): boolean {
    const v = md === undefined ? undefined : md.lookup(this.filter, this.path);
    return this.value(v) !== this.invert;
  }
}
