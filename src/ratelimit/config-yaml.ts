// Reading one envoyproxy/ratelimit configuration file (`domain` + `descriptors`) into typed form,
// with the reference's checks: every map key must be one of its known keys (at any depth, outside
// `metadata`), leaves must be strings, integers, booleans or null, lists must hold maps. Values are
// taken as its YAML 1.1 decoder takes them: a string field accepts any scalar's text (`value: 123`
// is "123"), a bool field yes/no/on/off/true/false, requests_per_unit an integer 0..2^32-1. A known
// key where it means nothing (e.g. `unit` beside `key`) is accepted, as the reference accepts it,
// and reported as a warning. Errors name the file and the field path.
import { isMap, isScalar, isSeq, parseDocument } from "yaml";

/** A configuration error: "FILE: message", as the reference words them (with the field path added). */
export class RateLimitConfigError extends Error {
  override readonly name = "RateLimitConfigError";
}

export interface YamlRateLimit {
  requestsPerUnit: number;
  unit: string;
  unlimited: boolean;
  name: string;
  replaces: string[];
}

export interface YamlDescriptor {
  key: string;
  value: string;
  rateLimit?: YamlRateLimit;
  descriptors: YamlDescriptor[];
  shadowMode: boolean;
  quotaMode: boolean;
  detailedMetric: boolean;
  valueToMetric: boolean;
  shareThreshold: boolean;
  /** Field path in the file, e.g. `descriptors[0].descriptors[1]`. */
  path: string;
}

export interface YamlRoot {
  domain: string;
  descriptors: YamlDescriptor[];
}

/** The reference's validKeys: one flat set, checked at every level. */
const VALID_KEYS = new Set([
  "domain",
  "key",
  "value",
  "descriptors",
  "rate_limit",
  "unit",
  "requests_per_unit",
  "unlimited",
  "shadow_mode",
  "quota_mode",
  "name",
  "replaces",
  "detailed_metric",
  "value_to_metric",
  "share_threshold",
  "metadata",
]);

const ROOT_KEYS = new Set(["domain", "descriptors"]);
const DESCRIPTOR_KEYS = new Set(["key", "value", "rate_limit", "descriptors", "shadow_mode", "quota_mode", "detailed_metric", "value_to_metric", "share_threshold", "metadata"]);
const RATE_LIMIT_KEYS = new Set(["requests_per_unit", "unit", "unlimited", "name", "replaces"]);
const REPLACES_KEYS = new Set(["name"]);

