// How Go prints decoded JSON values, for kubectl's output to read the same: %v (fmt.Sprint — what
// custom-columns cells and jsonpath's scalars show), json.Marshal (compact, map keys sorted, HTML
// characters escaped) and json.MarshalIndent, float64's shortest form, and the Go type names
// kubectl's jsonpath errors name. Integers count as Go's int64 (the unstructured decoder's choice
// for a whole number), other numbers as float64.

/**
 * Go's %v of a float64 (an integer prints without a point): exponent form below 1e-4 and from 1e21,
 * with at least two exponent digits (`1e-05`, `1e+21`).
 */
export function goNumber(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN";
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e21)) {
    const [m, e] = n.toExponential().split("e");
    const sign = e.startsWith("-") ? "-" : "+";
    return `${m}e${sign}${e.replace(/^[-+]/, "").padStart(2, "0")}`;
  }
  return String(n);
}

/** Whether a decoded number is an int64 (a whole number in range) rather than a float64. */
export function isGoInt(n: number): boolean {
  return Number.isInteger(n) && Math.abs(n) < 2 ** 63;
}

function sortedKeys(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(sortedKeys);
  if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, sortedKeys(o[k])]),
    );
  }
  return x;
}

const htmlEscape = (s: string) => s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Go's json.Marshal of decoded JSON: compact, map keys sorted, <, > and & escaped for HTML. */
export function goJson(v: unknown): string {
  return htmlEscape(JSON.stringify(sortedKeys(v)) ?? "null");
}

/** Go's json.MarshalIndent(v, "", "    "). */
export function goJsonIndent(v: unknown): string {
  return htmlEscape(JSON.stringify(sortedKeys(v), null, 4) ?? "null");
}

/** A scalar as fmt.Sprint prints it (strings bare, int64 in decimal, float64 shortest). */
function goScalar(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "number") return isGoInt(v) ? BigInt(v).toString() : goNumber(v);
  return String(v);
}

/** fmt.Sprint of a decoded value: `[a b]` for a slice, `map[k:v]` (keys sorted) for a map, `<nil>` for null. */
export function goSprint(v: unknown): string {
  // Iterative, so a deeply nested value cannot exhaust the stack: each entry is a value to print or text.
  const out: string[] = [];
  const stack: Array<{ value: unknown } | { text: string }> = [{ value: v }];
  while (stack.length > 0) {
    const e = stack.pop()!;
    if ("text" in e) {
      out.push(e.text);
      continue;
    }
    const x = e.value;
    const parts: Array<{ value: unknown } | { text: string }> = [];
    if (Array.isArray(x)) {
      parts.push({ text: "[" });
      x.forEach((item, i) => parts.push(...(i > 0 ? [{ text: " " }] : []), { value: item }));
      parts.push({ text: "]" });
    } else if (x !== null && typeof x === "object") {
      const o = x as Record<string, unknown>;
      parts.push({ text: "map[" });
      Object.keys(o)
        .sort()
        .forEach((k, i) => parts.push({ text: `${i > 0 ? " " : ""}${k}:` }, { value: o[k] }));
      parts.push({ text: "]" });
    } else {
      out.push(goScalar(x));
      continue;
    }
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
  }
  return out.join("");
}

/** The Go type kubectl's jsonpath names in its errors (`map[string]interface {} is not array or slice`). */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (Array.isArray(v)) return "[]interface {}";
  if (typeof v === "object") return "map[string]interface {}";
  if (typeof v === "number") return isGoInt(v) ? "int64" : "float64";
  if (typeof v === "boolean") return "bool";
  return "string";
}
