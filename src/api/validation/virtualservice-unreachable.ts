// Unreachable VirtualService rules and matches (Istio's analyzers report them as IST0130 / IST0131,
// its webhook as warnings): rules after a catch-all, duplicate matches, and uri prefixes an earlier
// match already covers.
import type { HTTPMatchRequest, Resource, StringMatch } from "../resource.js";

type VirtualServiceSpec = Resource<"VirtualService">["spec"];

function stableJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJSON).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJSON((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

function exactOrPrefix(sm: StringMatch | undefined): string {
  if (sm?.exact) return `exact:${sm.exact}`;
  if (sm?.prefix) return `prefix:${sm.prefix}`;
  return "";
}

interface PrefixMatch {
  rule: number;
  match: number;
  prefix: string;
  port: number;
  method: string;
  authority: string;
  headers: Map<string, string>;
  queryParams: Map<string, string>;
  withoutHeaders: Map<string, string>;
}

function toPrefixMatch(m: HTTPMatchRequest, rule: number, match: number): PrefixMatch | undefined {
  const prefix = m.uri?.prefix;
  if (!prefix) return undefined;
  const toMap = (rec: Record<string, StringMatch> | undefined) => new Map(Object.entries(rec ?? {}).map(([k, v]) => [k, exactOrPrefix(v)]));
  return {
    rule,
    match,
    prefix,
    port: m.port ?? 0,
    method: exactOrPrefix(m.method) || "exact:GET",
    authority: exactOrPrefix(m.authority),
    headers: toMap(m.headers),
    queryParams: toMap(m.queryParams),
    withoutHeaders: toMap(m.withoutHeaders),
  };
}

/** Istio's coveredValidation: does the earlier prefix match `a` shadow the later one `b`? */
function covers(a: PrefixMatch, b: PrefixMatch): boolean {
  if (!b.prefix.startsWith(a.prefix) || a.port !== b.port) return false;
  const narrower = (x: string, y: string) => x === y || x.startsWith(y);
  if (!narrower(a.method, b.method) || !narrower(a.authority, b.authority)) return false;
  for (const [ma, mb] of [
    [a.headers, b.headers],
    [a.queryParams, b.queryParams],
    [a.withoutHeaders, b.withoutHeaders],
  ]) {
    if (ma.size !== mb.size) return false;
    for (const [k, v] of ma) {
      const w = mb.get(k);
      if (w === undefined || !narrower(v, w)) return false;
    }
  }
  return true;
}

function routeLabel(routes: Array<{ name?: string }>, i: number): string {
  const name = routes[i]?.name;
  return name ? JSON.stringify(name) : `#${i}`;
}

/** A rule or match that can never apply; `scope` tells which (Istio's IST0130 vs IST0131). */
export interface UnreachableFinding {
  scope: "rule" | "match";
  path: string;
  message: string;
}

/** Every unreachable rule and match in a VirtualService's http, tcp and tls routes. */
export function unreachableRoutes(spec: VirtualServiceSpec): UnreachableFinding[] {
  const out: UnreachableFinding[] = [];
  findUnreachable(out, spec.http, "spec.http", true);
  findUnreachable(out, spec.tcp, "spec.tcp", false);
  findUnreachable(out, spec.tls, "spec.tls", false);
  return out;
}

function findUnreachable(out: UnreachableFinding[], routes: Array<{ name?: string; match?: Array<object> }> | undefined, path: string, isHTTP: boolean): void {
  if (!routes) return;
  const rule = (p: string, message: string) => out.push({ scope: "rule", path: p, message });
  const match = (p: string, message: string) => out.push({ scope: "match", path: p, message });
  const seen = new Map<string, number>();
  let catchAll = -1;
  const prefixMatches: PrefixMatch[] = [];
  routes.forEach((r, i) => {
    const p = `${path}[${i}]`;
    const matches = r.match ?? [];
    if (matches.length === 0) {
      if (catchAll >= 0) rule(p, `rule ${routeLabel(routes, i)} is never used: rule ${routeLabel(routes, catchAll)} before it has no match and takes all traffic`);
      catchAll = i;
      return;
    }
    if (catchAll >= 0) {
      rule(p, `rule ${routeLabel(routes, i)} is never used: rule ${routeLabel(routes, catchAll)} before it has no match and takes all traffic`);
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      const { name: _name, ...rest } = m as { name?: string };
      const key = stableJSON(isHTTP ? rest : m);
      const prior = seen.get(key);
      if (prior !== undefined) {
        match(`${p}.match[${j}]`, `this match is never used: rule ${routeLabel(routes, prior)} has the same match`);
        duplicates++;
        return;
      }
      seen.set(key, i);
      if (isHTTP) {
        const pm = toPrefixMatch(m as HTTPMatchRequest, i, j);
        if (pm) prefixMatches.push(pm);
      }
    });
    if (duplicates === matches.length) rule(p, `rule ${routeLabel(routes, i)} is never used: all its matches are used by earlier rules`);
  });
  for (let a = 0; a < prefixMatches.length; a++) {
    for (let b = a + 1; b < prefixMatches.length; b++) {
      const A = prefixMatches[a];
      const B = prefixMatches[b];
      if (A.prefix === B.prefix || !covers(A, B)) continue;
      match(
        `${path}[${B.rule}].match[${B.match}]`,
        `this match (uri prefix ${JSON.stringify(B.prefix)}) is never used: match #${A.match} of rule ${routeLabel(routes, A.rule)} (uri prefix ${JSON.stringify(A.prefix)}) comes first and covers it`,
      );
    }
  }
}
