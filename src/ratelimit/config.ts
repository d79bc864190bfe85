// The loaded rate-limit configuration: one descriptor tree per domain, built from parsed files with
// the reference's checks (empty/duplicate domain, empty key, duplicate composite key, unit,
// unlimited + unit, replaces, share_threshold without a wildcard), and its lookup (GetLimit): the
// request's entries walk the tree level by level, trying KEY_VALUE, then the level's wildcard
// values in file order (`*` matches any run of characters, anywhere in the value), then KEY alone;
// a limit applies only at the level of the request's last entry. Stats keys follow the reference
// (detailed_metric, value_to_metric, share_threshold).
import { RateLimitConfigError, type YamlDescriptor, type YamlRoot } from "./config-yaml.js";
import type { RateLimitStats, RateLimitStatsManager } from "./stats.js";

export { RateLimitConfigError };

/** RateLimitResponse.RateLimit.Unit (WEEK is 7 in data-plane-api's newer rls.proto). */
export type Unit = "SECOND" | "MINUTE" | "HOUR" | "DAY" | "WEEK" | "MONTH" | "YEAR";

export const UNIT_NUMBERS: Readonly<Record<Unit, number>> = { SECOND: 1, MINUTE: 2, HOUR: 3, DAY: 4, MONTH: 5, YEAR: 6, WEEK: 7 };
const UNIT_BY_NUMBER = new Map<number, Unit>(Object.entries(UNIT_NUMBERS).map(([u, n]) => [n, u as Unit]));

/** The reference's UnitToDivider: a window's length in seconds. */
export const UNIT_SECONDS: Readonly<Record<Unit, number>> = {
  SECOND: 1,
  MINUTE: 60,
  HOUR: 3600,
  DAY: 86_400,
  WEEK: 604_800,
  MONTH: 2_592_000,
  YEAR: 31_536_000,
};

/** A unit from the wire: its enum name or number; undefined for UNKNOWN or anything else. */
export function unitOf(v: unknown): Unit | undefined {
  if (typeof v === "number") return UNIT_BY_NUMBER.get(v);
  if (typeof v === "string" && v in UNIT_NUMBERS) return v as Unit;
  return undefined;
}

/** One rate limit as a request meets it (the reference's config.RateLimit). */
export interface RateLimit {
  /** The stats key (DOMAIN.KEY_VALUE…). */
  fullKey: string;
  stats: RateLimitStats;
  requestsPerUnit: number;
  unit: Unit;
  /** rate_limit.name, sent back in current_limit.name. */
  name: string;
  unlimited: boolean;
  shadowMode: boolean;
  quotaMode: boolean;
  replaces: readonly string[];
  detailedMetric: boolean;
  /** Per request entry: the wildcard value its counter is shared under (share_threshold), or "". */
  shareThresholdKeyPattern?: readonly string[];
}

export interface DescriptorEntry {
  key: string;
  value: string;
}

/** A request's descriptor, as the service reads it. */
export interface RequestDescriptor {
  entries: readonly DescriptorEntry[];
  /** RateLimitOverride: a limit the proxy sends along with the descriptor. */
  limit?: { requestsPerUnit: number; unit: Unit };
}

interface Node {
  children: Map<string, Node>;
  limit?: RateLimit;
  /** The level's wildcard keys (KEY_VALUE with a `*`), in file order, split on `*` once. */
  wildcards: Array<{ key: string; parts: string[] }>;
  valueToMetric: boolean;
  shareThreshold: boolean;
  /** KEY_VALUE of a share_threshold wildcard, else "". */
  wildcardPattern: string;
}

function newNode(): Node {
  return { children: new Map(), wildcards: [], valueToMetric: false, shareThreshold: false, wildcardPattern: "" };
}

/** A parsed file to load: its name (in messages) and content. */
export interface ConfigToLoad {
  name: string;
  root: YamlRoot;
}

