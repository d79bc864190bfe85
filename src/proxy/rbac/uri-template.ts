// Envoy's URI template path matcher (envoy.path.match.uri_template, UriTemplateMatchConfig), which
// RBAC's `uri_template` permission and Istio's `paths` with `{*}` / `{**}` use: the template is
// parsed as Envoy's uri_template_lib does — `/`-separated segments, each a literal, `*` (one
// segment), `**` (any rest of the path, `/` included), or a variable `{name}` / `{name=*}` /
// `{name=**}` / `{name=lit/*}`; a literal suffix may follow the last segment (`/{x}.jpg`), a single
// trailing `/` is kept; at most 5 variables, names 1–16 characters and unique, nothing that globs
// after `**` — and compiled once to an anchored regular expression over the path without its query
// and fragment.
import { XdsConfigError } from "../xds-error.js";

/** RFC 3986 pchar as Envoy allows it in a template (no `*`, `/`, `{`, `}`). */
const LITERAL_CLASS = "a-zA-Z0-9\\-._~%!$&'()+,;:@=";
const LITERAL = new RegExp(`^[${LITERAL_CLASS}]+$`);
const PATH_GLOB = `[${LITERAL_CLASS}]+`;
const TEXT_GLOB = `[${LITERAL_CLASS}/]*`;
const VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/;
const MAX_VARIABLES = 5;
const MAX_NAME = 16;

type Part = { kind: "literal"; text: string } | { kind: "glob"; text: boolean /* ** */ } | { kind: "var"; name: string; match: Part[] };

/** Envoy's toRegexPattern for a literal: the regex characters a literal may hold, escaped. */
function literalRegex(s: string): string {
  return s.replace(/[$()+.]/g, (c) => `\\${c}`);
}

function partRegex(p: Part): string {
  if (p.kind === "literal") return literalRegex(p.text);
  if (p.kind === "glob") return p.text ? TEXT_GLOB : PATH_GLOB;
  return `(?:${p.match.length === 0 ? PATH_GLOB : p.match.map(partRegex).join("/")})`;
}

class TemplateSyntax extends Error {}

/** Parses one literal up to the next `/` (Envoy's parseLiteral). */
function literal(s: string): [string, string] {
  const slash = s.indexOf("/");
  const text = slash < 0 ? s : s.slice(0, slash);
  if (!LITERAL.test(text)) throw new TemplateSyntax(`Invalid literal: "${text}"`);
  return [text, s.slice(text.length)];
}

function operator(s: string): [boolean, string] {
  if (s.startsWith("**")) return [true, s.slice(2)];
  if (s.startsWith("*")) return [false, s.slice(1)];
  throw new TemplateSyntax(`Invalid Operator: "${s}"`);
}

function variable(s: string): [Part, string] {
  if (s.length < 2 || s[0] !== "{") throw new TemplateSyntax(`Invalid variable: "${s}"`);
  const close = s.indexOf("}", 1);
  if (close < 0) throw new TemplateSyntax(`Unmatched variable bracket in "${s}"`);
  const body = s.slice(1, close);
  const rest = s.slice(close + 1);
  const eq = body.indexOf("=");
  const name = eq < 0 ? body : body.slice(0, eq);
  if (!VARIABLE_NAME.test(name)) throw new TemplateSyntax(`Invalid variable name: "${name}"`);
  const v: Part = { kind: "var", name, match: [] };
  if (eq < 0) return [v, rest];
  let item = body.slice(eq + 1);
  if (item === "") throw new TemplateSyntax("Empty variable match");
  while (item !== "") {
    if (item[0] === "*") {
      const [text, r] = operator(item);
      v.match.push({ kind: "glob", text });
      item = r;
    } else {
      const [text, r] = literal(item);
      v.match.push({ kind: "literal", text });
      item = r;
    }
    if (item !== "") {
      if (item[0] !== "/" || item.length === 1) throw new TemplateSyntax(`Invalid variable match: "${item}"`);
      item = item.slice(1);
    }
  }
  return [v, rest];
}

/** Parses a path template into its segments and suffix (Envoy's parsePathPatternSyntax). */
function parse(template: string): { segments: Part[]; suffix: string } {
  if (!/^\/[\x21-\x7e]*$/.test(template)) throw new TemplateSyntax(`Invalid pattern: "${template}"`);
  let path = template.slice(1);
  const segments: Part[] = [];
  let suffix = "";
  while (path !== "") {
    if (path[0] === "*") {
      const [text, r] = operator(path);
      segments.push({ kind: "glob", text });
      path = r;
    } else if (path[0] === "{") {
      const [v, r] = variable(path);
      segments.push(v);
      path = r;
    } else {
      const [text, r] = literal(path);
      segments.push({ kind: "literal", text });
      path = r;
    }
    if (path === "") break;
    if (path === "/") {
      segments.push({ kind: "literal", text: "" });
      break;
    }
    if (path[0] === "/") {
      path = path.slice(1);
      continue;
    }
    const [text, r] = literal(path);
    suffix = text;
    if (r !== "") throw new TemplateSyntax("Prefix match not supported.");
    break;
  }
  const names = new Set<string>();
  for (const s of segments) {
    if (s.kind !== "var") continue;
    if (names.size >= MAX_VARIABLES) throw new TemplateSyntax(`Exceeded variable count limit (${MAX_VARIABLES})`);
    if (s.name.length > MAX_NAME) throw new TemplateSyntax(`Invalid variable name length (length of "${s.name}" should be at least 1 and no more than ${MAX_NAME})`);
    if (names.has(s.name)) throw new TemplateSyntax(`Repeated variable name: "${s.name}"`);
    names.add(s.name);
  }
  // Nothing may glob after a `**` (Envoy's validateNoOperatorAfterTextGlob).
  let seenTextGlob = false;
  for (const s of segments) {
    if (s.kind === "glob") {
      if (seenTextGlob) throw new TemplateSyntax("Glob after text glob.");
      seenTextGlob = s.text;
    } else if (s.kind === "var") {
      if (s.match.length === 0) {
        if (seenTextGlob) throw new TemplateSyntax("Implicit variable path glob after text glob.");
      } else {
        for (const m of s.match) {
          if (m.kind !== "glob") continue;
          if (seenTextGlob) throw new TemplateSyntax("Glob after text glob.");
          seenTextGlob = m.text;
        }
      }
    }
  }
  return { segments, suffix };
}

/** A compiled path template: whether a request path (query and fragment ignored) matches it. */
export type UriTemplateMatcher = (path: string) => boolean;

/** The path without `?query` and `#fragment` (Envoy's PathUtil::removeQueryAndFragment). */
export function pathWithoutQuery(path: string): string {
  let end = path.length;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 || c === 35) end = i;
  }
  return end === path.length ? path : path.slice(0, end);
}

/** Compiles UriTemplateMatchConfig.path_template (1–256 characters, as Envoy validates it). */
export function compileUriTemplate(template: string, path: string): UriTemplateMatcher {
  if (template.length < 1 || template.length > 256) throw new XdsConfigError(path, "path_template must be 1 to 256 characters");
  let parsed: { segments: Part[]; suffix: string };
  try {
    parsed = parse(template);
  } catch (e) {
    if (e instanceof TemplateSyntax) throw new XdsConfigError(path, `invalid path template '${template}': ${e.message}`);
    throw e;
  }
  const re = new RegExp(`^/${parsed.segments.map(partRegex).join("/")}${literalRegex(parsed.suffix)}$`);
  return (p) => re.test(pathWithoutQuery(p));
}
