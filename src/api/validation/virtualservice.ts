// Istio's semantic validation for VirtualService (pkg/config/validation: ValidateVirtualService,
// validateHTTPRoute and friends). Runs after the CRD schema passed, so enums, oneOfs, CEL duration
// minimums and numeric bounds are already checked; this adds what only Istio's webhook checks.
// Hosts, gateways, delegation and the tls/tcp routes are checked here; HTTP routes in
// virtualservice-http.ts, header rules in virtualservice-headers.ts, shared field checks in
// virtualservice-fields.ts, unreachable rules in virtualservice-unreachable.ts.
import type { Resource, TCPRoute, TLSRoute } from "../resource.js";
import { checkWildcardDomain, isIPAddress } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";
import { validateExportTo } from "./exportto.js";
import { hostIsSubsetOf, hostsOverlap, MESH_GATEWAY } from "../hosts.js";
import { checkGatewayNames, checkMatchPort, checkSourceLabels, checkSubnet, checkWeights } from "./virtualservice-fields.js";
import { isJWTClaimRoute } from "./virtualservice-headers.js";
import { checkHTTPRoute } from "./virtualservice-http.js";
import { unreachableRoutes } from "./virtualservice-unreachable.js";

type VirtualServiceSpec = Resource<"VirtualService">["spec"];

/**
 * Hosts of a VirtualService bound to gateways may also be the SNI names Istio generates for
 * AUTO_PASSTHROUGH (`outbound_.<port>_._.<hostname>`), when the VirtualService routes TLS by SNI.
 */
