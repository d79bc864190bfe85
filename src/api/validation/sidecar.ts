// Istio's semantic validation for Sidecar (ValidateSidecar, validateSidecarIngressPortAndBind,
// validateSidecarEgressPortBindAndCaptureMode, validateSidecarOutboundTrafficPolicy and the server
// TLS rules of validateTLSOptions for ingress listeners).
import type { Resource } from "../resource.js";
import type { SidecarSpec } from "../gen/types.js";
import { checkFQDN, checkPort, checkPortName, checkWildcardDomain, isDNS1123Label, isIPAddress, isKnownProtocol, PROTOCOLS, UNIX_ADDRESS_PREFIX } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";
import { checkSubsetName, validateConnectionPool, validateSelectorLabels } from "./destinationrule.js";
import { checkUnixAddress } from "./workloadentry.js";

type Ingress = NonNullable<SidecarSpec["ingress"]>[number];
type SidecarPort = Ingress["port"];
type ServerTLS = NonNullable<Ingress["tls"]>;

const DEFAULT_ENDPOINT_HOSTS = ["127.0.0.1", "0.0.0.0", "::1", "::"];
const isHTTP = (p: string) => ["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"].includes(p.toUpperCase());
const isTLS = (p: string) => ["HTTPS", "TLS"].includes(p.toUpperCase());

/** Go's net.SplitHostPort for `host:port`, `[v6]:port` and `:port`. */
function splitHostPort(s: string): { host: string; port: string } | string {
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) return `missing ']' in address ${JSON.stringify(s)}`;
    if (s[end + 1] !== ":") return `missing port in address ${JSON.stringify(s)}`;
    return { host: s.slice(1, end), port: s.slice(end + 2) };
  }
  const colon = s.lastIndexOf(":");
  if (colon < 0) return `missing port in address ${JSON.stringify(s)}`;
  const host = s.slice(0, colon);
  if (host.includes(":")) return `too many colons in address ${JSON.stringify(s)} (put IPv6 addresses in brackets)`;
  return { host, port: s.slice(colon + 1) };
}

function validatePortNameAndProtocol(ctx: ValidationContext, path: string, port: SidecarPort): void {
  if (port.name) {
    const e = checkPortName(port.name);
    if (e) ctx.error("TSMESH_INVALID_PORT", `${path}.name`, e);
  }
  if (port.protocol && !isKnownProtocol(port.protocol))
    ctx.error("TSMESH_INVALID_PORT", `${path}.protocol`, `unsupported protocol ${JSON.stringify(port.protocol)}; use one of ${PROTOCOLS.join(", ")}`);
  if ((port.targetPort ?? 0) > 0) ctx.error("TSMESH_INVALID_PORT", `${path}.targetPort`, "targetPort has no effect on Sidecars; remove it");
}

function validateBindIP(ctx: ValidationContext, path: string, bind: string | undefined): void {
  if (bind && !isIPAddress(bind)) ctx.error("TSMESH_INVALID_ADDRESS", path, `bind ${JSON.stringify(bind)} is not a valid IP address`);
}

function validateDefaultEndpoint(ctx: ValidationContext, path: string, ep: string): void {
  if (ep.startsWith(UNIX_ADDRESS_PREFIX)) {
    const e = checkUnixAddress(ep.slice(UNIX_ADDRESS_PREFIX.length));
    if (e) ctx.error("TSMESH_INVALID_ADDRESS", path, e);
    return;
  }
  const form = "defaultEndpoint must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, :<port> or unix:///path";
  const hp = splitHostPort(ep);
  if (typeof hp === "string") {
    ctx.error("TSMESH_INVALID_ADDRESS", path, `${hp}; ${form}`);
    return;
  }
  if (hp.host !== "" && !DEFAULT_ENDPOINT_HOSTS.includes(hp.host)) ctx.error("TSMESH_INVALID_ADDRESS", path, `${form}, got ${JSON.stringify(ep)}`);
  if (!/^\d+$/.test(hp.port)) ctx.error("TSMESH_INVALID_PORT", path, `defaultEndpoint port ${JSON.stringify(hp.port)} is not a number`);
  else {
    const e = checkPort(Number(hp.port));
    if (e) ctx.error("TSMESH_INVALID_PORT", path, e);
  }
}

