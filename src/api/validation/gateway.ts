// Istio's semantic validation for Gateway (pkg/config/validation: ValidateGateway, validateServer,
// validateServerPort, validateServerBind, validateTLSOptions). The CRD schema has already checked
// required fields, enums (TLS mode, protocol versions), list sizes and the credential oneOf rules.
import type { GatewayServer } from "../resource.js";
import { checkLabelKey, checkLabelValue, checkPort, checkWildcardDomain, isDNS1123Label, isIPAddress, isKnownProtocol, PROTOCOLS, UNIX_ADDRESS_PREFIX } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";

type ServerTLS = NonNullable<GatewayServer["tls"]>;
type TLSMode = NonNullable<ServerTLS["mode"]>;

const HTTP_PROTOCOLS = new Set(["HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB"]);
const TLS_PROTOCOLS = new Set(["HTTPS", "TLS"]);

/** Cipher suites Envoy (BoringSSL) accepts in Gateway server TLS settings (Istio's security.ValidCipherSuites). */
const CIPHER_SUITES = new Set([
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-SHA",
  "ECDHE-RSA-AES128-SHA",
  "ECDHE-ECDSA-AES256-SHA",
  "ECDHE-RSA-AES256-SHA",
  "AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "AES128-SHA",
  "AES256-SHA",
  "DES-CBC3-SHA",
]);

const TLS_VERSION_ORDER: Record<string, number> = { TLSV1_0: 0, TLSV1_1: 1, TLSV1_2: 2, TLSV1_3: 3 };

/** Istio's IsValidCipherSuite: a known name, empty, ALL, or an expression BoringSSL parses itself. */
export function isValidCipherSuite(cs: string): boolean {
  if (cs === "" || cs === "ALL") return true;
  // Expressions such as "-AES128-SHA" or "+..." are passed through to BoringSSL unparsed.
  if (!/^[\p{L}\p{N}]/u.test(cs)) return true;
  return CIPHER_SUITES.has(cs);
}

/** Istio's ValidateUnixAddress: an absolute file path, or an abstract socket name starting with "@". */
function checkUnixAddress(addr: string): string | undefined {
  if (addr === "") return "unix address must not be empty";
  if (addr.startsWith("@")) return undefined;
  if (!addr.startsWith("/") || addr.endsWith("/")) return `${JSON.stringify(addr)} is not an absolute path to a file`;
  return undefined;
}

/** The dnsName part of a server host: FQDN or wildcard (or IP), never a short name or partial wildcard. */
function checkHostnamePart(hostname: string): string[] {
  const out: string[] = [];
  if (hostname !== "*" && !hostname.includes("."))
    out.push(`short name ${JSON.stringify(hostname)} is not allowed; use a fully qualified name such as "${hostname || "example"}.example.com" or "*"`);
  const e = checkWildcardDomain(hostname);
  if (e && !isIPAddress(hostname)) out.push(e);
  if (hostname.includes("*") && hostname.length !== 1 && !hostname.startsWith("*."))
    out.push(`partial wildcard ${JSON.stringify(hostname)} is not allowed; a wildcard must be a whole leading label, e.g. "*.example.com"`);
  return out;
}

/** Server hosts: `dnsName` or `namespace/dnsName`, where namespace is a name, "." or "*". */
function checkServerHost(host: string): string[] {
  const slash = host.indexOf("/");
  if (slash < 0) return checkHostnamePart(host);
  const ns = host.slice(0, slash);
  const name = host.slice(slash + 1);
  const out: string[] = [];
  if (ns === "" || name === "") out.push(`host ${JSON.stringify(host)}: namespace and dnsName in namespace/dnsName cannot be empty`);
  if (ns !== "*" && ns !== "." && !isDNS1123Label(ns))
    out.push(`invalid namespace ${JSON.stringify(ns)} in host ${JSON.stringify(host)}; use a namespace name, "." (this namespace) or "*"`);
  out.push(...checkHostnamePart(name));
  return out;
}

function protocolOf(p: string): string {
  return p.toUpperCase();
}