/** Bounds on one file, so a hostile or broken file cannot exhaust memory. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;
const MAX_DEPTH = 32;

type Plain = { kind: "map"; entries: Map<string, Plain> } | { kind: "seq"; items: Plain[] } | { kind: "scalar"; value: unknown; text: string; plain: boolean };

/** Parses `text` (the content of `file`) into a typed root; throws RateLimitConfigError. */
export function parseConfigFile(file: string, text: string, warn: (message: string) => void = () => {}): YamlRoot {
  const fail = (message: string): never => {
    throw new RateLimitConfigError(`${file}: ${message}`);
  };
  if (text.length > MAX_CONFIG_FILE_BYTES) fail(`error loading config file: larger than ${MAX_CONFIG_FILE_BYTES} bytes`);
  const doc = parseDocument(text, { version: "1.1", uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) fail(`error loading config file: ${doc.errors[0].message.split("\n")[0]}`);
  const w = (message: string) => warn(`${file}: ${message}`);
  const root = toPlain(doc.contents, "", 0, fail);
  if (root.kind === "scalar" && root.value === null) return { domain: "", descriptors: [] };
  if (root.kind !== "map") return fail("error loading config file: the document is not a map");
  validateKeys(root, "", fail);
  const out: YamlRoot = { domain: "", descriptors: [] };
  for (const [k, v] of root.entries) {
    if (k === "domain") out.domain = str(v, "domain", fail);
    else if (k === "descriptors") out.descriptors = descriptorList(v, "descriptors", fail, w);
    else if (!ROOT_KEYS.has(k)) w(`${k}: has no meaning at the top level; ignored`);
  }
  return out;
}

function toPlain(node: unknown, path: string, depth: number, fail: (m: string) => never): Plain {
  if (depth > MAX_DEPTH) fail(`error loading config file: ${path}: nested deeper than ${MAX_DEPTH} levels`);
  if (node === null || node === undefined) return { kind: "scalar", value: null, text: "", plain: true };
  if (isMap(node)) {
    const entries = new Map<string, Plain>();
    for (const pair of node.items) {
      const key = pair.key;
      if (!isScalar(key) || typeof key.value !== "string" || key.type !== "PLAIN" && key.type !== "QUOTE_DOUBLE" && key.type !== "QUOTE_SINGLE") {
        fail(`config error, key is not of type string: ${isScalar(key) ? String(key.value) : "(a collection)"}`);
      }
      const k = (key as { value: string }).value;
      entries.set(k, toPlain(pair.value, join(path, k), depth + 1, fail));
    }
    return { kind: "map", entries };
  }
  if (isSeq(node)) return { kind: "seq", items: node.items.map((n, i) => toPlain(n, `${path}[${i}]`, depth + 1, fail)) };
  if (isScalar(node)) {
    const text = node.source ?? (node.value === null ? "" : String(node.value));
    return { kind: "scalar", value: node.value, text, plain: node.type === "PLAIN" || node.type === undefined };
  }
  return fail(`error loading config file: ${path}: aliases are not supported`);
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** The reference's validateYamlKeys: known keys everywhere, maps in lists, scalar leaves of the four kinds. */
function validateKeys(map: Extract<Plain, { kind: "map" }>, path: string, fail: (m: string) => never): void {
  for (const [k, v] of map.entries) {
    const at = join(path, k);
    if (!VALID_KEYS.has(k)) fail(`${at}: config error, unknown key '${k}'`);
    if (k === "metadata") continue;
    if (v.kind === "seq") {
      v.items.forEach((e, i) => {
        if (e.kind !== "map") fail(`${at}[${i}]: config error, yaml file contains list of type other than map: ${e.kind === "scalar" ? e.text : "a list"}`);
        validateKeys(e, `${at}[${i}]`, fail);
      });
    } else if (v.kind === "map") validateKeys(v, at, fail);
    else if (v.value !== null && typeof v.value !== "string" && typeof v.value !== "boolean" && !(typeof v.value === "number" && Number.isInteger(v.value))) {
      fail(`${at}: error checking config`);
    }
  }
}

function str(v: Plain, path: string, fail: (m: string) => never): string {
  if (v.kind !== "scalar") return fail(`error loading config file: ${path}: cannot unmarshal a ${v.kind} into string`);
  return v.value === null ? "" : v.text;
}

function bool(v: Plain, path: string, fail: (m: string) => never): boolean {
  if (v.kind === "scalar" && v.value === null) return false;
  if (v.kind !== "scalar" || typeof v.value !== "boolean" || !v.plain) return fail(`error loading config file: ${path}: cannot unmarshal ${describe(v)} into bool`);
  return v.value;
}

function uint32(v: Plain, path: string, fail: (m: string) => never): number {
  if (v.kind === "scalar" && v.value === null) return 0;
  if (v.kind !== "scalar" || typeof v.value !== "number" || !v.plain || !Number.isSafeInteger(v.value) || v.value < 0 || v.value > 0xffffffff) {
    return fail(`error loading config file: ${path}: cannot unmarshal ${describe(v)} into uint32`);
  }
  return v.value;
}

function describe(v: Plain): string {
  return v.kind === "scalar" ? `\`${v.text}\`` : `a ${v.kind}`;
}

function list(v: Plain, path: string, fail: (m: string) => never): Array<Extract<Plain, { kind: "map" }>> {
  if (v.kind === "scalar" && v.value === null) return [];
  if (v.kind !== "seq") return fail(`error loading config file: ${path}: cannot unmarshal ${describe(v)} into a list`);
  return v.items as Array<Extract<Plain, { kind: "map" }>>; // validateKeys checked they are maps
}

function descriptorList(v: Plain, path: string, fail: (m: string) => never, warn: (m: string) => void): YamlDescriptor[] {
  return list(v, path, fail).map((m, i) => descriptor(m, `${path}[${i}]`, fail, warn));
}

function descriptor(m: Extract<Plain, { kind: "map" }>, path: string, fail: (m: string) => never, warn: (m: string) => void): YamlDescriptor {
  const d: YamlDescriptor = { key: "", value: "", descriptors: [], shadowMode: false, quotaMode: false, detailedMetric: false, valueToMetric: false, shareThreshold: false, path };
  for (const [k, v] of m.entries) {
    const at = join(path, k);
    switch (k) {
      case "key":
        d.key = str(v, at, fail);
        break;
      case "value":
        d.value = str(v, at, fail);
        break;
      case "rate_limit":
        if (v.kind === "scalar" && v.value === null) break;
        if (v.kind !== "map") fail(`error loading config file: ${at}: cannot unmarshal ${describe(v)} into a rate limit`);
        d.rateLimit = rateLimit(v as Extract<Plain, { kind: "map" }>, at, fail, warn);
        break;
      case "descriptors":
        d.descriptors = descriptorList(v, at, fail, warn);
        break;
      case "shadow_mode":
        d.shadowMode = bool(v, at, fail);
        break;
      case "quota_mode":
        d.quotaMode = bool(v, at, fail);
        break;
      case "detailed_metric":
        d.detailedMetric = bool(v, at, fail);
        break;
      case "value_to_metric":
        d.valueToMetric = bool(v, at, fail);
        break;
      case "share_threshold":
        d.shareThreshold = bool(v, at, fail);
        break;
      case "metadata":
        // Returned by the reference only with RESPONSE_DYNAMIC_METADATA (off by default); tsmesh never returns it.
        warn(`${at}: descriptor metadata is accepted but not returned (tsmesh ratelimit sends no response dynamic metadata)`);
        break;
      default:
        if (!DESCRIPTOR_KEYS.has(k)) warn(`${at}: has no meaning in a descriptor; ignored`);
    }
  }
  return d;
}

function rateLimit(m: Extract<Plain, { kind: "map" }>, path: string, fail: (m: string) => never, warn: (m: string) => void): YamlRateLimit {
  const r: YamlRateLimit = { requestsPerUnit: 0, unit: "", unlimited: false, name: "", replaces: [] };
  for (const [k, v] of m.entries) {
    const at = join(path, k);
    if (k === "requests_per_unit") r.requestsPerUnit = uint32(v, at, fail);
    else if (k === "unit") r.unit = str(v, at, fail);
    else if (k === "unlimited") r.unlimited = bool(v, at, fail);
    else if (k === "name") r.name = str(v, at, fail);
    else if (k === "replaces") {
      r.replaces = list(v, at, fail).map((e, i) => {
        let name = "";
        for (const [rk, rv] of e.entries) {
          if (rk === "name") name = str(rv, `${at}[${i}].name`, fail);
          else if (!REPLACES_KEYS.has(rk)) warn(`${at}[${i}].${rk}: has no meaning in replaces; ignored`);
        }
        return name;
      });
    } else if (!RATE_LIMIT_KEYS.has(k)) warn(`${at}: has no meaning in a rate_limit; ignored`);
  }
  return r;
}