/** Istio's validateTLSOptions (server side), plus the sidecar-only restrictions. */
function validateIngressTLS(ctx: ValidationContext, path: string, tls: ServerTLS, protocol: string): void {
  const unsupported: [boolean, string, string][] = [
    [(tls.subjectAltNames ?? []).length > 0, "subjectAltNames", "subjectAltNames is not supported in sidecar ingress TLS"],
    [!!tls.httpsRedirect, "httpsRedirect", "httpsRedirect is not supported on sidecars"],
    [!!tls.credentialName, "credentialName", "credentialName is not supported on sidecars; use serverCertificate and privateKey"],
    [(tls.credentialNames ?? []).length > 0, "credentialNames", "credentialNames is not supported on sidecars; use serverCertificate and privateKey"],
    [(tls.tlsCertificates ?? []).length > 0, "tlsCertificates", "tlsCertificates is not supported on sidecars; use serverCertificate and privateKey"],
  ];
  for (const [bad, field, msg] of unsupported) if (bad) ctx.error("TSMESH_INVALID_POLICY", `${path}.${field}`, msg);
  if (tls.mode === "ISTIO_MUTUAL" || tls.mode === "AUTO_PASSTHROUGH")
    ctx.error("TSMESH_INVALID_POLICY", `${path}.mode`, `mode ${tls.mode} is not allowed in sidecar ingress TLS`);
  if (!isTLS(protocol)) ctx.error("TSMESH_INVALID_POLICY", path, `TLS settings need an HTTPS or TLS port, this port's protocol is ${JSON.stringify(protocol)}`);

  if ((tls.minProtocolVersion === "TLSV1_0" || tls.minProtocolVersion === "TLSV1_1") && (tls.cipherSuites ?? []).length === 0)
    ctx.warn("TSMESH_SUSPICIOUS", `${path}.minProtocolVersion`, "TLS versions below 1.2 need compatible cipherSuites; the defaults no longer include them");
  if (tls.mode === "ISTIO_MUTUAL") return;
  const hasCerts = !!(tls.serverCertificate || tls.privateKey || tls.caCertificates || tls.caCrl || tls.credentialName || (tls.credentialNames ?? []).length || (tls.tlsCertificates ?? []).length);
  if (tls.mode === "PASSTHROUGH" && hasCerts) ctx.warn("TSMESH_SUSPICIOUS", path, "PASSTHROUGH mode does not use certificates; they are ignored");
  let sources = 0;
  if (tls.serverCertificate && tls.privateKey) sources++;
  if (tls.credentialName) sources++;
  if ((tls.credentialNames ?? []).length > 0) sources++;
  if ((tls.tlsCertificates ?? []).length > 0) sources++;
  if (sources > 1) ctx.error("TSMESH_INVALID_POLICY", path, "only one of credentialName, credentialNames, serverCertificate/privateKey or tlsCertificates may be set");
  const terminating = tls.mode === "SIMPLE" || tls.mode === "MUTUAL" || tls.mode === "OPTIONAL_MUTUAL";
  if (terminating && !(tls.credentialName || (tls.credentialNames ?? []).length > 0)) {
    const label = tls.mode === "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
    if (tls.mode !== "SIMPLE" && !tls.caCertificates) ctx.error("TSMESH_INVALID_POLICY", `${path}.caCertificates`, `${label} requires a client CA bundle (caCertificates)`);
    const certs = (tls.tlsCertificates ?? []).length > 0 ? (tls.tlsCertificates ?? []) : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    const multi = (tls.tlsCertificates ?? []).length > 0;
    certs.forEach((c, i) => {
      const p = multi ? `${path}.tlsCertificates[${i}]` : path;
      if (!c.serverCertificate) ctx.error("TSMESH_INVALID_POLICY", `${p}.serverCertificate`, `${label} requires a server certificate`);
      if (!c.privateKey) ctx.error("TSMESH_INVALID_POLICY", `${p}.privateKey`, `${label} requires a private key`);
    });
  }
  if (tls.caCrl) {
    if (tls.credentialName) ctx.error("TSMESH_INVALID_POLICY", `${path}.caCrl`, "caCrl cannot be used with credentialName; put the CRL in the credential");
    if (tls.mode === "SIMPLE") ctx.error("TSMESH_INVALID_POLICY", `${path}.caCrl`, "caCrl is not supported with SIMPLE TLS (no client certificates to check)");
  }
}

