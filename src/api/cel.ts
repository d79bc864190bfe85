// CEL for CRD `x-kubernetes-validations`: @bufbuild/cel plus the Kubernetes library functions Istio's
// and the Gateway API's rules use (url/isURL/getScheme, isIP). Each rule is parsed and planned once and cached.
import { isIP } from "node:net";
import { celEnv, celFunc, celMethod, CelScalar, isCelError, mapType, parse, plan, type CelInput } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { OpenApiSchema } from "./schema.js";

// Go's net/url accepts a scheme of ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) before the first ':'.
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Mirrors Kubernetes' isURL(): Go's url.Parse succeeds. */
export function isGoURL(s: string): boolean {
  if (hasControlChar(s) || BAD_ESCAPE.test(s)) return false;
  const m = SCHEME.exec(s);
  if (!m && s.startsWith(":")) return false; // "missing protocol scheme"
  if (m) {
    const rest = s.slice(m[0].length);
    if (rest.startsWith("//")) {
      const authority = rest.slice(2).split(/[/?#]/)[0];
      const host = authority.slice(authority.lastIndexOf("@") + 1);
      // A port must be numeric; IPv6 literals are bracketed.
      const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]*)(?::(\d*))?$/.exec(host);
      if (!hp) return false;
    }
  }
  return true;
}

/**
 * Kubernetes' isIP(): netip.ParseAddr succeeds, with no zone and no IPv4-mapped IPv6 form
 * (k8s.io/apiserver/pkg/cel/library/ip.go rejects both).
 */
export function isK8sIP(s: string): boolean {
  if (s.includes("%") || isIP(s) === 0) return false;
  return !(isIP(s) === 6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(s));
}

const urlType = mapType(CelScalar.STRING, CelScalar.STRING);
const k8sFuncs = [
  ...strings,
  celFunc("isURL", [CelScalar.STRING], CelScalar.BOOL, (s) => isGoURL(s)),
  celFunc("isIP", [CelScalar.STRING], CelScalar.BOOL, (s) => isK8sIP(s)),
  celFunc("url", [CelScalar.STRING], urlType, (s) => {
    if (!isGoURL(s)) throw new Error(`URL parse error during conversion from string: ${s}`);
    return new Map([["scheme", (SCHEME.exec(s)?.[1] ?? "").toLowerCase()]]);
  }),
  celMethod("getScheme", urlType, [], CelScalar.STRING, function () {
    return this.get("scheme") as string;
  }),
];

const env = celEnv({ funcs: k8sFuncs });
type Program = ReturnType<typeof plan>;
const programs = new Map<string, Program>();

function program(rule: string): Program {
  let p = programs.get(rule);
  if (!p) {
    p = plan(env, parse(rule));
    programs.set(rule, p);
  }
  return p;
}

// CEL's reserved words: the API server exposes a property so named as `__word__` (KEP-2876).
const CEL_RESERVED = new Set(["true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var"]);

/** A schema property's name as CEL rules see it (`namespace` → `__namespace__`, `a-b` → `a__dash__b`). */
export function celPropertyName(name: string): string {
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  return name.replace(/__|[./-]/g, (c) => (c === "__" ? "__underscores__" : c === "." ? "__dot__" : c === "-" ? "__dash__" : "__slash__"));
}

/** Converts a JSON value to CEL's view of it, typed by the schema (integers become CEL ints). */
export function toCel(value: unknown, schema: OpenApiSchema | undefined): CelInput {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema?.items));
  switch (typeof value) {
    case "number":
      if (Number.isInteger(value) && (schema?.type === "integer" || schema?.["x-kubernetes-int-or-string"]))
        return BigInt(value);
      return value;
    case "string":
    case "boolean":
      return value;
    case "object": {
      const m = new Map<string, CelInput>();
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const prop = schema?.properties?.[k];
        // Declared properties are escaped; map keys (additionalProperties) are data and stay as they are.
        if (prop) m.set(celPropertyName(k), toCel(v, prop));
        else m.set(k, toCel(v, typeof schema?.additionalProperties === "object" ? schema.additionalProperties : undefined));
      }
      return m;
    }
    default:
      return null;
  }
}

export type RuleOutcome = { ok: true } | { ok: false; evalError?: string };

/** Evaluates one rule with `self` bound; a rule that errors counts as failing, as in Kubernetes. */
export function evalRule(rule: string, self: CelInput): RuleOutcome {
  let result: unknown;
  try {
    result = program(rule)({ self });
  } catch (err) {
    return { ok: false, evalError: (err as Error).message };
  }
  if (isCelError(result)) return { ok: false, evalError: result.message };
  return result === true ? { ok: true } : { ok: false };
}
