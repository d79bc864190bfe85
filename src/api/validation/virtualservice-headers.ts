// VirtualService header checks (Istio's validation of header names and operations): header names in
// matches (JWT claim pseudo-headers included), Envoy's custom-header value syntax, what request and
// response header operations may touch, and where the authority may be rewritten.
import type { HTTPRoute } from "../resource.js";
import type { ValidationContext } from "./context.js";

type HeaderOps = NonNullable<HTTPRoute["headers"]>;

/** A `@request.auth.claims.NAME` (or `[NAME]`) pseudo-header: routing on a JWT claim. */
export function isJWTClaimRoute(name: string): boolean {
  if (!name.toLowerCase().startsWith("@request.auth.claims")) return false;
  const rest = name.slice("@request.auth.claims".length);
  return (rest.startsWith(".") && rest.length > 1) || (rest.startsWith("[") && rest.endsWith("]") && rest.length > 2);
}

/** An HTTP token (RFC 9110): the characters a header name may have. */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;

/** HTTP/2 pseudo-headers a match may name. */
export const PSEUDO_HEADERS = new Set([":method", ":scheme", ":authority", ":path", ":status"]);

// Control characters other than tab are not allowed in a header value.
// eslint-disable-next-line no-control-regex
const HEADER_VALUE_CHARS = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;

// States of Envoy's header-value parser (source/common/router/header_parser.cc).
const S = { Literal: 0, VarName: 1, ExpectArray: 2, ExpectString: 3, String: 4, ExpectDelimOrEnd: 5, ExpectArgsEnd: 6, ExpectVarEnd: 7 } as const;
type ParserState = (typeof S)[keyof typeof S];

/** Envoy's custom-header value syntax (`%VAR%`, `%VAR(args)%`, `%%`), as Istio's port of header_parser.cc checks it. */
export function checkHeaderValue(value: string): string | undefined {
  if (!HEADER_VALUE_CHARS.test(value)) return `header value ${JSON.stringify(value)} contains control characters`;
  let state: ParserState = S.Literal;
  for (let pos = 0; pos < value.length; pos++) {
    const ch = value[pos];
    const hasNext = pos + 1 < value.length;
    switch (state) {
      case S.Literal:
        if (ch !== "%") break;
        if (!hasNext) return `header value ${JSON.stringify(value)} has an unescaped '%'; write '%%' for a literal percent sign`;
        if (value[pos + 1] === "%") pos++;
        else state = S.VarName;
        break;
      case S.VarName:
        if (ch === "%") state = S.Literal;
        else if (ch === "(") state = S.ExpectArray;
        break;
      case S.ExpectArray:
        if (ch === "[") state = S.ExpectString;
        else if (ch !== " ") state = S.String;
        break;
      case S.ExpectDelimOrEnd:
        if (ch === ",") state = S.ExpectString;
        else if (ch === "]") state = S.ExpectArgsEnd;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected ',', ']' or a space in a %VAR([...])% argument list`;
        break;
      case S.ExpectString:
        if (ch === '"') state = S.String;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected '"' in a %VAR([...])% argument list`;
        break;
      case S.String:
        if (ch === "\\") {
          if (!hasNext) return `header value ${JSON.stringify(value)}: unterminated backslash in a %VAR(...)% argument`;
          pos++;
        } else if (ch === ")") state = S.ExpectVarEnd;
        else if (ch === '"') state = S.ExpectDelimOrEnd;
        break;
      case S.ExpectArgsEnd:
        if (ch === ")") state = S.ExpectVarEnd;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected ')' to close a %VAR(...)% expression`;
        break;
      case S.ExpectVarEnd:
        if (ch === "%") state = S.Literal;
        else if (ch !== " ") return `header value ${JSON.stringify(value)}: expected '%' to close a %VAR(...)% expression`;
        break;
    }
  }
  if (state !== S.Literal) return `header value ${JSON.stringify(value)} has an unterminated %VAR% expression; write '%%' for a literal percent sign`;
  return undefined;
}

function isAuthorityHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n === ":authority" || n === "host";
}

/** Request add/set: pseudo-headers are off limits, except :authority / Host (rewrites the authority). */
function checkRequestSetName(name: string): string | undefined {
  if (name === "") return "header name cannot be empty";
  if ((name.startsWith(":") || name.toLowerCase() === "host") && !isAuthorityHeader(name))
    return `invalid header ${JSON.stringify(name)}: pseudo-headers (":" prefix) cannot be set`;
  return undefined;
}

/** Request remove and any response operation: neither Host nor pseudo-headers. */
function checkHeaderOperationName(name: string): string | undefined {
  if (name === "") return "header name cannot be empty";
  if (name.toLowerCase() === "host") return `invalid header ${JSON.stringify(name)}: the Host header cannot be modified here (use rewrite.authority)`;
  if (name.startsWith(":")) return `invalid header ${JSON.stringify(name)}: pseudo-headers (":" prefix) cannot be modified`;
  return undefined;
}

export function checkHeaderOps(ctx: ValidationContext, headers: HeaderOps | undefined, path: string): void {
  if (!headers) return;
  for (const dir of ["request", "response"] as const) {
    const ops = headers[dir];
    if (!ops) continue;
    const nameCheck = dir === "request" ? checkRequestSetName : checkHeaderOperationName;
    for (const op of ["set", "add"] as const) {
      for (const [name, value] of Object.entries(ops[op] ?? {})) {
        const p = `${path}.${dir}.${op}[${name}]`;
        const e = nameCheck(name);
        if (e) ctx.error("TSMESH_INVALID_VALUE", p, e);
        const ve = typeof value === "string" ? checkHeaderValue(value) : undefined;
        if (ve) ctx.error("TSMESH_INVALID_VALUE", p, ve);
      }
    }
    (ops.remove ?? []).forEach((name, i) => {
      const e = checkHeaderOperationName(name);
      if (e) ctx.error("TSMESH_INVALID_VALUE", `${path}.${dir}.remove[${i}]`, e);
    });
  }
}

/** Only one place may set the authority: rewrite.authority or a request set/add of Host / :authority. */
export function checkAuthorityRewrite(ctx: ValidationContext, route: HTTPRoute, path: string): void {
  let current = route.rewrite?.authority ?? "";
  let from = "rewrite.authority";
  for (const op of ["set", "add"] as const) {
    for (const [name, value] of Object.entries(route.headers?.request?.[op] ?? {})) {
      if (!isAuthorityHeader(name)) continue;
      if (current !== "") {
        ctx.error(
          "TSMESH_INVALID_ROUTE",
          `${path}.headers.request.${op}[${name}]`,
          `the authority is already set to ${JSON.stringify(current)} by ${from}; it cannot also be set to ${JSON.stringify(value)} here`,
        );
        return;
      }
      current = value;
      from = `headers.request.${op}[${name}]`;
    }
  }
}