function checkTLSOptions(ctx: ValidationContext, tls: ServerTLS, path: string): void {
  const err = (field: string, msg: string) => ctx.error("TSMESH_INVALID_POLICY", field ? `${path}.${field}` : path, msg);
  const warn = (field: string, msg: string) => ctx.warn("TSMESH_SUSPICIOUS", field ? `${path}.${field}` : path, msg);
  const mode: TLSMode = tls.mode ?? "PASSTHROUGH";
  const set = (s: string | undefined) => s !== undefined && s !== "";
  const ciphers = tls.cipherSuites ?? [];

  if ((tls.minProtocolVersion === "TLSV1_0" || tls.minProtocolVersion === "TLSV1_1") && ciphers.length === 0)
    warn("minProtocolVersion", "TLS versions below TLSV1_2 need cipherSuites set to compatible ciphers; the default ciphers no longer include them");
  const min = TLS_VERSION_ORDER[tls.minProtocolVersion ?? ""];
  const max = TLS_VERSION_ORDER[tls.maxProtocolVersion ?? ""];
  if (min !== undefined && max !== undefined && min > max)
    warn("minProtocolVersion", `minProtocolVersion ${tls.minProtocolVersion} is above maxProtocolVersion ${tls.maxProtocolVersion}; no TLS version can be negotiated`);

  const seen = new Set<string>();
  ciphers.forEach((cs, i) => {
    if (!isValidCipherSuite(cs)) warn(`cipherSuites[${i}]`, `unknown cipher suite ${JSON.stringify(cs)} is ignored; use an OpenSSL-style name such as "ECDHE-RSA-AES128-GCM-SHA256"`);
    else if (seen.has(cs)) warn(`cipherSuites[${i}]`, `duplicate cipher suite ${JSON.stringify(cs)} is ignored`);
    seen.add(cs);
  });

  const tlsCerts = tls.tlsCertificates ?? [];
  const credNames = tls.credentialNames ?? [];
  if (mode === "ISTIO_MUTUAL") {
    // Istio's own workload certificate is used: no other certificate source may be named.
    const forbidden: Array<[string, boolean]> = [
      ["serverCertificate", set(tls.serverCertificate)],
      ["privateKey", set(tls.privateKey)],
      ["caCertificates", set(tls.caCertificates)],
      ["tlsCertificates", tlsCerts.length > 0],
      ["credentialName", set(tls.credentialName)],
      ["credentialNames", credNames.length > 0],
    ];
    for (const [field, present] of forbidden) if (present) err(field, `ISTIO_MUTUAL uses the mesh's workload certificates; remove ${field}`);
    return;
  }

  if (mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH") {
    if (set(tls.caCrl) || set(tls.serverCertificate) || set(tls.privateKey) || set(tls.caCertificates) || tlsCerts.length > 0 || set(tls.credentialName) || credNames.length > 0)
      warn("", `${mode} mode does not terminate TLS; the certificate settings are ignored`);
  }

  let sources = 0;
  if (set(tls.serverCertificate) && set(tls.privateKey)) sources++;
  if (set(tls.credentialName)) sources++;
  if (credNames.length > 0) sources++;
  if (tlsCerts.length > 0) sources++;
  if (sources > 1) err("", "set only one certificate source: credentialName, credentialNames, serverCertificate/privateKey or tlsCertificates");

  const terminating = mode === "SIMPLE" || mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL";
  if (terminating && (set(tls.credentialName) || credNames.length > 0)) {
    // Certificates (and any CRL) come from the secret. Istio accepts caCrl here but never uses it.
    if (set(tls.caCrl)) warn("caCrl", "caCrl is ignored when the certificates come from credentialName(s); put the CRL in the secret (ca.crl)");
    return;
  }

  if (terminating) {
    const label = mode === "SIMPLE" ? "SIMPLE" : "MUTUAL";
    if (mode !== "SIMPLE" && !set(tls.caCertificates))
      err("caCertificates", `${mode} TLS needs a client CA bundle: set caCertificates, or use credentialName with a secret that holds ca.crt`);
    const certs = tlsCerts.length > 0 ? tlsCerts.map((c, i) => ({ c, p: `tlsCertificates[${i}].` })) : [{ c: tls, p: "" }];
    for (const { c, p } of certs) {
      if (!set(c.serverCertificate)) err(`${p}serverCertificate`, `${label} TLS needs a server certificate: set credentialName (a Kubernetes secret) or serverCertificate and privateKey`);
      if (!set(c.privateKey)) err(`${p}privateKey`, `${label} TLS needs a private key: set credentialName (a Kubernetes secret) or serverCertificate and privateKey`);
    }
  }
  if (set(tls.caCrl)) {
    if (set(tls.credentialName)) err("caCrl", "caCrl cannot be used with credentialName; put the CRL in the credential's secret (ca.crl)");
    if (mode === "SIMPLE") err("caCrl", "caCrl is not supported with SIMPLE TLS (no client certificates are checked)");
  }
}

