// Building blocks of Istio's validation (pkg/config/validation/agent + pkg/config/labels), shared by
// every kind. Each returns an error message, or undefined when the value is fine.
import { RE2JS } from "@bufbuild/re2";
import { isIP } from "node:net";

const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^(?:\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const K8S_DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const K8S_DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** Kubernetes' stricter (lower-case) label, for namespaces. */
export function checkK8sDNS1123Label(s: string): string | undefined {
  if (s.length > 63) return "must be no more than 63 characters";
  if (!K8S_DNS1123_LABEL.test(s))
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
  return undefined;
}

const K8S_DNS1035_LABEL = /^[a-z](?:[-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' DNS-1035 label, for Service names (apimachinery's IsDNS1035Label). */
export function checkK8sDNS1035Label(s: string): string | undefined {
  if (s.length > 63) return "must be no more than 63 characters";
  if (!K8S_DNS1035_LABEL.test(s))
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  return undefined;
}

/** Kubernetes' DNS-1123 subdomain, for object names. */
export function checkK8sDNS1123Subdomain(s: string): string | undefined {
  if (s.length > 253) return "must be no more than 253 characters";
  if (!K8S_DNS1123_SUBDOMAIN.test(s))
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  return undefined;
}

function checkDNS1123Preconditions(name: string): string | undefined {
  if (name.length > 255) return `domain name ${JSON.stringify(name)} too long (max 255)`;
  if (name.length === 0) return "empty domain name not allowed";
  return undefined;
}

/** Dot-separated DNS-1123 labels; a trailing dot (FQDN form) is allowed. */
export function checkDNS1123Labels(domain: string): string | undefined {
  const parts = domain.split(".");
  const topLevel = parts[parts.length - 1];
  if (/^\d+$/.test(topLevel)) return `domain name ${JSON.stringify(domain)} invalid (top level domain ${JSON.stringify(topLevel)} cannot be all-numeric)`;
  for (let i = 0; i < parts.length; i++) {
    const label = parts[i];
    if (i === parts.length - 1 && label === "" && i > 0) break; // trailing dot
    if (!isDNS1123Label(label)) return `domain name ${JSON.stringify(domain)} invalid (label ${JSON.stringify(label)} invalid)`;
  }
  return undefined;
}

/** Istio's ValidateFQDN: a hostname without wildcards. */
export function checkFQDN(host: string): string | undefined {
  return checkDNS1123Preconditions(host) ?? checkDNS1123Labels(host);
}

/** Istio's ValidateWildcardDomain: a wildcard is allowed only as (a prefix of) the first label. */
export function checkWildcardDomain(host: string): string | undefined {
  const pre = checkDNS1123Preconditions(host);
  if (pre) return pre;
  const dot = host.indexOf(".");
  const first = dot < 0 ? host : host.slice(0, dot);
  if (!(first.length <= 63 && WILDCARD_LABEL.test(first)))
    return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(first)} invalid)`;
  if (dot >= 0) return checkDNS1123Labels(host.slice(dot + 1));
  return undefined;
}

/** Istio's ValidateWildcardDomainForVirtualServiceBoundToGateway-free variant used by most host lists. */
export function isWildcardHost(host: string): boolean {
  return host.startsWith("*");
}

export function checkPort(port: number): string | undefined {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port number ${port} must be in the range 1..65535`;
  return undefined;
}

/** Port names in Istio follow DNS-1123 labels (ValidatePortName). */
export function checkPortName(name: string): string | undefined {
  if (!isDNS1123Label(name)) return `invalid port name: ${JSON.stringify(name)}`;
  return undefined;
}

/** Istio's protocols (protocol.Parse): anything else is treated as TCP with a warning by Istio. */
export const PROTOCOLS = ["HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "REDIS", "MYSQL", "TCP", "TLS", "UDP", "HTTP_PROXY"] as const;

export function isKnownProtocol(p: string): boolean {
  return (PROTOCOLS as readonly string[]).includes(p.toUpperCase());
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/**
 * Parses a duration as Istio's YAML carries it: protobuf JSON ("1.5s") or Go ("1m30s", "250ms"),
 * which is what the CRDs' CEL `duration()` accepts. Returns milliseconds, or undefined if malformed.
 */
const SIMPLE_DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

export function parseDuration(s: string): number | undefined {
  if (s === "0") return 0;
  const simple = SIMPLE_DURATION.exec(s); // the common case: one number, one unit
  if (simple) return Number(simple[1]) * DURATION_UNITS[simple[2]];
  const m = DURATION.exec(s);
  if (!m) return undefined;
  let ms = 0;
  for (const part of s.matchAll(DURATION_PART)) ms += Number(part[1]) * DURATION_UNITS[part[2]];
  return m[1] === "-" ? -ms : ms;
}

/** Istio's ValidateDuration: well-formed, at least 1ms, and whole milliseconds. */
export function checkDuration(s: string, opts: { min?: number; allowZero?: boolean } = {}): string | undefined {
  const ms = parseDuration(s);
  if (ms === undefined) return `invalid duration ${JSON.stringify(s)}`;
  if (ms === 0 && opts.allowZero) return undefined;
  const min = opts.min ?? 1;
  if (ms < min) return `duration must be greater than ${min}ms`;
  if (Math.abs(ms - Math.round(ms)) > 1e-9) return "only durations to ms precision are supported";
  return undefined;
}

/** Envoy matches regexes with RE2: reject what RE2 does not accept (lookarounds, backreferences…). */
export function checkRegex(re: string): string | undefined {
  try {
    RE2JS.compile(re);
    return undefined;
  } catch (err) {
    return `${JSON.stringify(re)} is not a valid RE2 regular expression: ${(err as Error).message}`;
  }
}

/** Kubernetes label key (optional DNS-subdomain prefix + qualified name). */
export function checkLabelKey(key: string): string | undefined {
  if (key.length === 0) return "label key must not be empty";
  const slash = key.lastIndexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (checkK8sDNS1123Subdomain(prefix)) return `invalid label key ${JSON.stringify(key)}: prefix must be a DNS-1123 subdomain`;
  }
  if (name.length > 63 || !QUALIFIED_NAME.test(name))
    return `invalid label key ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', start and end with an alphanumeric character, and be at most 63 characters`;
  return undefined;
}

export function checkLabelValue(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value))
    return `invalid label value ${JSON.stringify(value)}: must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character`;
  return undefined;
}

/** Istio's labels.Instance.Validate, used for selectors and subsets. */
export function checkLabels(labels: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    const e = checkLabelKey(k) ?? (typeof v === "string" ? checkLabelValue(v) : `label ${k} must be a string`);
    if (e) out.push(e);
  }
  return out;
}

export function isIPAddress(s: string): boolean {
  return isIP(s) !== 0;
}

/** An IP or CIDR block (a.b.c.d/n, v6/n). */
export function checkIPOrCIDR(s: string): string | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return isIP(s) ? undefined : `${JSON.stringify(s)} is not a valid IP address`;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(ip);
  const max = family === 4 ? 32 : 128;
  if (!family || !/^\d+$/.test(bits) || Number(bits) > max) return `${JSON.stringify(s)} is not a valid CIDR block`;
  return undefined;
}

/** A unix domain socket address in WorkloadEntry/ServiceEntry form (`unix:///path` or `unix://@abstract`). */
export const UNIX_ADDRESS_PREFIX = "unix://";
