// Kubernetes' rules for a core/v1 Service beyond its schema (the API server's ValidateService, for
// what the mesh reads): ports (numbers, names unique and required when there are several, target
// ports as numbers or IANA service names, appProtocol), the type's constraints (ExternalName,
// clusterIP None, nodePort), the selector's labels and the addresses. Messages keep the API
// server's wording, as `kubectl apply` prints them.
import { isIP } from "node:net";
import type { Resource } from "../resource.js";
import { checkK8sDNS1123Label, checkK8sDNS1123Subdomain, checkLabelKey, checkLabelValue } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";

const PORT_RANGE = "must be between 1 and 65535, inclusive";
/** Istio's annotations naming more service accounts for a Service's SANs. */
const SAN_ANNOTATIONS = ["alpha.istio.io/kubernetes-serviceaccounts", "alpha.istio.io/canonical-serviceaccounts"];

/** apimachinery's IsValidPortName: an IANA service name (what a named targetPort must be). */
export function checkIanaPortName(name: string): string | undefined {
  if (name.length > 15) return "must be no more than 15 characters";
  if (!/^[-a-z0-9]+$/.test(name)) return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  if (!/[a-z]/.test(name)) return "must contain at least one letter (a-z)";
  if (name.includes("--")) return "must not contain consecutive hyphens";
  if (name.startsWith("-") || name.endsWith("-")) return "must not begin or end with a hyphen";
  return undefined;
}

function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function validatePorts(r: Resource<"Service">, ctx: ValidationContext): void {
  const spec = r.spec;
  const ports = spec.ports ?? [];
  const names = new Set<string>();
  const pairs = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) ctx.error("TSMESH_INVALID_PORT", `${at}.name`, "Required value");
    else if (p.name) {
      const e = checkK8sDNS1123Label(p.name);
      if (e) ctx.error("TSMESH_INVALID_PORT", `${at}.name`, `Invalid value: ${JSON.stringify(p.name)}: ${e}`);
      if (names.has(p.name)) ctx.error("TSMESH_INVALID_PORT", `${at}.name`, `Duplicate value: ${JSON.stringify(p.name)}`);
      names.add(p.name);
    }
    if (!validPort(p.port)) ctx.error("TSMESH_INVALID_PORT", `${at}.port`, `Invalid value: ${p.port}: ${PORT_RANGE}`);
    const t = p.targetPort;
    // 0 and "" are the API server's "unset": it defaults them to the port.
    if (typeof t === "number" && t !== 0 && !validPort(t)) ctx.error("TSMESH_INVALID_PORT", `${at}.targetPort`, `Invalid value: ${t}: ${PORT_RANGE}`);
    if (typeof t === "string" && t !== "") {
      const e = checkIanaPortName(t);
      if (e) ctx.error("TSMESH_INVALID_PORT", `${at}.targetPort`, `Invalid value: ${JSON.stringify(t)}: ${e}`);
    }
    if (p.appProtocol !== undefined) {
      const e = checkLabelKey(p.appProtocol);
      if (e) ctx.error("TSMESH_INVALID_VALUE", `${at}.appProtocol`, `Invalid value: ${JSON.stringify(p.appProtocol)}: ${e}`);
    }
    if (p.nodePort && (spec.type ?? "ClusterIP") === "ClusterIP") ctx.error("TSMESH_INVALID_PORT", `${at}.nodePort`, "Forbidden: may not be used when `type` is 'ClusterIP'");
    const pair = `${p.port}/${p.protocol ?? "TCP"}`;
    if (pairs.has(pair)) ctx.error("TSMESH_INVALID_PORT", at, `Duplicate value: ${pair} (a port and protocol may appear once)`);
    pairs.add(pair);
  });
}

export const validateService: SemanticValidator<"Service"> = (r, ctx) => {
  const spec = r.spec;
  const type = spec.type ?? "ClusterIP";
  const headless = spec.clusterIP === "None";
  if ((spec.ports ?? []).length === 0 && !headless && type !== "ExternalName") ctx.error("TSMESH_INVALID_PORT", "spec.ports", "Required value");
  if (headless && (type === "LoadBalancer" || type === "NodePort"))
    ctx.error("TSMESH_INVALID_VALUE", "spec.clusterIP", `Invalid value: "None": may not be set to 'None' for ${type} services`);
  if (type === "ExternalName") {
    if (spec.clusterIP) ctx.error("TSMESH_INVALID_VALUE", "spec.clusterIP", "Forbidden: must be empty for ExternalName services");
    if (!spec.externalName) ctx.error("TSMESH_INVALID_HOST", "spec.externalName", "Required value");
    else {
      const e = checkK8sDNS1123Subdomain(spec.externalName.replace(/\.$/, ""));
      if (e) ctx.error("TSMESH_INVALID_HOST", "spec.externalName", `Invalid value: ${JSON.stringify(spec.externalName)}: ${e}`);
    }
  }
  validatePorts(r, ctx);
  for (const [k, v] of Object.entries(spec.selector ?? {})) {
    const e = checkLabelKey(k) ?? checkLabelValue(v);
    if (e) ctx.error("TSMESH_INVALID_SELECTOR", `spec.selector[${k}]`, `Invalid value: ${e}`);
  }
  if (spec.sessionAffinity !== "ClientIP" && spec.sessionAffinityConfig)
    ctx.error("TSMESH_INVALID_VALUE", "spec.sessionAffinityConfig", "Forbidden: must not be set when session affinity is None");
  if (spec.clusterIP && !headless && !isIP(spec.clusterIP))
    ctx.error("TSMESH_INVALID_ADDRESS", "spec.clusterIP", `Invalid value: ${JSON.stringify(spec.clusterIP)}: must be empty, 'None', or a valid IP address`);
  (spec.externalIPs ?? []).forEach((ip, i) => {
    if (!isIP(ip)) ctx.error("TSMESH_INVALID_ADDRESS", `spec.externalIPs[${i}]`, `Invalid value: ${JSON.stringify(ip)}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`);
  });
  // istiod adds these annotations' accounts to the SANs clients accept; tsmesh's clients accept the
  // workloads' own identities only (the not-enforced table is for spec fields).
  for (const k of SAN_ANNOTATIONS)
    if (r.metadata.annotations?.[k] !== undefined) ctx.warn("TSMESH_NOT_ENFORCED", `metadata.annotations[${k}]`, "not enforced yet: not read: clients verify the identities (service accounts) of the Service's workloads, not the annotation's extra SANs");
  if (spec.externalTrafficPolicy && type !== "NodePort" && type !== "LoadBalancer")
    ctx.error("TSMESH_INVALID_VALUE", "spec.externalTrafficPolicy", `Invalid value: ${JSON.stringify(spec.externalTrafficPolicy)}: may only be set for externally-accessible services`);
};