function checkGatewayBoundHost(host: string, sni: boolean): string | undefined {
  if (sni && host.startsWith("outbound_") && host.length <= 255) {
    const parts = host.split("_");
    const format = "outbound_.<PORT>_._.<HOSTNAME>";
    if (parts.length < 4) return `domain name ${JSON.stringify(host)} invalid, should follow the ${format} format`;
    const port = parts[1].replace(/^\.+|\.+$/g, "");
    const hostname = parts[3].replace(/^\.+|\.+$/g, "");
    if (parts[0] !== "outbound") return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(parts[0])} invalid)`;
    if (!/[0-9]/.test(port)) return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(port)} invalid), should follow the ${format} format`;
    if (!/[a-zA-Z]/.test(hostname)) return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(hostname)} invalid), should follow the ${format} format`;
    return undefined;
  }
  return checkWildcardDomain(host);
}

function checkSniHost(ctx: ValidationContext, sni: string, spec: VirtualServiceSpec, path: string): void {
  const gatewayBound = !(spec.gateways ?? []).includes(MESH_GATEWAY);
  const e = gatewayBound ? checkGatewayBoundHost(sni, true) : checkWildcardDomain(sni);
  if (e) {
    if (isIPAddress(sni)) ctx.warn("TSMESH_SUSPICIOUS", path, `SNI host ${JSON.stringify(sni)} is an IP address; that goes against the SNI spec and most clients do not send it`);
    else ctx.error("TSMESH_INVALID_HOST", path, `invalid SNI host: ${e}`);
    return;
  }
  const hosts = spec.hosts ?? [];
  if (!hosts.some((h) => hostIsSubsetOf(sni, h)))
    ctx.error("TSMESH_INVALID_HOST", path, `SNI host ${JSON.stringify(sni)} is not covered by any of the VirtualService hosts [${hosts.join(", ")}]; add it (or a wildcard covering it) to spec.hosts`);
}

function checkTLSRoute(ctx: ValidationContext, r: TLSRoute, path: string, spec: VirtualServiceSpec): void {
  if ((r.match ?? []).length === 0) ctx.error("TSMESH_INVALID_MATCH", `${path}.match`, "a TLS route needs at least one match with sniHosts");
  (r.match ?? []).forEach((m, i) => {
    const p = `${path}.match[${i}]`;
    if ((m.sniHosts ?? []).length === 0) ctx.error("TSMESH_INVALID_MATCH", `${p}.sniHosts`, "a TLS match needs at least one SNI host");
    (m.sniHosts ?? []).forEach((sni, j) => checkSniHost(ctx, sni, spec, `${p}.sniHosts[${j}]`));
    (m.destinationSubnets ?? []).forEach((s, j) => checkSubnet(ctx, `${p}.destinationSubnets[${j}]`, s));
    checkMatchPort(ctx, m.port, `${p}.port`);
    checkSourceLabels(ctx, m.sourceLabels, `${p}.sourceLabels`);
    checkGatewayNames(ctx, m.gateways, `${p}.gateways`);
  });
  if ((r.route ?? []).length === 0) ctx.error("TSMESH_INVALID_ROUTE", `${path}.route`, "a TLS route needs at least one destination in route");
  checkWeights(ctx, r.route, `${path}.route`);
}

function checkTCPRoute(ctx: ValidationContext, r: TCPRoute, path: string): void {
  (r.match ?? []).forEach((m, i) => {
    const p = `${path}.match[${i}]`;
    (m.destinationSubnets ?? []).forEach((s, j) => checkSubnet(ctx, `${p}.destinationSubnets[${j}]`, s));
    checkMatchPort(ctx, m.port, `${p}.port`);
    checkSourceLabels(ctx, m.sourceLabels, `${p}.sourceLabels`);
    checkGatewayNames(ctx, m.gateways, `${p}.gateways`);
  });
  if ((r.route ?? []).length === 0) ctx.error("TSMESH_INVALID_ROUTE", `${path}.route`, "a TCP route needs at least one destination in route");
  checkWeights(ctx, r.route, `${path}.route`);
}

export const validateVirtualService: SemanticValidator<"VirtualService"> = (resource, ctx) => {
  const spec = resource.spec;
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const isDelegate = hosts.length === 0;

  if (isDelegate) {
    // A VirtualService without hosts is a delegate: only other VirtualServices' http routes point at it.
    if (gateways.length > 0) ctx.error("TSMESH_INVALID_ROUTE", "spec.gateways", "a delegate VirtualService (one without hosts) must not specify gateways; set them on the root VirtualService");
    if ((spec.tls ?? []).length > 0) ctx.error("TSMESH_INVALID_ROUTE", "spec.tls", "a delegate VirtualService (one without hosts) cannot have tls routes; only http routes can be delegated");
    if ((spec.tcp ?? []).length > 0) ctx.error("TSMESH_INVALID_ROUTE", "spec.tcp", "a delegate VirtualService (one without hosts) cannot have tcp routes; only http routes can be delegated");
  }

  const appliesToGateway = gateways.length > 0 && !gateways.includes(MESH_GATEWAY);
  const appliesToMesh = !appliesToGateway;
  checkGatewayNames(ctx, gateways, "spec.gateways");

  if (!appliesToGateway) {
    (spec.http ?? []).forEach((r, i) =>
      (r.match ?? []).forEach((m, j) => {
        for (const field of ["headers", "withoutHeaders"] as const)
          for (const key of Object.keys(m[field] ?? {}))
            if (isJWTClaimRoute(key))
              ctx.error("TSMESH_INVALID_MATCH", `spec.http[${i}].match[${j}].${field}[${key}]`, `JWT claim based routing (${key}) is only supported for VirtualServices bound to gateways (not "mesh")`);
      }),
    );
  }

  const sniRouted = (spec.tls ?? []).some((t) => (t.match ?? []).some((m) => (m.sniHosts ?? []).length > 0));
  let allHostsValid = true;
  hosts.forEach((h, i) => {
    const p = `spec.hosts[${i}]`;
    const e = appliesToGateway ? checkGatewayBoundHost(h, sniRouted) : checkWildcardDomain(h);
    if (e) {
      if (!isIPAddress(h)) {
        ctx.error("TSMESH_INVALID_HOST", p, e);
        allHostsValid = false;
      }
    } else if (appliesToMesh && h === "*") {
      ctx.error("TSMESH_INVALID_HOST", p, `host "*" is only allowed for VirtualServices bound to gateways (not "mesh"); name the services instead`);
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++)
      for (let j = i + 1; j < hosts.length; j++)
        if (hostsOverlap(hosts[i], hosts[j]))
          ctx.error("TSMESH_INVALID_HOST", `spec.hosts[${j}]`, `duplicate host: ${JSON.stringify(hosts[j])} overlaps ${JSON.stringify(hosts[i])} (spec.hosts[${i}])`);
  }

  if ((spec.http ?? []).length === 0 && (spec.tcp ?? []).length === 0 && (spec.tls ?? []).length === 0)
    ctx.error("TSMESH_INVALID_ROUTE", "spec", "a VirtualService needs at least one of http, tcp or tls routes");

  (spec.http ?? []).forEach((r, i) => checkHTTPRoute(ctx, r, `spec.http[${i}]`, isDelegate));
  (spec.tls ?? []).forEach((r, i) => checkTLSRoute(ctx, r, `spec.tls[${i}]`, spec));
  (spec.tcp ?? []).forEach((r, i) => checkTCPRoute(ctx, r, `spec.tcp[${i}]`));

  validateExportTo(ctx, "spec.exportTo", spec.exportTo, resource.metadata.namespace);

  for (const f of unreachableRoutes(spec)) ctx.warn("TSMESH_SUSPICIOUS", f.path, f.message);
};
