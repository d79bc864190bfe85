// Kubernetes label selectors as `kubectl get -l` sends them and the API server parses them
// (apimachinery's labels.Parse): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
// `k>N`, `k<N`, joined by commas (all must hold). Errors are apimachinery's words, so the mesh API's
// BadRequest reads as the API server's. Keys and values are checked as label keys and values.

/** A selector that does not parse: apimachinery's message. */
export class LabelSelectorError extends Error {}

export type SelectorOperator = "=" | "==" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";

export interface Requirement {
  key: string;
  operator: SelectorOperator;
  /** Sorted, without duplicates (apimachinery keeps a set). */
  values: string[];
}

/** The longest selector accepted (the API server bounds the whole URL; this bounds the parse). */
export const MAX_SELECTOR_LENGTH = 16 * 1024;

type Token = "error" | "end" | ")" | "," | "!" | "==" | "=" | ">" | "in" | "<" | "!=" | "notin" | "(" | "identifier";

const KEYWORDS = new Set<string>([")", ",", "!", "==", "=", ">", "in", "<", "!=", "notin", "("]);
const isWhitespace = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\n";
const isSpecial = (c: string) => "=!(),><".includes(c);

/** apimachinery's lexer: identifiers run to whitespace or an operator character; operators are the longest known prefix. */
function lex(s: string): Array<{ tok: Token; lit: string }> {
  const out: Array<{ tok: Token; lit: string }> = [];
  let i = 0;
  for (;;) {
    while (i < s.length && isWhitespace(s[i])) i++;
    if (i >= s.length) {
      out.push({ tok: "end", lit: "" });
      return out;
    }
    if (isSpecial(s[i])) {
      let buf = "";
      let last: { tok: Token; lit: string } | undefined;
      while (i < s.length && isSpecial(s[i])) {
        buf += s[i];
        if (KEYWORDS.has(buf)) last = { tok: buf as Token, lit: buf };
        // The character that makes no operator is left for the next token.
        else if (last) break;
        i++;
      }
      if (!last) out.push({ tok: "error", lit: `error expected: keyword found '${buf}'` });
      else out.push(last);
      continue;
    }
    let buf = "";
    while (i < s.length && !isSpecial(s[i]) && !isWhitespace(s[i])) buf += s[i++];
    out.push(KEYWORDS.has(buf) ? { tok: buf as Token, lit: buf } : { tok: "identifier", lit: buf });
  }
}

const LABEL_KEY_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const KEY_MSG = `must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '${KEY_FMT}')`;
const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/** apimachinery's IsLabelKey messages. */
function labelKeyErrors(key: string): string[] {
  const parts = key.split("/");
  const errs: string[] = [];
  if (parts.length > 2) return [`a valid label key ${KEY_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix === "") errs.push("prefix part must be non-empty");
    else {
      if (byteLength(prefix) > 253) errs.push("prefix part must be no more than 253 bytes");
      if (!DNS1123_SUBDOMAIN.test(prefix))
        errs.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        );
    }
  }
  if (name === "") errs.push("name part must be non-empty");
  else if (byteLength(name) > 63) errs.push("name part must be no more than 63 bytes");
  if (!LABEL_KEY_NAME.test(name)) errs.push(`name part ${KEY_MSG}`);
  return errs;
}

function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push("must be no more than 63 bytes");
  if (!LABEL_VALUE.test(value))
    errs.push(
      `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(${KEY_FMT})?')`,
    );
  return errs;
}

/** A field.Invalid error as apimachinery words it: `PATH: Invalid value: "V": DETAIL`. */
const invalid = (path: string, value: string | string[], detail: string) => `${path}: Invalid value: ${typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value)}: ${detail}`;

/** apimachinery's aggregate of several errors: `[a, b]`; one: itself. */
const aggregate = (errs: string[]) => {
  const unique = [...new Set(errs)];
  return unique.length === 1 ? unique[0] : `[${unique.join(", ")}]`;
};