/** The reference's wildcardMatch: `parts` is the pattern split on `*`; each `*` matches zero or more characters. */
export function wildcardMatch(parts: readonly string[], value: string): boolean {
  if (parts.length === 1) return parts[0] === value;
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let fixed = 0;
  for (const p of parts) fixed += p.length;
  if (value.length < fixed) return false;
  let rest = value.slice(first.length, value.length - last.length);
  for (let i = 1; i < parts.length - 1; i++) {
    const at = rest.indexOf(parts[i]);
    if (at < 0) return false;
    rest = rest.slice(at + parts[i].length);
  }
  return true;
}

export class RateLimitConfig {
  private readonly domains = new Map<string, Node>();

  /** Loads every file; throws RateLimitConfigError (naming the file and field) at the first problem. */
  constructor(
    configs: readonly ConfigToLoad[],
    private readonly stats: RateLimitStatsManager,
    /** MERGE_DOMAIN_CONFIG: files naming the same domain add to it instead of being an error. */
    mergeDomains = false,
  ) {
    for (const c of configs) {
      const { domain } = c.root;
      if (domain === "") throw new RateLimitConfigError(`${c.name}: config file cannot have empty domain`);
      let node = this.domains.get(domain);
      if (node && !mergeDomains) throw new RateLimitConfigError(`${c.name}: duplicate domain '${domain}' in config file`);
      if (!node) this.domains.set(domain, (node = newNode()));
      this.load(c.name, node, `${domain}.`, c.root.descriptors);
    }
  }

  get domainNames(): string[] {
    return [...this.domains.keys()];
  }

  private load(file: string, parent: Node, parentKey: string, descriptors: readonly YamlDescriptor[]): void {
    for (const d of descriptors) {
      const fail = (message: string): never => {
        throw new RateLimitConfigError(`${file}: ${d.path}: ${message}`);
      };
      if (d.key === "") fail("descriptor has empty key");
      const finalKey = d.value === "" ? d.key : `${d.key}_${d.value}`;
      const fullKey = parentKey + finalKey;
      if (parent.children.has(finalKey)) fail(`duplicate descriptor composite key '${fullKey}'`);
      let limit: RateLimit | undefined;
      if (d.rateLimit) {
        const r = d.rateLimit;
        const unit = r.unit.toUpperCase();
        const valid = unit in UNIT_NUMBERS;
        if (r.unlimited) {
          if (valid) fail("should not specify rate limit unit when unlimited");
        } else if (!valid) fail(`invalid rate limit unit '${r.unit}'`);
        for (const name of r.replaces) {
          if (name === "") fail("should not have an empty replaces entry");
          if (name === r.name) fail("replaces should not contain name of same descriptor");
        }
        limit = {
          fullKey,
          stats: this.stats.forKey(fullKey),
          requestsPerUnit: r.requestsPerUnit,
          // An unlimited limit never reaches a store; its unit is never read.
          unit: valid ? (unit as Unit) : "SECOND",
          name: r.name,
          unlimited: r.unlimited,
          shadowMode: d.shadowMode,
          quotaMode: d.quotaMode,
          replaces: r.replaces,
          detailedMetric: d.detailedMetric,
        };
      }
      const wildcard = finalKey.includes("*");
      if (d.shareThreshold && !wildcard) fail(`share_threshold can only be used with wildcard values (containing '*'), but found key '${finalKey}'`);
      if (wildcard) parent.wildcards.push({ key: finalKey, parts: finalKey.split("*") });
      const node = newNode();
      node.limit = limit;
      node.valueToMetric = d.valueToMetric;
      node.shareThreshold = d.shareThreshold;
      node.wildcardPattern = d.shareThreshold && wildcard ? finalKey : "";
      this.load(file, node, `${fullKey}.`, d.descriptors);
      parent.children.set(finalKey, node);
    }
  }

