// ext_authz's query parameter mutations as Envoy applies them (Http::Utility::QueryParamsMulti):
// the query is parsed raw (no percent-decoding) into a map sorted by key, a parameter to set
// replaces every value of its key, one to remove drops the key, and the path is rebuilt with the
// map's keys in order (`k=v&…`; a key without a value keeps an empty one).

/** Characters a raw query key or value from the check service may not carry (they would change the request line). */
const BAD = /[\0-\x20\x7f#&]/;

export function validQueryParameter(key: string, value: string): boolean {
  return key !== "" && !BAD.test(key) && !key.includes("=") && !BAD.test(value);
}

/** `path` with the mutations applied, or `path` itself when there are none. */
export function mutateQuery(path: string, set: readonly (readonly [string, string])[], remove: readonly string[]): string {
  if (set.length === 0 && remove.length === 0) return path;
  const q = path.indexOf("?");
  const base = q < 0 ? path : path.slice(0, q);
  const params = new Map<string, string[]>();
  if (q >= 0) {
    for (const part of path.slice(q + 1).split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const [k, v] = eq < 0 ? [part, ""] : [part.slice(0, eq), part.slice(eq + 1)];
      const vs = params.get(k);
      if (vs === undefined) params.set(k, [v]);
      else vs.push(v);
    }
  }
  for (const [k, v] of set) params.set(k, [v]);
  for (const k of remove) params.delete(k);
  const keys = [...params.keys()].sort();
  if (keys.length === 0) return base;
  return `${base}?${keys.flatMap((k) => params.get(k)!.map((v) => `${k}=${v}`)).join("&")}`;
}