/** NewRequirement's checks (the key was checked while parsing). */
function requirement(key: string, operator: SelectorOperator, values: string[]): Requirement {
  const errs: string[] = [];
  const keyErrs = labelKeyErrors(key);
  if (keyErrs.length > 0) errs.push(invalid("key", key, keyErrs.join("; ")));
  if ((operator === "in" || operator === "notin") && values.length === 0) errs.push(invalid("values", values, "for 'in', 'notin' operators, values set can't be empty"));
  if ((operator === "gt" || operator === "lt") && values.length !== 1) errs.push(invalid("values", values, "for 'Gt', 'Lt' operators, exactly one value is required"));
  if (operator === "gt" || operator === "lt")
    values.forEach((v, i) => {
      if (!/^[+-]?[0-9]+$/.test(v) || BigInt(v) >= 2n ** 63n || BigInt(v) < -(2n ** 63n)) errs.push(invalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
    });
  values.forEach((v, i) => {
    const e = labelValueErrors(v);
    if (e.length > 0) errs.push(invalid(`values[${i}][${key}]`, v, e.join("; ")));
  });
  if (errs.length > 0) throw new LabelSelectorError(`unable to parse requirement: ${aggregate(errs)}`);
  return { key, operator, values };
}

class Parser {
  i = 0;
  constructor(readonly items: Array<{ tok: Token; lit: string }>) {}

  /** The next token; in a value position `in` and `notin` are plain identifiers. */
  look(values: boolean): { tok: Token; lit: string } {
    const t = this.items[this.i];
    return values && (t.tok === "in" || t.tok === "notin") ? { tok: "identifier", lit: t.lit } : t;
  }

  take(values: boolean): { tok: Token; lit: string } {
    const t = this.look(values);
    this.i++;
    return t;
  }

  parse(): Requirement[] {
    const out: Requirement[] = [];
    for (;;) {
      const t = this.look(true);
      if (t.tok === "end") return out;
      if (t.tok !== "identifier" && t.tok !== "!") throw new LabelSelectorError(`found '${t.lit}', expected: !, identifier, or 'end of string'`);
      out.push(this.requirement());
      const after = this.take(true);
      if (after.tok === "end") return out;
      if (after.tok !== ",") throw new LabelSelectorError(`found '${after.lit}', expected: ',' or 'end of string'`);
      const next = this.look(true);
      if (next.tok !== "identifier" && next.tok !== "!") throw new LabelSelectorError(`found '${next.lit}', expected: identifier after ','`);
    }
  }

  requirement(): Requirement {
    let t = this.take(true);
    let notExists = false;
    if (t.tok === "!") {
      notExists = true;
      t = this.take(true);
    }
    const wrap = (f: () => Requirement) => {
      try {
        return f();
      } catch (e) {
        if (e instanceof LabelSelectorError && !e.message.startsWith("unable to parse requirement: ")) throw new LabelSelectorError(`unable to parse requirement: ${e.message}`);
        throw e;
      }
    };
    return wrap(() => {
      if (t.tok !== "identifier") throw new LabelSelectorError(`found '${t.lit}', expected: identifier`);
      const key = t.lit;
      const keyErrs = labelKeyErrors(key);
      if (keyErrs.length > 0) throw new LabelSelectorError(invalid("<nil>", key, keyErrs.join("; ")));
      const next = this.look(true).tok;
      if (next === "end" || next === ",") return requirement(key, notExists ? "!" : "exists", []);
      if (notExists) return requirement(key, "!", []);
      const op = this.take(false);
      const operator = ({ in: "in", notin: "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt" } as Record<string, SelectorOperator>)[op.tok];
      if (!operator) throw new LabelSelectorError(`found '${op.lit}', expected: in, notin, =, ==, !=, gt, lt`);
      const values = operator === "in" || operator === "notin" ? this.setValues() : this.exactValue();
      return requirement(key, operator, [...new Set(values)].sort());
    });
  }

  setValues(): string[] {
    const open = this.take(true);
    if (open.tok !== "(") throw new LabelSelectorError(`found '${open.lit}' expected: '('`);
    const first = this.look(true);
    if (first.tok === ")") {
      this.take(true);
      return [""];
    }
    if (first.tok !== "identifier" && first.tok !== ",") throw new LabelSelectorError(`found '${first.lit}', expected: ',', ')' or identifier`);
    const out: string[] = [];
    for (;;) {
      const t = this.take(true);
      if (t.tok === "identifier") {
        out.push(t.lit);
        const n = this.look(true);
        if (n.tok === ",") continue;
        if (n.tok === ")") break;
        throw new LabelSelectorError(`found '${n.lit}', expected: ',' or ')'`);
      } else if (t.tok === ",") {
        // Empty members: `(,a)`, `(a,,b)`, `(a,)` each hold "".
        if (out.length === 0) out.push("");
        const n = this.look(true);
        if (n.tok === ")") {
          out.push("");
          break;
        }
        if (n.tok === ",") out.push("");
      } else throw new LabelSelectorError(`found '${t.lit}', expected: ',', or identifier`);
    }
    const close = this.take(true);
    if (close.tok !== ")") throw new LabelSelectorError(`found '${first.lit}', expected: ')'`);
    return out;
  }

  exactValue(): string[] {
    const t = this.look(true);
    if (t.tok === "end" || t.tok === ",") return [""];
    this.take(true);
    if (t.tok === "identifier") return [t.lit];
    throw new LabelSelectorError(`found '${t.lit}', expected: identifier`);
  }
}

/** Parses a selector as labels.Parse does (requirements sorted by key). Throws LabelSelectorError. */
export function parseLabelSelector(selector: string): Requirement[] {
  if (selector.length > MAX_SELECTOR_LENGTH) throw new LabelSelectorError(`the selector is longer than ${MAX_SELECTOR_LENGTH} characters`);
  const reqs = new Parser(lex(selector)).parse();
  return reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Whether labels satisfy every requirement (an empty selector selects everything). */
export function matchesLabels(reqs: readonly Requirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = has ? l[r.key] : undefined;
    switch (r.operator) {
      case "=":
      case "==":
      case "in":
        return has && r.values.includes(v!);
      case "!=":
      case "notin":
        return !has || !r.values.includes(v!);
      case "exists":
        return has;
      case "!":
        return !has;
      case "gt":
      case "lt": {
        if (!has || !/^[+-]?[0-9]+$/.test(v!)) return false;
        const [x, y] = [BigInt(v!), BigInt(r.values[0])];
        return r.operator === "gt" ? x > y : x < y;
      }
    }
  });
}

/** labels.FormatLabels: `k=v,…` in key order, or `<none>` (kubectl's LABELS column). */
export function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length === 0 ? "<none>" : keys.map((k) => `${k}=${labels![k]}`).join(",");
}
