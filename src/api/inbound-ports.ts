// Istio's `traffic.sidecar.istio.io/includeInboundPorts` annotation, read from a WorkloadEntry in
// tsmesh's local mode: the ports the sidecar owns on the workload's address besides its services'
// (on Kubernetes iptables sends every inbound port to the sidecar; a local sidecar binds each one).
// A port no service declares gets Istio's inbound passthrough treatment: forwarded to the app on
// the same port, with the workload's PeerAuthentication and AuthorizationPolicies applied.

export const INCLUDE_INBOUND_PORTS_ANNOTATION = "traffic.sidecar.istio.io/includeInboundPorts";

/**
 * The ports the annotation lists: `*` (Istio's default: every port — in local mode only the
 * services' ports, as nothing else can be captured) gives none; otherwise comma-separated port
 * numbers. An error names what is wrong.
 */
export function parseIncludeInboundPorts(value: string): { ports: number[] } | { error: string } {
  const v = value.trim();
  if (v === "" || v === "*") return { ports: [] };
  const ports: number[] = [];
  for (const raw of v.split(",")) {
    const t = raw.trim();
    if (!/^\d{1,5}$/.test(t) || Number(t) < 1 || Number(t) > 65535) return { error: `${JSON.stringify(t)} is not a port (1-65535); use "*" or a comma-separated list such as "9000,9002"` };
    if (!ports.includes(Number(t))) ports.push(Number(t));
  }
  return { ports };
}
