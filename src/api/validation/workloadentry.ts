// Istio's semantic validation for WorkloadEntry and WorkloadGroup (ValidateWorkloadEntry,
// validateWorkloadEntry, ValidateWorkloadGroup, validateReadinessProbe). The CRD already checks
// port names/ranges, "address or network", unix-socket shape and the probe one-of; the endpoint
// checks here are reused for ServiceEntry endpoints.
import type { Resource } from "../resource.js";
import type { WorkloadEntrySpec } from "../gen/types.js";
import { checkFQDN, checkK8sDNS1123Subdomain, checkLabels, checkPort, checkPortName, isIPAddress, UNIX_ADDRESS_PREFIX } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";
import { INCLUDE_INBOUND_PORTS_ANNOTATION, parseIncludeInboundPorts } from "../inbound-ports.js";

/** Istio's ValidateUnixAddress, on the part after `unix://`. */
export function checkUnixAddress(addr: string): string | undefined {
  if (addr === "") return "unix address must not be empty";
  if (addr.startsWith("@")) return undefined; // abstract socket
  if (!addr.startsWith("/") || addr.endsWith("/")) return `${JSON.stringify(addr)} is not an absolute path to a file`;
  return undefined;
}

/** `region/zone/subzone`, each part optional from the right but never empty. */
function checkLocality(locality: string): string | undefined {
  const parts = locality.split("/");
  if (parts.length > 3) return `locality ${JSON.stringify(locality)} has more than region/zone/subzone`;
  if (parts.some((p) => p === "")) return `locality ${JSON.stringify(locality)} has an empty region, zone or subzone; use region/zone/subzone`;
  return undefined;
}

export interface EndpointOptions {
  /** Accept hostnames as addresses (WorkloadEntry, DNS ServiceEntry); STATIC endpoints must be IPs. */
  allowFQDN: boolean;
  /** Port names of the owning ServiceEntry; endpoint ports must refer to them. */
  servicePorts?: Set<string>;
}

/** Istio's validateWorkloadEntry, for a WorkloadEntry spec or a ServiceEntry endpoint at `path`. */
export function validateEndpoint(ctx: ValidationContext, path: string, we: WorkloadEntrySpec, opts: EndpointOptions): void {
  const addr = we.address ?? "";
  const at = (f: string) => (path === "" ? f : `${path}.${f}`);
  if (addr === "") {
    if (!we.network) {
      ctx.error("TSMESH_INVALID_ADDRESS", at("address"), "address is required (an IP, a hostname or unix:///path), unless network is set");
      return;
    }
    ctx.warn("TSMESH_SUSPICIOUS", at("address"), `address is unset; the endpoint is only reachable through network ${JSON.stringify(we.network)}'s gateway`);
  }
  let unix = false;
  if (addr.startsWith(UNIX_ADDRESS_PREFIX)) {
    unix = true;
    const e = checkUnixAddress(addr.slice(UNIX_ADDRESS_PREFIX.length));
    if (e) ctx.error("TSMESH_INVALID_ADDRESS", at("address"), e);
    if (we.ports && Object.keys(we.ports).length > 0) ctx.error("TSMESH_INVALID_PORT", at("ports"), `unix endpoint ${addr} must not have ports`);
  } else if (addr !== "" && !isIPAddress(addr)) {
    if (!opts.allowFQDN)
      ctx.error("TSMESH_INVALID_ADDRESS", at("address"), `endpoint address ${JSON.stringify(addr)} is not a valid IP address (STATIC resolution needs IPs or unix:// sockets)`);
    else if (checkFQDN(addr)) ctx.error("TSMESH_INVALID_ADDRESS", at("address"), `endpoint address ${JSON.stringify(addr)} is not a valid FQDN or IP address`);
  }
  for (const [name, port] of Object.entries(we.ports ?? {})) {
    const p = at(`ports[${name}]`);
    if (opts.servicePorts && !opts.servicePorts.has(name))
      ctx.error("TSMESH_INVALID_PORT", p, `endpoint port ${JSON.stringify(name)} is not a port name of the service entry (${[...opts.servicePorts].join(", ") || "none declared"})`);
    const e = checkPortName(name) ?? checkPort(port);
    if (e) ctx.error("TSMESH_INVALID_PORT", p, e);
  }
  for (const e of checkLabels(we.labels)) ctx.error("TSMESH_INVALID_SELECTOR", at("labels"), e);
  if (unix && opts.servicePorts && opts.servicePorts.size !== 1)
    ctx.error("TSMESH_INVALID_PORT", at("address"), `a unix endpoint needs exactly one service port, the service entry declares ${opts.servicePorts.size}`);
  if (we.locality !== undefined) {
    const e = checkLocality(we.locality);
    if (e) ctx.warn("TSMESH_SUSPICIOUS", at("locality"), e);
  }
  if (we.serviceAccount !== undefined && we.serviceAccount !== "") {
    const e = checkK8sDNS1123Subdomain(we.serviceAccount);
    if (e) ctx.warn("TSMESH_SUSPICIOUS", at("serviceAccount"), `service account ${JSON.stringify(we.serviceAccount)} is not a valid Kubernetes name: ${e}`);
  }
}

