// Native implementations of the CEL rules Istio's CRDs repeat most (durations, ports, wildcards,
// label keys). They skip converting values to CEL and running the interpreter; a differential test
// (test/api/cel-fast.test.ts) checks each against the CEL engine on many values.
import { parseDuration } from "./validation/common.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type FastRule = (self: Json) => boolean;

const isObj = (v: Json): v is { [k: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);
/** CEL's has(self.f) on an object: the field is present. */
const has = (v: Json, f: string): boolean => isObj(v) && f in v;
const field = (v: Json, f: string): Json | undefined => (isObj(v) ? v[f] : undefined);

function runes(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// CEL durations are limited to ±10000 years (about 3.16e14 ms).
const MAX_DURATION_MS = 315_576_000_000_000;
const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

export const FAST_RULES: ReadonlyMap<string, FastRule> = new Map<string, FastRule>([
  [
    "duration(self) >= duration('1ms')",
    (s) => {
      if (typeof s !== "string") return false;
      const ms = parseDuration(s);
      return ms !== undefined && Math.abs(ms) <= MAX_DURATION_MS && ms >= 1;
    },
  ],
  ["0 < self && self <= 65535", (s) => typeof s === "number" && s > 0 && s <= 65535],
  ['!self.contains("*")', (s) => typeof s === "string" && !s.includes("*")],
  ['self != "*"', (s) => s !== "*"],
  ["self.size() == 0", (s) => (typeof s === "string" ? s.length === 0 : Array.isArray(s) ? s.length === 0 : isObj(s) && Object.keys(s).length === 0)],
  ["self.all(key, key.size() != 0)", (s) => isObj(s) && Object.keys(s).every((k) => k.length !== 0)],
  ['self.all(key, !key.contains("*"))', (s) => isObj(s) && Object.keys(s).every((k) => !k.includes("*"))],
  [
    'self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))',
    (s) => isObj(s) && Object.keys(s).every((k) => runes(k) < 63 && PORT_NAME.test(k)),
  ],
  [
    "self.all(l1, self.exists_one(l2, l1.number == l2.number))",
    (s) => {
      if (!Array.isArray(s)) return false;
      const counts = new Map<Json, number>();
      for (const e of s) {
        if (!isObj(e) || !("number" in e)) return false; // CEL: no such key → error → rule fails
        counts.set(e.number, (counts.get(e.number) ?? 0) + 1);
      }
      return [...counts.values()].every((n) => n === 1);
    },
  ],
  ['self in ["", "HTTP", "HTTPS"]', (s) => s === "" || s === "HTTP" || s === "HTTPS"],
  // ServiceEntry / WorkloadEntry shape rules.
  ["(has(self.workloadSelector) ? 1 : 0) + (has(self.endpoints) ? 1 : 0) <= 1", (s) => isObj(s) && !(has(s, "workloadSelector") && has(s, "endpoints"))],
  [
    '!((has(self.addresses) ? self.addresses : []).exists(k, k.contains("/")) && !((has(self.resolution) ? self.resolution : "NONE") in ["STATIC", "NONE"]))',
    (s) => {
      if (!isObj(s)) return false;
      const addrs = has(s, "addresses") ? s.addresses : [];
      if (!Array.isArray(addrs) || !addrs.every((a) => typeof a === "string")) return false;
      const res = has(s, "resolution") ? s.resolution : "NONE";
      return !(addrs.some((a) => (a as string).includes("/")) && !(res === "STATIC" || res === "NONE"));
    },
  ],
  ['((has(self.resolution) ? self.resolution : "NONE") == "NONE") ? !has(self.endpoints) : true', (s) => isObj(s) && ((has(s, "resolution") ? s.resolution : "NONE") === "NONE" ? !has(s, "endpoints") : true)],
  [
    '((has(self.resolution) ? self.resolution : "") == "DNS_ROUND_ROBIN") ? ((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true',
    (s) => {
      if (!isObj(s)) return false;
      if ((has(s, "resolution") ? s.resolution : "") !== "DNS_ROUND_ROBIN") return true;
      const eps = has(s, "endpoints") ? s.endpoints : [];
      return Array.isArray(eps) && eps.length <= 1;
    },
  ],
  ["has(self.address) || has(self.network)", (s) => has(s, "address") || has(s, "network")],
  [
    '(has(self.address) ? self.address : "").startsWith("unix://") ? !has(self.ports) : true',
    (s) => {
      if (!isObj(s)) return false;
      const a = has(s, "address") ? field(s, "address") : "";
      if (typeof a !== "string") return false;
      return a.startsWith("unix://") ? !has(s, "ports") : true;
    },
  ],
  // substring(7, 8) of a bare "unix://" is out of range: an error, so the rule fails.
  ['self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true', (s) => typeof s === "string" && (!s.startsWith("unix://") || s[7] === "/" || s[7] === "@")],
  ['self.startsWith("unix://") ? !self.endsWith("/") : true', (s) => typeof s === "string" && (!s.startsWith("unix://") || !s.endsWith("/"))],
  [
    "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1",
    (s) => isObj(s) && (has(s, "selector") ? 1 : 0) + (has(s, "targetRef") ? 1 : 0) + (has(s, "targetRefs") ? 1 : 0) <= 1,
  ],
  [
    "(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) &&\n!has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true",
    (s) =>
      isObj(s) &&
      (has(s, "serviceAccounts") || has(s, "notServiceAccounts")
        ? !has(s, "principals") && !has(s, "notPrincipals") && !has(s, "namespaces") && !has(s, "notNamespaces")
        : true),
  ],
]);
