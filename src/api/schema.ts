// Structural validation of a resource against its CRD's OpenAPI v3 schema, as the Kubernetes API
// server does it (types, enums, bounds, lengths, patterns, required, list uniqueness, oneOf, CEL rules).
// Messages keep the API server's wording, so they read the same as `kubectl apply` output.
import { isIP } from "node:net";
import { diagnostic, type Diagnostic, type ErrorCode } from "../core/errors.js";
import { evalRule, toCel } from "./cel.js";
import { FAST_RULES } from "./cel-fast.js";

export interface OpenApiSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  oneOf?: OpenApiSchema[];
  anyOf?: OpenApiSchema[];
  allOf?: OpenApiSchema[];
  not?: OpenApiSchema;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: Array<{ rule: string; message?: string }>;
  /** Set by the API server's structural defaulting when the field is absent (the Gateway API's CRDs use it). */
  default?: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const patternCache = new Map<string, RegExp>();
function compiledPattern(p: string): RegExp {
  let re = patternCache.get(p);
  if (!re) {
    re = new RegExp(p, "u");
    patternCache.set(p, re);
  }
  return re;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Kubernetes renders the offending value in messages: strings quoted, objects by type. */
function shown(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || typeof v === "object") return JSON.stringify(typeName(v));
  return String(v);
}

function runeLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function isPlainObject(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Edit distance, to suggest the field a typo meant. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(name, c);
    if (dd < bestD) {
      bestD = dd;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The string formats a combinator branch can test (Kubernetes' ipv4/ipv6); other formats pass. */
function matchesFormat(v: string, format: string): boolean {
  if (format === "ipv4") return IPV4.test(v);
  if (format === "ipv6") return isIP(v) === 6;
  return true;
}

/**
 * Does `v` satisfy a combinator branch? Istio's CRDs use them with `required` (oneOf groups); the
 * Gateway API's also test property values (`type` is IPAddress and `value` an ipv4 or ipv6).
 */
function matchesShape(v: Json, s: OpenApiSchema): boolean {
  if (s.enum && !s.enum.includes(v)) return false;
  if (s.format && typeof v === "string" && !matchesFormat(v, s.format)) return false;
  if (s.not && matchesShape(v, s.not)) return false;
  if (s.anyOf && !s.anyOf.some((b) => matchesShape(v, b))) return false;
  if (s.allOf && !s.allOf.every((b) => matchesShape(v, b))) return false;
  if (s.oneOf && s.oneOf.filter((b) => matchesShape(v, b)).length !== 1) return false;
  if (isPlainObject(v)) {
    if (s.required && !s.required.every((k) => k in v && v[k] !== null)) return false;
    for (const [k, ps] of Object.entries(s.properties ?? {})) if (k in v && !matchesShape(v[k], ps)) return false;
  } else if (s.required) return false;
  return true;
}

/** Field names a oneOf group makes exclusive, e.g. exact/prefix/regex. */
function oneOfFields(s: OpenApiSchema): string[] {
  const names: string[] = [];
  for (const b of s.oneOf ?? []) for (const r of b.required ?? []) if (!names.includes(r)) names.push(r);
  return names;
}

/** Rewords evaluator errors in CEL's terms (the JS engine speaks of BigInt where CEL says int). */
function celErrorText(err: string): string {
  const m = /Cannot convert (.*) to a BigInt/.exec(err);
  if (m) return `type conversion error from string ${JSON.stringify(m[1])} to int`;
  return `rule could not be evaluated: ${err}`;
}

/**
 * go-yaml (and so kubectl) reads `[2001:db8::]` as a list holding the string "2001:db8::"; YAML 1.2
 * parsers read a one-pair map {"2001:db8:": null}. Where the schema wants a string, take go-yaml's view.
 */
function goYamlFlowScalar(v: Json | undefined, s: OpenApiSchema): Json | undefined {
  if (s.type !== "string" || !isPlainObject(v)) return v;
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0].endsWith(":") && v[keys[0]] === null) return keys[0] + ":";
  return v;
}

const TRANSITION = /\boldSelf\b/;

class Walker {
  readonly out: Diagnostic[] = [];

  private add(code: ErrorCode, path: string, message: string): void {
    this.out.push(diagnostic(code, path, message));
  }

  private invalid(code: ErrorCode, path: string, value: unknown, detail: string): void {
    this.add(code, path, `Invalid value: ${shown(value)}: ${path} in body ${detail}`);
  }

  /** Returns false when the value's type is wrong (its CEL rules are then skipped). */
  node(v: Json | undefined, s: OpenApiSchema, path: string): boolean {
    if (v === undefined) return true;
    if (v === null) {
      if (s.nullable || (!s.type && !s["x-kubernetes-int-or-string"])) return true;
      this.invalid("TSMESH_SCHEMA_TYPE", path, v, `must be of type ${s.type}: "null"`);
      return false;
    }
    if (s["x-kubernetes-int-or-string"]) {
      if (!(typeof v === "string" || (typeof v === "number" && Number.isInteger(v)))) {
        this.invalid("TSMESH_SCHEMA_TYPE", path, v, `must be of type integer or string: ${JSON.stringify(typeName(v))}`);
        return false;
      }
    } else if (s.type) {
      const t = typeName(v);
      const ok = s.type === t || (s.type === "number" && t === "integer");
      if (!ok) {
        this.invalid("TSMESH_SCHEMA_TYPE", path, v, `must be of type ${s.type}: ${JSON.stringify(t)}`);
        return false;
      }
    }
    if (s.enum && !s.enum.includes(v)) {
      this.add(
        "TSMESH_SCHEMA_ENUM",
        path,
        `Unsupported value: ${shown(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(", ")}`,
      );
    }
    if (typeof v === "string") this.string(v, s, path);
    else if (typeof v === "number") this.number(v, s, path);
    else if (Array.isArray(v)) this.array(v, s, path);
    else if (isPlainObject(v)) this.object(v, s, path);
    this.rules(v, s, path);
    return true;
  }

  private string(v: string, s: OpenApiSchema, path: string): void {
    if (s.minLength !== undefined || s.maxLength !== undefined) {
      const n = runeLength(v);
      if (s.minLength !== undefined && n < s.minLength)
        this.invalid("TSMESH_SCHEMA_LENGTH", path, v, `should be at least ${s.minLength} chars long`);
      if (s.maxLength !== undefined && n > s.maxLength)
        this.add("TSMESH_SCHEMA_LENGTH", path, `Too long: may not be more than ${s.maxLength} bytes`);
    }
    if (s.pattern !== undefined && !compiledPattern(s.pattern).test(v))
      this.invalid("TSMESH_SCHEMA_PATTERN", path, v, `should match '${s.pattern}'`);
    if (s.format === "date-time" && Number.isNaN(Date.parse(v)))
      this.invalid("TSMESH_SCHEMA_PATTERN", path, v, "must be of type date-time");
    if (s.format === "byte" && !/^[A-Za-z0-9+/]*={0,2}$/.test(v.replace(/\s/g, "")))
      this.invalid("TSMESH_SCHEMA_PATTERN", path, v, "must be of type byte (base64)");
  }

  private number(v: number, s: OpenApiSchema, path: string): void {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum))
      this.invalid("TSMESH_SCHEMA_RANGE", path, v, `should be greater than ${s.exclusiveMinimum ? "" : "or equal to "}${s.minimum}`);
    if (s.maximum !== undefined && (s.exclusiveMaximum ? v >= s.maximum : v > s.maximum))
      this.invalid("TSMESH_SCHEMA_RANGE", path, v, `should be less than ${s.exclusiveMaximum ? "" : "or equal to "}${s.maximum}`);
  }

  private array(v: Json[], s: OpenApiSchema, path: string): void {
    if (s.minItems !== undefined && v.length < s.minItems)
      this.invalid("TSMESH_SCHEMA_LENGTH", path, v.length, `should have at least ${s.minItems} items`);
    if (s.maxItems !== undefined && v.length > s.maxItems)
      this.add("TSMESH_SCHEMA_LENGTH", path, `Too many: ${v.length}: must have at most ${s.maxItems} items`);
    if (s.items)
      for (let i = 0; i < v.length; i++) {
        let item = v[i];
        if (s.items.type === "string" && isPlainObject(item)) item = v[i] = goYamlFlowScalar(item, s.items) as Json;
        this.node(item, s.items, `${path}[${i}]`);
      }
    const listType = s["x-kubernetes-list-type"];
    if (listType === "set" || listType === "map") {
      const keys = s["x-kubernetes-list-map-keys"] ?? [];
      const seen = new Set<string>();
      for (let i = 0; i < v.length; i++) {
        const item = v[i];
        const key =
          listType === "map" && isPlainObject(item)
            ? JSON.stringify(keys.map((k) => item[k] ?? null))
            : JSON.stringify(item);
        if (seen.has(key)) {
          const shownKey =
            listType === "map" && isPlainObject(item)
              ? `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(item[k] ?? null)}`).join(", ")}}`
              : JSON.stringify(item);
          this.add("TSMESH_SCHEMA_DUPLICATE", `${path}[${i}]`, `Duplicate value: ${shownKey}`);
        }
        seen.add(key);
      }
    }
  }

  private object(v: Record<string, Json>, s: OpenApiSchema, path: string): void {
    const prefix = path === "" ? "" : `${path}.`;
    const props = s.properties;
    const extra = s.additionalProperties;
    const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
    let count = 0;
    for (const key in v) {
      count++;
      const child = v[key];
      const ps = props?.[key];
      if (ps) this.node(child, ps, prefix + key);
      else if (typeof extra === "object") this.node(child, extra, `${path}[${key}]`);
      else if (!preserve && extra !== true && props) {
        const hint = suggest(key, Object.keys(props));
        this.add(
          "TSMESH_SCHEMA_UNKNOWN_FIELD",
          prefix + key,
          `Unknown field ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}`,
        );
      }
    }
    for (const r of s.required ?? []) {
      if (!(r in v)) this.add("TSMESH_SCHEMA_REQUIRED", prefix + r, "Required value");
    }
    if (s.minProperties !== undefined && count < s.minProperties)
      this.invalid("TSMESH_SCHEMA_LENGTH", path, count, `should have at least ${s.minProperties} properties`);
    if (s.maxProperties !== undefined && count > s.maxProperties)
      this.add("TSMESH_SCHEMA_LENGTH", path, `Too many: ${count}: must have at most ${s.maxProperties} items`);
    if (s.oneOf && s.oneOf.filter((b) => matchesShape(v, b)).length !== 1) {
      const fields = oneOfFields(s);
      const set = fields.filter((f) => f in v);
      // Branches that test values rather than presence: say which values fail them.
      const detail = fields.length > 0 ? `only one of ${fields.join(", ")} may be set, found ${set.join(", ")}` : `${JSON.stringify(v)} matches none of ${JSON.stringify(s.oneOf)}`;
      this.add("TSMESH_SCHEMA_ONEOF", path, `Invalid value: "object": ${path || "body"} must validate one and only one schema (oneOf): ${detail}`);
    }
    for (const b of s.allOf ?? []) {
      if (b.oneOf && b.oneOf.filter((x) => matchesShape(v, x)).length !== 1) {
        const set = oneOfFields(b).filter((f) => f in v);
        this.add(
          "TSMESH_SCHEMA_ONEOF",
          path,
          `Invalid value: "object": only one of ${oneOfFields(b).join(", ")} may be set, found ${set.join(", ")}`,
        );
      }
    }
  }

  private rules(v: Json, s: OpenApiSchema, path: string): void {
    const rules = s["x-kubernetes-validations"];
    if (!rules) return;
    let self: ReturnType<typeof toCel> | undefined;
    for (const r of rules) {
      // A transition rule compares with the stored object; on create there is none and the API server skips it.
      if (TRANSITION.test(r.rule)) continue;
      const fast = FAST_RULES.get(r.rule);
      let res: ReturnType<typeof evalRule>;
      if (fast) res = fast(v) ? { ok: true } : { ok: false };
      else {
        self ??= toCel(v, s);
        res = evalRule(r.rule, self);
      }
      if (res.ok) continue;
      // The API server names the value by its schema type in CEL failures: Invalid value: "object".
      const what = JSON.stringify(s.type ?? (s["x-kubernetes-int-or-string"] ? "integer-or-string" : "object"));
      const msg = res.evalError
        ? `${r.message ?? r.rule}: ${celErrorText(res.evalError)}`
        : (r.message ?? `failed rule: ${r.rule}`);
      this.add("TSMESH_SCHEMA_RULE", path, `Invalid value: ${what}: ${msg}`);
    }
  }
}

/**
 * The API server's structural defaulting: an absent property whose schema has a `default` gets a
 * copy of it, in every object present (list items and map values too). Mutates `value`.
 */
export function applyDefaults(value: unknown, s: OpenApiSchema): void {
  if (Array.isArray(value)) {
    if (s.items) for (const item of value) applyDefaults(item, s.items);
    return;
  }
  if (!isPlainObject(value)) return;
  if (s.properties) {
    for (const [name, ps] of Object.entries(s.properties)) {
      if (!(name in value) && ps.default !== undefined) value[name] = structuredClone(ps.default) as Json;
      if (name in value) applyDefaults(value[name], ps);
    }
  } else if (typeof s.additionalProperties === "object") {
    for (const v of Object.values(value)) applyDefaults(v, s.additionalProperties);
  }
}

/** Validates `value` (the whole object, or a part of it at `path`) against `schema`. */
export function validateSchema(value: unknown, schema: OpenApiSchema, path = ""): Diagnostic[] {
  const w = new Walker();
  w.node(value as Json, schema, path);
  return w.out;
}