/** Istio's ValidateNamespaceSlashWildcardHostname for sidecars: `namespace/dnsName`. */
function checkEgressHost(host: string): string[] {
  const slash = host.indexOf("/");
  if (slash < 0) return [`host ${JSON.stringify(host)} must be of the form namespace/dnsName, e.g. ./reviews.default.svc.cluster.local or istio-system/*`];
  const ns = host.slice(0, slash);
  const name = host.slice(slash + 1);
  const out: string[] = [];
  if (ns === "" || name === "") out.push("namespace and dnsName of a host entry cannot be empty");
  if (ns !== "" && ns !== "*" && ns !== "." && ns !== "~" && !isDNS1123Label(ns)) out.push(`invalid namespace ${JSON.stringify(ns)}: use *, ., ~ or a namespace name`);
  if (name !== "") {
    if (name !== "*" && !name.includes(".")) out.push(`short name ${JSON.stringify(name)} is not allowed; use the FQDN (e.g. ${name}.<namespace>.svc.cluster.local) or *`);
    const e = checkWildcardDomain(name);
    if (e) out.push(e);
    if (name.includes("*") && name !== "*" && !name.startsWith("*.")) out.push(`partial wildcard ${JSON.stringify(name)} is not allowed; use a "*." prefix`);
  }
  return out;
}