export const validateWorkloadEntry: SemanticValidator<"WorkloadEntry"> = (r: Resource<"WorkloadEntry">, ctx) => {
  validateEndpoint(ctx, "spec", r.spec, { allowFQDN: true });
  const include = r.metadata.annotations?.[INCLUDE_INBOUND_PORTS_ANNOTATION];
  if (include !== undefined) {
    const parsed = parseIncludeInboundPorts(include);
    if ("error" in parsed) ctx.error("TSMESH_INVALID_PORT", `metadata.annotations[${INCLUDE_INBOUND_PORTS_ANNOTATION}]`, parsed.error);
  }
};

export const validateWorkloadGroup: SemanticValidator<"WorkloadGroup"> = (r: Resource<"WorkloadGroup">, ctx) => {
  const spec = r.spec;
  for (const e of checkLabels(spec.metadata?.labels)) ctx.error("TSMESH_INVALID_SELECTOR", "spec.metadata.labels", `invalid labels: ${e}`);
  // The template is not a full WorkloadEntry (address is filled in per instance), but its labels
  // become the generated entries' labels.
  for (const e of checkLabels(spec.template.labels)) ctx.error("TSMESH_INVALID_SELECTOR", "spec.template.labels", `invalid labels: ${e}`);
  const probe = spec.probe;
  if (!probe) return;
  if (!probe.httpGet && !probe.tcpSocket && !probe.exec && !probe.grpc) {
    ctx.error("TSMESH_INVALID_VALUE", "spec.probe", "probe needs a health check method: one of httpGet, tcpSocket, exec or grpc");
    return;
  }
  if (probe.httpGet) {
    const e = checkPort(probe.httpGet.port);
    if (e) ctx.error("TSMESH_INVALID_PORT", "spec.probe.httpGet.port", e);
  }
  if (probe.tcpSocket) {
    const e = checkPort(probe.tcpSocket.port);
    if (e) ctx.error("TSMESH_INVALID_PORT", "spec.probe.tcpSocket.port", e);
  }
  if (probe.grpc) {
    const e = checkPort(probe.grpc.port ?? 0);
    if (e) ctx.error("TSMESH_INVALID_PORT", "spec.probe.grpc.port", e);
  }
  if (probe.exec && probe.exec.command.length === 0) ctx.error("TSMESH_INVALID_VALUE", "spec.probe.exec.command", "exec.command is required (e.g. [\"/bin/check\"])");
  if (probe.timeoutSeconds !== undefined && probe.periodSeconds !== undefined && probe.periodSeconds > 0 && probe.timeoutSeconds > probe.periodSeconds)
    ctx.warn("TSMESH_SUSPICIOUS", "spec.probe.timeoutSeconds", `timeoutSeconds (${probe.timeoutSeconds}) is longer than periodSeconds (${probe.periodSeconds})`);
};
