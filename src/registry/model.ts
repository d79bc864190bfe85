// The service registry's model (Istio's model.Service / IstioEndpoint): what a host is, which ports
// it has, and which workload instances back it. Built from ServiceEntry, WorkloadEntry and
// WorkloadGroup, and Kubernetes Services (converted to ServiceEntries: registry/kube-service.ts).

/** Istio's protocol names (pkg/config/protocol). "UNSUPPORTED" means not declared: sniffed. */
export type Protocol =
  | "HTTP"
  | "HTTP2"
  | "HTTP_PROXY"
  | "GRPC"
  | "GRPC-Web"
  | "HTTPS"
  | "TLS"
  | "TCP"
  | "UDP"
  | "MONGO"
  | "REDIS"
  | "MYSQL"
  | "UNSUPPORTED";

export interface Locality {
  region: string;
  zone: string;
  subZone: string;
}

export interface ServicePortInfo {
  name: string;
  port: number;
  protocol: Protocol;
  /** ServiceEntry targetPort: the endpoint port when an endpoint does not name one. */
  targetPort?: number;
  /**
   * A Kubernetes Service's named targetPort: the endpoint's port of that name; an endpoint without
   * one does not serve this port (istiod's explicit port name).
   */
  targetPortName?: string;
}

export type Resolution = "STATIC" | "DNS" | "DNS_ROUND_ROBIN" | "DYNAMIC_DNS" | "NONE";

/** Where a service or endpoint came from, for metadata and messages. */
export interface ConfigRef {
  kind: string;
  namespace: string;
  name: string;
}

/** One workload instance (a WorkloadEntry or an inline ServiceEntry endpoint). */
export interface WorkloadEndpoint {
  /** IP address (or a DNS name for DNS-resolved ServiceEntry endpoints, or a unix:// path). */
  address: string;
  /** Port name → port number on the workload. */
  ports: Readonly<Record<string, number>>;
  labels: Readonly<Record<string, string>>;
  /** Load-balancing weight; 0/undefined means 1. */
  weight?: number;
  locality: Locality;
  network: string;
  /** The service account name (not the SPIFFE URI); empty when the entry names none (no identity, as in Istio). */
  serviceAccount: string;
  /**
   * Istio's endpoint TLSMode: the `security.istio.io/tlsMode` label if present, else "istio" when the
   * entry names a service account (it runs a sidecar with that identity), else "disabled".
   */
  tlsMode: string;
  namespace: string;
  /** Workload name: WorkloadEntry name, or SE name + index for inline endpoints. */
  workloadName: string;
  source: ConfigRef;
}

export interface Service {
  /** FQDN (may be a wildcard like `*.example.com`). */
  hostname: string;
  /** Namespace of the defining resource. */
  namespace: string;
  /** Name of the defining resource (for metadata). */
  name: string;
  ports: readonly ServicePortInfo[];
  /** Virtual IPs (ServiceEntry addresses). */
  addresses: readonly string[];
  resolution: Resolution;
  meshExternal: boolean;
  /** Namespaces that may see this service: "*" for all, "." resolved to the own namespace, "~" for none. */
  exportTo: ReadonlySet<string>;
  /** Set when endpoints come from workloads selected by labels. */
  workloadSelector?: Readonly<Record<string, string>>;
  subjectAltNames: readonly string[];
  source: ConfigRef;
  /** Creation order (store order), for Istio's "oldest wins" tie-breaks. */
  order: number;
}

/** A service together with the endpoints that back it. */
export interface ServiceEntryInstances {
  service: Service;
  endpoints: readonly WorkloadEndpoint[];
}

/** The label saying whether a workload accepts Istio's mTLS (Istio's label.SecurityTlsMode). */
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";

/** Istio's getTLSModeFromWorkloadEntry. */
export function workloadTlsMode(labels: Readonly<Record<string, string>>, serviceAccount: string | undefined): string {
  const label = labels[TLS_MODE_LABEL];
  if (label !== undefined) return label;
  return serviceAccount ? "istio" : "disabled";
}

/** Parses Istio's `region/zone/subzone` locality string. */
export function parseLocality(s: string | undefined): Locality {
  const [region = "", zone = "", subZone = ""] = (s ?? "").split("/");
  return { region, zone, subZone };
}

export function localityString(l: Locality | undefined): string {
  if (!l) return "";
  return [l.region, l.zone, l.subZone].join("/").replace(/\/+$/, "");
}

/**
 * Istio's protocol.Parse plus the port-name convention (`http-foo`, `grpc`, `tcp-db`…) used when
 * a port declares no protocol.
 */
export function parseProtocol(protocol: string | undefined, portName?: string): Protocol {
  const fromValue = protocolFromString(protocol);
  if (fromValue !== "UNSUPPORTED") return fromValue;
  if (portName) {
    const prefix = portName.split("-")[0];
    return protocolFromString(prefix);
  }
  return "UNSUPPORTED";
}

function protocolFromString(s: string | undefined): Protocol {
  switch ((s ?? "").toUpperCase()) {
    case "HTTP":
      return "HTTP";
    case "HTTP2":
      return "HTTP2";
    case "HTTP_PROXY":
      return "HTTP_PROXY";
    case "GRPC":
      return "GRPC";
    case "GRPC-WEB":
      return "GRPC-Web";
    case "HTTPS":
      return "HTTPS";
    case "TLS":
      return "TLS";
    case "TCP":
      return "TCP";
    case "UDP":
      return "UDP";
    case "MONGO":
      return "MONGO";
    case "REDIS":
      return "REDIS";
    case "MYSQL":
      return "MYSQL";
    default:
      return "UNSUPPORTED";
  }
}

/** Istio's Protocol.IsHTTP: routed with an HTTP connection manager. */
export function isHTTPProtocol(p: Protocol): boolean {
  return p === "HTTP" || p === "HTTP2" || p === "HTTP_PROXY" || p === "GRPC" || p === "GRPC-Web";
}

/** Upstream speaks HTTP/2 (h2c) for these. */
export function isHTTP2Protocol(p: Protocol): boolean {
  return p === "HTTP2" || p === "GRPC" || p === "GRPC-Web";
}

/** Istio's Protocol.IsTLS: routed by SNI. */
export function isTLSProtocol(p: Protocol): boolean {
  return p === "HTTPS" || p === "TLS";
}

/** Does `labels` contain every key/value of `selector`? An empty selector matches everything. */
export function labelsMatch(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Does an exportTo set (exportToSet) make a resource visible from `namespace`? "~" is nobody. */
export function visibleFrom(exportTo: ReadonlySet<string>, namespace: string): boolean {
  if (exportTo.has("*")) return true;
  if (exportTo.has("~")) return false;
  return exportTo.has(namespace);
}

/** Is `service` visible from `namespace` under its exportTo? */
export function serviceVisibleFrom(service: Service, namespace: string): boolean {
  return visibleFrom(service.exportTo, namespace);
}

/** exportTo as a set: empty means everywhere ("*"), "." is the resource's own namespace. */
export function exportToSet(exportTo: readonly string[] | undefined, namespace: string): ReadonlySet<string> {
  if (!exportTo || exportTo.length === 0) return new Set(["*"]);
  return new Set(exportTo.map((e) => (e === "." ? namespace : e)));
}