export const validateSidecar: SemanticValidator<"Sidecar"> = (r: Resource<"Sidecar">, ctx) => {
  const spec = r.spec;
  if (spec.workloadSelector) validateSelectorLabels(ctx, "spec.workloadSelector.labels", spec.workloadSelector.labels, "applies to every workload in the namespace");

  const ingress = spec.ingress ?? [];
  const egress = spec.egress ?? [];
  if (ingress.length === 0 && egress.length === 0 && !spec.outboundTrafficPolicy && !spec.inboundConnectionPool) {
    ctx.error("TSMESH_INVALID_VALUE", "spec", "empty Sidecar: set at least one of ingress, egress, outboundTrafficPolicy or inboundConnectionPool");
    return;
  }

  const ingressPorts = new Map<number, number>();
  ingress.forEach((l, i) => {
    const p = `spec.ingress[${i}]`;
    validatePortNameAndProtocol(ctx, `${p}.port`, l.port);
    const num = l.port.number ?? 0;
    const pe = checkPort(num);
    if (pe) ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, pe);
    validateBindIP(ctx, `${p}.bind`, l.bind);
    const prev = ingressPorts.get(num);
    if (prev !== undefined) ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, `port ${num} is already used by spec.ingress[${prev}]; ingress ports must be unique`);
    else ingressPorts.set(num, i);
    if (l.defaultEndpoint) validateDefaultEndpoint(ctx, `${p}.defaultEndpoint`, l.defaultEndpoint);
    if (l.tls) validateIngressTLS(ctx, `${p}.tls`, l.tls, l.port.protocol ?? "");
    validateConnectionPool(ctx, `${p}.connectionPool`, l.connectionPool);
    if (l.connectionPool?.http && !isHTTP(l.port.protocol ?? ""))
      ctx.warn(
        "TSMESH_SUSPICIOUS",
        `${p}.connectionPool.http`,
        `HTTP connection pool settings on port ${num} whose protocol is ${JSON.stringify(l.port.protocol ?? "")}, not HTTP; only the TCP settings apply`,
      );
  });
  validateConnectionPool(ctx, "spec.inboundConnectionPool", spec.inboundConnectionPool);

  const egressPorts = new Map<number, number>();
  const sockets = new Map<string, number>();
  egress.forEach((l, i) => {
    const p = `spec.egress[${i}]`;
    if (!l.port) {
      // Only one listener may omit the port (the catch-all), and it must be the last one.
      if (i !== egress.length - 1)
        ctx.error("TSMESH_INVALID_PORT", `${p}.port`, "only the last egress listener may omit the port (it is the catch-all listener)");
    } else {
      validatePortNameAndProtocol(ctx, `${p}.port`, l.port);
      const num = l.port.number ?? 0;
      const bind = l.bind ?? "";
      if (num === 0) {
        if (!bind.startsWith(UNIX_ADDRESS_PREFIX))
          ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, "port 0 (or unset) needs a unix domain socket bind such as unix:///var/run/app.sock");
        else {
          const e = checkUnixAddress(bind.slice(UNIX_ADDRESS_PREFIX.length));
          if (e) ctx.error("TSMESH_INVALID_ADDRESS", `${p}.bind`, e);
        }
        if (l.captureMode && l.captureMode !== "DEFAULT" && l.captureMode !== "NONE")
          ctx.error("TSMESH_INVALID_VALUE", `${p}.captureMode`, "captureMode must be DEFAULT or NONE for unix domain socket listeners");
        const prev = sockets.get(bind);
        if (prev !== undefined) ctx.error("TSMESH_INVALID_ADDRESS", `${p}.bind`, `unix socket ${JSON.stringify(bind)} is already used by spec.egress[${prev}]`);
        else sockets.set(bind, i);
      } else {
        const pe = checkPort(num);
        if (pe) ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, pe);
        validateBindIP(ctx, `${p}.bind`, l.bind);
        const prev = egressPorts.get(num);
        if (prev !== undefined) ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, `port ${num} is already used by spec.egress[${prev}]; egress ports must be unique`);
        else egressPorts.set(num, i);
      }
    }

    if (l.hosts.length === 0) {
      ctx.error("TSMESH_INVALID_HOST", `${p}.hosts`, "an egress listener needs at least one host, e.g. ./* or istio-system/*");
      return;
    }
    const byNs = new Map<string, Set<string>>();
    l.hosts.forEach((h, j) => {
      const hp = `${p}.hosts[${j}]`;
      const slash = h.indexOf("/");
      if (slash >= 0) {
        const ns = h.slice(0, slash) === "." ? r.metadata.namespace : h.slice(0, slash);
        const svc = h.slice(slash + 1);
        let names = byNs.get(ns);
        if (!names) byNs.set(ns, (names = new Set()));
        if (svc !== "*" ? names.has(svc) || names.has("*") : names.size > 0) ctx.warn("TSMESH_SUSPICIOUS", hp, `duplicate egress host ${JSON.stringify(h)}`);
        names.add(svc);
      }
      for (const e of checkEgressHost(h)) ctx.error("TSMESH_INVALID_HOST", hp, e);
    });
    if (byNs.get("*")?.has("*") && byNs.size !== 1)
      ctx.warn("TSMESH_SUSPICIOUS", `${p}.hosts`, "*/* already selects every host; the other entries add nothing");
  });

  const otp = spec.outboundTrafficPolicy;
  const proxy = otp?.egressProxy;
  if (otp && proxy) {
    const p = "spec.outboundTrafficPolicy.egressProxy";
    if (otp.mode !== "ALLOW_ANY") {
      ctx.error("TSMESH_INVALID_POLICY", p, "egressProxy can only be set with outboundTrafficPolicy mode ALLOW_ANY");
      return;
    }
    const he = checkFQDN(proxy.host);
    if (he) ctx.error("TSMESH_INVALID_HOST", `${p}.host`, `${he}; egressProxy.host must be a fully qualified service name`);
    if (!proxy.port) {
      ctx.error("TSMESH_INVALID_PORT", `${p}.port`, "egressProxy.port is required");
      return;
    }
    const pe = checkPort(proxy.port.number ?? 0);
    if (pe) ctx.error("TSMESH_INVALID_PORT", `${p}.port.number`, pe);
    if (proxy.subset) {
      const se = checkSubsetName(proxy.subset);
      if (se) ctx.error("TSMESH_INVALID_VALUE", `${p}.subset`, se);
    }
  }
};
