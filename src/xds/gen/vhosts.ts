// Virtual host domains as Istio builds them (pilot/pkg/networking/core/httproute.go:
// generateVirtualHostDomains, GenerateAltVirtualHosts): the FQDN, the short forms a client in the
// proxy's DNS domain can use (`reviews`, `reviews.default`, `reviews.default.svc`), the service VIPs,
// and — when the route configuration does not ignore ports in host matching (proxyless gRPC) — each
// of them again with `:PORT`.

/** `host:port`, with IPv6 literals bracketed (Go's net.JoinHostPort, Istio's util.DomainName). */
export function domainName(host: string, port: number): string {
  return `${ipv6Compliant(host)}:${port}`;
}

/** Brackets an IPv6 literal (Istio's util.IPv6Compliant); other hosts are returned unchanged. */
export function ipv6Compliant(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Appends `domain` and, when `port` is set, `domain:port` (Istio's appendDomainPort). */
function appendDomainPort(out: string[], domain: string, port: number | undefined): void {
  out.push(ipv6Compliant(domain));
  if (port !== undefined) out.push(domainName(domain, port));
}

/** Drops everything before `.svc.` (`default.svc.cluster.local` → `.svc.cluster.local`). */
function removeSvcNamespace(domain: string): string {
  const i = domain.indexOf(".svc.");
  return i > 0 ? domain.slice(i) : domain;
}

/**
 * The other Host header values a client in `proxyDomain` (the node id's DNS domain, e.g.
 * `default.svc.cluster.local`) can use for `hostname` (Istio's GenerateAltVirtualHosts). The FQDN
 * itself is not included. `port` undefined = no `:PORT` forms.
 *
 * - `reviews.default.svc.cluster.local` from `default.svc.cluster.local`: `reviews`,
 *   `reviews.default.svc`, `reviews.default`.
 * - from `other.svc.cluster.local`: `reviews.default`, `reviews.default.svc` (never the bare name).
 * - a host outside the cluster domain (`api.example.com`): none.
 */
export function altVirtualHosts(hostname: string, port: number | undefined, proxyDomain: string): string[] {
  if (proxyDomain.includes(".svc.")) {
    if (hostname.endsWith(removeSvcNamespace(proxyDomain))) return altHostsForKubernetesService(hostname, port, proxyDomain);
    // Not a cluster service: short forms could collide with expansions of real services.
    return [];
  }
  const [unique, shared] = uniqueAndSharedDnsDomain(hostname, proxyDomain);
  if (shared.length === 0) return [];
  const out: string[] = [];
  const uniqueHost = unique.join(".");
  appendDomainPort(out, uniqueHost, port);
  if (unique.length === 2) appendDomainPort(out, `${uniqueHost}.${shared[0]}`, port);
  return out;
}

function altHostsForKubernetesService(hostname: string, port: number | undefined, proxyDomain: string): string[] {
  const id = proxyDomain.indexOf(".svc.");
  const ih = hostname.indexOf(".svc.");
  if (ih <= 0) return [];
  const ns = hostname.indexOf(".");
  if (ns + 1 >= hostname.length || ns + 1 > ih) return [];
  const out: string[] = [];
  const name = hostname.slice(0, ns);
  const nameNs = hostname.slice(0, ih);
  if (hostname.slice(ns + 1, ih) === proxyDomain.slice(0, id)) {
    // Same namespace: the bare name works too.
    appendDomainPort(out, name, port);
    appendDomainPort(out, `${nameNs}.svc`, port);
    appendDomainPort(out, nameNs, port);
    return out;
  }
  appendDomainPort(out, nameNs, port);
  appendDomainPort(out, `${nameNs}.svc`, port);
  return out;
}

function uniqueAndSharedDnsDomain(fqdn: string, proxyDomain: string): [string[], string[]] {
  const a = fqdn.split(".").reverse();
  const b = proxyDomain.split(".").reverse();
  const shared: string[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) break;
    shared.push(a[i]);
  }
  if (shared.length === 0) return [fqdn.split("."), []];
  return [a.slice(shared.length).reverse(), shared.reverse()];
}

export interface VirtualHostDomains {
  domains: string[];
  /** The short forms generated from the FQDN (a domain that is also another service's FQDN is dropped). */
  altHosts: string[];
}

/**
 * Domains of a service's virtual host (Istio's generateVirtualHostDomains): FQDN, short forms for
 * the proxy's DNS domain, then VIPs. `port` undefined = no `:PORT` forms (route configurations with
 * ignorePortInHostMatching, Istio's default for Envoy sidecars).
 */
export function serviceDomains(hostname: string, addresses: readonly string[], port: number | undefined, proxyDomain: string): VirtualHostDomains {
  const domains: string[] = [];
  const altHosts = altVirtualHosts(hostname, port, proxyDomain);
  appendDomainPort(domains, hostname, port);
  domains.push(...altHosts);
  for (const raw of addresses) {
    const addr = vipAddress(raw);
    if (addr) appendDomainPort(domains, addr, port);
  }
  return { domains, altHosts };
}

/** A VIP usable as a Host header: single addresses only (`/32` and `/128` CIDRs are unwrapped). */
function vipAddress(a: string): string | undefined {
  if (!a || a === "0.0.0.0" || a === "::") return undefined;
  const slash = a.indexOf("/");
  if (slash < 0) return a;
  const bits = a.slice(slash + 1);
  const ip = a.slice(0, slash);
  return (bits === "32" && !ip.includes(":")) || (bits === "128" && ip.includes(":")) ? ip : undefined;
}

/** Domains of a VirtualService host that is not a registry service: the host, and `host:PORT` when ports count. */
export function hostDomains(hostname: string, port: number | undefined): string[] {
  const out: string[] = [];
  appendDomainPort(out, hostname, port);
  return out;
}

/**
 * Tracks domains already used in one RouteConfiguration (Envoy rejects a domain that appears in two
 * virtual hosts). Istio's dedupeDomains: case-insensitive; a short form that is also some other
 * service's FQDN (`foo.com` generated from `foo.com.cluster.local`) is dropped too.
 */
export class DomainSet {
  private readonly used = new Set<string>();
  constructor(private readonly knownFqdns: ReadonlySet<string> = new Set()) {}

  /** The domains not used yet (now marked used), in order. */
  take(domains: readonly string[], altHosts: readonly string[] = []): string[] {
    const out: string[] = [];
    for (const d of domains) {
      const key = d.toLowerCase();
      if (this.used.has(key)) continue;
      if (altHosts.includes(d) && this.knownFqdns.has(d)) continue;
      this.used.add(key);
      out.push(d);
    }
    return out;
  }
}