function checkServer(ctx: ValidationContext, s: GatewayServer, path: string): void {
  const hosts = s.hosts ?? [];
  if (hosts.length === 0) ctx.error("TSMESH_INVALID_HOST", `${path}.hosts`, 'a server needs at least one host, e.g. "*" or "ns/app.example.com"');
  hosts.forEach((h, i) => {
    for (const e of checkServerHost(h)) ctx.error("TSMESH_INVALID_HOST", `${path}.hosts[${i}]`, e);
  });

  const port = s.port;
  const bind = s.bind ?? "";
  let portOK = true;
  if (port) {
    if (!isKnownProtocol(port.protocol)) {
      ctx.error("TSMESH_INVALID_VALUE", `${path}.port.protocol`, `unsupported protocol ${JSON.stringify(port.protocol)}; use one of ${PROTOCOLS.join(", ")}`);
      portOK = false;
    }
    if (port.number > 0 || !bind.startsWith(UNIX_ADDRESS_PREFIX)) {
      const e = checkPort(port.number);
      if (e) {
        ctx.error("TSMESH_INVALID_PORT", `${path}.port.number`, e);
        portOK = false;
      }
    }
    if (port.targetPort !== undefined && port.targetPort > 0) {
      ctx.error("TSMESH_INVALID_PORT", `${path}.port.targetPort`, "targetPort has no effect on Gateways; remove it");
      portOK = false;
    }
    if (port.name === "") {
      ctx.error("TSMESH_INVALID_PORT", `${path}.port.name`, 'port name must be set, e.g. "http" or "https-443"');
      portOK = false;
    }
  }

  if (bind.startsWith(UNIX_ADDRESS_PREFIX)) {
    const e = checkUnixAddress(bind.slice(UNIX_ADDRESS_PREFIX.length));
    if (e) ctx.error("TSMESH_INVALID_ADDRESS", `${path}.bind`, e);
    if (port && port.number !== 0) ctx.error("TSMESH_INVALID_PORT", `${path}.port.number`, `port number must be 0 when binding to a unix domain socket (${bind})`);
  } else if (bind !== "" && !isIPAddress(bind)) {
    ctx.error("TSMESH_INVALID_ADDRESS", `${path}.bind`, `bind ${JSON.stringify(bind)} is not a valid IP address (or unix:// socket path)`);
  }

  if (s.tls) checkTLSOptions(ctx, s.tls, `${path}.tls`);

  if (port && portOK) {
    const p = protocolOf(port.protocol);
    if (TLS_PROTOCOLS.has(p) && !s.tls) {
      ctx.error("TSMESH_INVALID_POLICY", `${path}.tls`, `a ${p} server needs tls settings (e.g. mode SIMPLE with credentialName, or mode PASSTHROUGH)`);
    } else if (!TLS_PROTOCOLS.has(p) && s.tls) {
      if (HTTP_PROTOCOLS.has(p)) {
        // A plain HTTP server may carry tls only to redirect to HTTPS.
        const mode = s.tls.mode ?? "PASSTHROUGH";
        const passthrough = mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH";
        if (!passthrough || (s.tls.caCertificates ?? "") !== "" || (s.tls.privateKey ?? "") !== "" || (s.tls.serverCertificate ?? "") !== "")
          ctx.error("TSMESH_INVALID_POLICY", `${path}.tls`, `a plain-text ${p} server cannot have TLS settings other than httpsRedirect; use protocol HTTPS to terminate TLS`);
      } else {
        ctx.error("TSMESH_INVALID_POLICY", `${path}.tls`, `a ${p} server cannot have TLS settings; use protocol TLS or HTTPS`);
      }
    }
  }
}

export const validateGateway: SemanticValidator<"Gateway"> = (resource, ctx) => {
  const name = resource.metadata.name;
  if (!isDNS1123Label(name))
    ctx.error("TSMESH_METADATA_INVALID", "metadata.name", `invalid gateway name ${JSON.stringify(name)}: Istio Gateway names must be DNS-1123 labels (no dots)`);

  const spec = resource.spec;
  for (const [k, v] of Object.entries(spec.selector ?? {})) {
    const e = checkLabelKey(k) ?? checkLabelValue(v);
    if (e) ctx.warn("TSMESH_SUSPICIOUS", `spec.selector[${k}]`, `${e}; this selector can never match a workload`);
  }

  const servers = spec.servers ?? [];
  if (servers.length === 0) {
    ctx.error("TSMESH_INVALID_VALUE", "spec.servers", "a Gateway needs at least one server");
    return;
  }
  const portNames = new Map<string, number>();
  const serverNames = new Map<string, number>();
  servers.forEach((s, i) => {
    const path = `spec.servers[${i}]`;
    checkServer(ctx, s, path);
    if (!s.port) return;
    const prior = portNames.get(s.port.name);
    if (prior !== undefined)
      ctx.error("TSMESH_INVALID_PORT", `${path}.port.name`, `port name ${JSON.stringify(s.port.name)} is already used by spec.servers[${prior}]; port names must be unique across servers`);
    else portNames.set(s.port.name, i);
    if (s.tls?.httpsRedirect && !HTTP_PROTOCOLS.has(protocolOf(s.port.protocol)))
      ctx.warn("TSMESH_SUSPICIOUS", `${path}.tls.httpsRedirect`, `httpsRedirect only applies to HTTP servers; it has no effect on a ${s.port.protocol} server`);
    if (s.name !== undefined && s.name !== "") {
      const dup = serverNames.get(s.name);
      if (dup !== undefined) ctx.warn("TSMESH_SUSPICIOUS", `${path}.name`, `server name ${JSON.stringify(s.name)} is already used by spec.servers[${dup}]; server names should be unique`);
      else serverNames.set(s.name, i);
    }
  });
};