  /** The limit for one descriptor of a request, or undefined when none applies. */
  getLimit(domain: string, descriptor: RequestDescriptor): RateLimit | undefined {
    const root = this.domains.get(domain);
    if (!root) {
      this.stats.domainNotFound(domain);
      return undefined;
    }
    const entries = descriptor.entries;
    if (descriptor.limit) {
      // A limit override from the proxy: never shadow mode, its own stats key.
      const key = `${domain}.${entries.map((e) => (e.value === "" ? e.key : `${e.key}_${e.value}`)).join(".")}`;
      return this.make(key, { requestsPerUnit: descriptor.limit.requestsPerUnit, unit: descriptor.limit.unit });
    }
    let level = root.children;
    let prev = root;
    let detailedKey = domain;
    let valueKey = domain;
    let shared: Map<number, string> | undefined;
    let limit: RateLimit | undefined;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      let finalKey = `${entry.key}_${entry.value}`;
      detailedKey += `.${finalKey}`;
      let next = level.get(finalKey);
      let matchedWildcard = "";
      if (!next) {
        for (const w of prev.wildcards) {
          if (wildcardMatch(w.parts, finalKey)) {
            next = level.get(w.key);
            matchedWildcard = w.key;
            break;
          }
        }
      }
      const matchedUsingValue = next !== undefined;
      if (!next) {
        finalKey = entry.key;
        next = level.get(finalKey);
      }
      if (matchedWildcard !== "" && next?.shareThreshold && next.wildcardPattern !== "") {
        (shared ??= new Map()).set(i, trimPrefix(next.wildcardPattern, `${entry.key}_`));
      }
      valueKey += ".";
      if (next) {
        let valueToUse = "";
        if (matchedWildcard !== "") valueToUse = shared?.get(i) ?? (next.valueToMetric ? entry.value : trimPrefix(matchedWildcard, `${entry.key}_`));
        else if (matchedUsingValue || next.valueToMetric) valueToUse = entry.value;
        valueKey += valueToUse === "" ? entry.key : `${entry.key}_${valueToUse}`;
      } else valueKey += entry.key;
      if (next?.limit && i === entries.length - 1) {
        limit = { ...next.limit };
        if (shared && shared.size > 0) {
          const patterns = new Array<string>(entries.length).fill("");
          for (const [idx, p] of shared) patterns[idx] = p;
          limit.shareThresholdKeyPattern = patterns;
        }
      }
      if (!next || next.children.size === 0) break;
      level = next.children;
      prev = next;
    }
    if (!limit) return undefined;
    if (limit.detailedMetric) {
      const patterns = limit.shareThresholdKeyPattern;
      let key = detailedKey;
      if (patterns) {
        key = domain;
        entries.forEach((e, i) => {
          const p = patterns[i] ?? "";
          key += p !== "" ? `.${e.key}_${p}` : e.value === "" ? `.${e.key}` : `.${e.key}_${e.value}`;
        });
      }
      return { ...limit, fullKey: key, stats: this.stats.forKey(key) };
    }
    if (valueKey !== limit.fullKey) return { ...limit, fullKey: valueKey, stats: this.stats.forKey(valueKey) };
    return limit;
  }

  private make(key: string, l: { requestsPerUnit: number; unit: Unit }): RateLimit {
    return { fullKey: key, stats: this.stats.forKey(key), requestsPerUnit: l.requestsPerUnit, unit: l.unit, name: "", unlimited: false, shadowMode: false, quotaMode: false, replaces: [], detailedMetric: false };
  }

  /** The reference's Dump (the debug port's /rlconfig): one line per limit. */
  dump(): string {
    const out: string[] = [];
    const walk = (n: Node) => {
      if (n.limit) {
        const l = n.limit;
        out.push(`${l.fullKey}: unit=${l.unlimited ? "UNKNOWN" : l.unit} requests_per_unit=${l.requestsPerUnit}, shadow_mode: ${l.shadowMode}, quota_mode: ${l.quotaMode}\n`);
      }
      for (const c of n.children.values()) walk(c);
    };
    for (const d of this.domains.values()) walk(d);
    return out.join("");
  }
}

function trimPrefix(s: string, prefix: string): string {
  return s.startsWith(prefix) ? s.slice(prefix.length) : s;
}
