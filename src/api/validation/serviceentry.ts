// Istio's semantic validation for ServiceEntry (ValidateServiceEntry). The CRD already rejects a
// bare "*" host, duplicate port names/numbers, port ranges, selector+endpoints, CIDRs outside
// NONE/STATIC, endpoints with NONE and more than one DNS_ROUND_ROBIN endpoint.
import type { Resource } from "../resource.js";
import { checkFQDN, checkIPOrCIDR, checkPortName, checkWildcardDomain, isKnownProtocol, PROTOCOLS } from "./common.js";
import type { SemanticValidator } from "./context.js";
import { validateSelectorLabels } from "./destinationrule.js";
import { validateExportTo } from "./exportto.js";
import { validateEndpoint } from "./workloadentry.js";

/** Label with which a ServiceEntry opts out of Istio's automatic VIP allocation. */
const AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip";

const isHTTP = (p: string) => ["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"].includes(p.toUpperCase());
const isTLS = (p: string) => ["HTTPS", "TLS"].includes(p.toUpperCase());
/** Istio's protocol.IsTCP: protocols carried over raw TCP connections (TLS included). */
const isTCP = (p: string) => ["TCP", "HTTPS", "TLS", "MONGO", "REDIS", "MYSQL"].includes(p.toUpperCase());

export const validateServiceEntry: SemanticValidator<"ServiceEntry"> = (r: Resource<"ServiceEntry">, ctx) => {
  const spec = r.spec;
  const resolution = spec.resolution ?? "NONE";
  const hosts = spec.hosts;
  const endpoints = spec.endpoints ?? [];
  const ports = spec.ports ?? [];

  if (spec.workloadSelector) {
    validateSelectorLabels(ctx, "spec.workloadSelector.labels", spec.workloadSelector.labels, "selects every workload in the namespace");
    if (spec.location === "MESH_EXTERNAL")
      ctx.warn("TSMESH_SUSPICIOUS", "spec.workloadSelector", "workloadSelector selects in-mesh workloads; it only makes sense with location: MESH_INTERNAL");
  }

  hosts.forEach((h, i) => {
    if (h === "*") return; // rejected by the CRD
    const e = checkWildcardDomain(h);
    if (e) ctx.error("TSMESH_INVALID_HOST", `spec.hosts[${i}]`, e);
    else if (h.includes("*") && !h.startsWith("*."))
      ctx.warn("TSMESH_SUSPICIOUS", `spec.hosts[${i}]`, `partial wildcard ${JSON.stringify(h)} is not supported; use a "*." prefix such as *.example.com`);
  });

  (spec.addresses ?? []).forEach((a, i) => {
    const e = checkIPOrCIDR(a);
    if (e) ctx.error("TSMESH_INVALID_ADDRESS", `spec.addresses[${i}]`, e);
  });

  const portNames = new Set<string>();
  const autoAllocate = r.metadata.labels?.[AUTOALLOCATE_LABEL] !== "false";
  ports.forEach((p, i) => {
    portNames.add(p.name);
    const ne = checkPortName(p.name);
    if (ne) ctx.error("TSMESH_INVALID_PORT", `spec.ports[${i}].name`, `${ne}; port names are DNS-1123 labels such as http or tcp-db`);
    const proto = p.protocol ?? "";
    if (proto !== "" && !isKnownProtocol(proto))
      ctx.error("TSMESH_INVALID_PORT", `spec.ports[${i}].protocol`, `unsupported protocol ${JSON.stringify(proto)}; use one of ${PROTOCOLS.join(", ")}`);
    if ((spec.addresses ?? []).length === 0 && !autoAllocate && (proto === "" || proto.toUpperCase() === "TCP"))
      ctx.warn(
        "TSMESH_SUSPICIOUS",
        `spec.ports[${i}]`,
        "TCP (or unset) protocol ports need addresses when IP auto-allocation is disabled; traffic cannot be told apart otherwise",
      );
  });

  switch (resolution) {
    case "NONE":
      if (spec.workloadSelector) ctx.warn("TSMESH_SUSPICIOUS", "spec.workloadSelector", "workloadSelector has no effect with resolution NONE");
      break;
    case "STATIC":
      if (endpoints.length === 0 && !spec.workloadSelector)
        ctx.warn("TSMESH_SUSPICIOUS", "spec.endpoints", "resolution STATIC without endpoints or workloadSelector: the service has no endpoints");
      endpoints.forEach((ep, i) => validateEndpoint(ctx, `spec.endpoints[${i}]`, ep, { allowFQDN: false, servicePorts: portNames }));
      break;
    case "DNS":
    case "DNS_ROUND_ROBIN":
      if (endpoints.length === 0)
        hosts.forEach((h, i) => {
          if (h !== "*" && !checkWildcardDomain(h) && checkFQDN(h))
            ctx.error("TSMESH_INVALID_HOST", `spec.hosts[${i}]`, `hosts must be FQDNs (no wildcards) when resolution is ${resolution} and no endpoints are given`);
        });
      endpoints.forEach((ep, i) => {
        if (ep.address?.startsWith("unix://"))
          ctx.error("TSMESH_INVALID_ADDRESS", `spec.endpoints[${i}].address`, `unix sockets need resolution STATIC, not ${resolution}`);
        else validateEndpoint(ctx, `spec.endpoints[${i}]`, ep, { allowFQDN: true, servicePorts: portNames });
      });
      if ((spec.addresses ?? []).length > 0 && hosts.length > 1) {
        const i = ports.findIndex((p) => isTCP(p.protocol ?? ""));
        if (i >= 0)
          ctx.warn("TSMESH_SUSPICIOUS", `spec.ports[${i}]`, "a service entry with addresses and a TCP port should have a single host; the hosts cannot be told apart");
      }
      break;
    case "DYNAMIC_DNS":
      if (endpoints.length > 0) ctx.warn("TSMESH_SUSPICIOUS", "spec.endpoints", "endpoints are ignored with resolution DYNAMIC_DNS: destinations are resolved per request");
      break;
  }

  // Plain TCP cannot tell several hosts apart (HTTP has Host, TLS has SNI), unless hosts are ignored (NONE).
  if (resolution !== "NONE" && hosts.length > 1) {
    const i = ports.findIndex((p) => !isHTTP(p.protocol ?? "") && !isTLS(p.protocol ?? ""));
    if (i >= 0)
      ctx.error(
        "TSMESH_INVALID_PORT",
        `spec.ports[${i}].protocol`,
        `several hosts need HTTP or TLS ports to be told apart (protocol ${JSON.stringify(ports[i].protocol ?? "")}); use one host per ServiceEntry or resolution NONE`,
      );
  }

  (spec.subjectAltNames ?? []).forEach((s, i) => {
    if (s === "") ctx.warn("TSMESH_SUSPICIOUS", `spec.subjectAltNames[${i}]`, "empty subject alternative name matches nothing");
  });

  validateExportTo(ctx, "spec.exportTo", spec.exportTo, r.metadata.namespace, { serviceEntry: true });
};
