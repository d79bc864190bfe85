// A Gateway listener's TLS as istiod's buildTLS turns it into an Istio server's TLS settings:
// Terminate with one or two Secret certificateRefs (cross-namespace with a ReferenceGrant), the
// Gateway's frontend client validation (spec.tls.frontend, per port or default: a CA Secret makes
// the server MUTUAL, AllowInsecureFallback OPTIONAL_MUTUAL), the listener's `options` istiod reads
// (gateway.istio.io/tls-terminate-mode, gateway.istio.io/tls-cipher-suites), or Passthrough. Also
// the Gateway-wide checks istiod reports in the Gateway's own conditions (backend client
// certificate, infrastructure parametersRef).
import type { GatewayServer, Resource } from "../../api/resource.js";
import { isValidCipherSuite } from "../../api/validation/gateway.js";
import { GatewayReason, type ConfigError } from "./conditions.js";
import type { ConversionContext } from "./references.js";

type Gateway = Resource<"KubernetesGateway">;
type Listener = Gateway["spec"]["listeners"][number];
type ServerTls = NonNullable<GatewayServer["tls"]>;
type SecretRef = { group?: string; kind?: string; name: string; namespace?: string };
type FrontendTls = NonNullable<NonNullable<NonNullable<Gateway["spec"]["tls"]>["frontend"]>["default"]>;

/** The listener `options` keys istiod reads (everything else there is ignored by Istio too). */
export const TLS_TERMINATE_MODE_OPTION = "gateway.istio.io/tls-terminate-mode";
export const TLS_CIPHER_SUITES_OPTION = "gateway.istio.io/tls-cipher-suites";

/** The credentialName of the workload's own certificate (Istio's ISTIO_SIMPLE option). */
const BUILTIN_CREDENTIAL = "builtin://";
/** Istio's suffix for the CA half of a credential. */
const CA_SUFFIX = "-cacert";

/** Do these TLS errors (istiod's) also make the listener not Accepted (NoValidCACertificate)? */
export function isCaCertificateError(e: ConfigError): boolean {
  return e.reason === GatewayReason.InvalidCACertificateRef || e.reason === GatewayReason.InvalidCACertificateKind || e.reason === GatewayReason.RefNotPermitted;
}

const refString = (r: { group?: string; kind?: string; name: string; namespace?: string }, fallbackKind: string): string =>
  `${r.group ? `${r.group}/` : ""}${r.kind ?? fallbackKind}/${r.namespace ? `${r.namespace}/` : ""}${r.name}`;

/**
 * A Secret reference as a credentialName: NAME in the Gateway's namespace, NAMESPACE/NAME with a
 * ReferenceGrant. `badKind` is the error for a reference to anything but a Secret; `field` names the
 * reference in the RefNotPermitted message.
 */
function secretCredential(ctx: ConversionContext, gw: Gateway, ref: SecretRef, field: string, badKind: ConfigError): { name?: string; error?: ConfigError } {
  if ((ref.group ?? "") !== "" || (ref.kind ?? "Secret") !== "Secret") return { error: badKind };
  const own = gw.metadata.namespace;
  const ns = ref.namespace ?? own;
  // Authorized before anything else, so status never says whether a Secret it may not see exists.
  if (ns !== own && !ctx.grants.allowed("Gateway", own, "", "Secret", ref.name, ns))
    return { error: { reason: GatewayReason.RefNotPermitted, message: `${field} ${ns}/${ref.name} not accessible to a Gateway in namespace "${own}" (missing a ReferenceGrant?)` } };
  return { name: ns === own ? ref.name : `${ns}/${ref.name}` };
}

/** istiod's resolveGatewayTLS: the frontend settings for the listener's port, else the default. */
function frontendFor(gw: Gateway, port: number): FrontendTls | undefined {
  const f = gw.spec.tls?.frontend;
  if (!f) return undefined;
  return f.perPort?.find((p) => p.port === port)?.tls ?? f.default;
}

/** Client validation from the Gateway's frontend settings: a CA (Secret) credential and the mode. */
function frontendValidation(ctx: ConversionContext, gw: Gateway, frontend: FrontendTls | undefined, out: ServerTls): ConfigError | undefined {
  const v = frontend?.validation;
  if (!v || v.caCertificateRefs.length === 0) return undefined;
  if (v.caCertificateRefs.length > 1) return { reason: GatewayReason.InvalidCACertificateRef, message: "only one caCertificateRef is supported" };
  const ref = v.caCertificateRefs[0];
  if (ref.group === "" && ref.kind === "ConfigMap")
    // istiod reads ConfigMaps' ca.crt; tsmesh's credentials are the credentials folder's Secrets only.
    return { reason: GatewayReason.InvalidCACertificateRef, message: `invalid CA certificate reference ${refString(ref, "ConfigMap")}, tsmesh reads CA bundles from Secrets (the credentials folder), not ConfigMaps` };
  const cred = secretCredential(ctx, gw, ref, "caCertificateRef", {
    reason: GatewayReason.InvalidCACertificateKind,
    message: `invalid CA certificate reference ${refString(ref, "Secret")}, only secret and configmap are allowed`,
  });
  if (cred.error) return cred.error;
  out.mode = v.mode === "AllowInsecureFallback" ? "OPTIONAL_MUTUAL" : "MUTUAL";
  out.insecureSkipVerify = v.mode === "AllowInsecureFallback";
  out.caCertCredentialName = `${cred.name}${CA_SUFFIX}`;
  return undefined;
}

/** Converts a listener's TLS (undefined without a `tls` block), or the error that keeps it from being programmed. */
export function buildListenerTls(ctx: ConversionContext, l: Listener, gw: Gateway): { tls?: ServerTls; error?: ConfigError } {
  const t = l.tls;
  if (!t) return {};
  const options = t.options ?? {};
  const out: ServerTls = {};
  if (t.mode === "Passthrough") out.mode = "PASSTHROUGH";
  else {
    out.mode = "SIMPLE";
    const terminate = options[TLS_TERMINATE_MODE_OPTION];
    if (terminate === "MUTUAL" || terminate === "OPTIONAL_MUTUAL") out.mode = terminate;
    // The gateway's own workload certificate, with or without the mesh's client certificates.
    else if (terminate === "ISTIO_SIMPLE") return { tls: { mode: "SIMPLE", credentialName: BUILTIN_CREDENTIAL } };
    else if (terminate === "ISTIO_MUTUAL") return { tls: { mode: "ISTIO_MUTUAL" } };
    const refs = t.certificateRefs ?? [];
    if (refs.length === 0) return { error: { reason: GatewayReason.InvalidCertificateRef, message: "no certificateRefs" } };
    if (refs.length > 2) return { error: { reason: GatewayReason.InvalidCertificateRef, message: "TLS mode can only support up to 2 server certificates" } };
    const names: string[] = [];
    let firstError: ConfigError | undefined;
    for (const ref of refs) {
      const c = secretCredential(ctx, gw, ref, "certificateRef", {
        reason: GatewayReason.InvalidCertificateRef,
        message: `invalid certificate reference ${ref.kind ?? "Secret"}/${ref.name}, only Secret is allowed`,
      });
      if (c.error) firstError ??= c.error;
      else names.push(c.name!);
    }
    // Like istiod, one good reference is enough to serve.
    if (names.length === 0) return { error: firstError };
    if (names.length === 1) out.credentialName = names[0];
    else out.credentialNames = names;
    const mutual = out.mode;
    const err = frontendValidation(ctx, gw, frontendFor(gw, l.port), out);
    if (err) return { error: err };
    // An explicit terminate mode wins over the frontend's fallback setting, with verification on.
    if (out.caCertCredentialName && (mutual === "MUTUAL" || mutual === "OPTIONAL_MUTUAL")) {
      out.mode = mutual;
      out.insecureSkipVerify = false;
    }
  }
  const ciphers = options[TLS_CIPHER_SUITES_OPTION];
  if (ciphers) {
    const valid = [...new Set(ciphers.split(",").map((c) => c.trim()))].filter(isValidCipherSuite);
    if (valid.length > 0) out.cipherSuites = valid;
  }
  return { tls: out };
}

/** Does any frontend validation setting fall back to accepting clients without a valid certificate? */
export function insecureFrontend(gw: Gateway): boolean {
  const f = gw.spec.tls?.frontend;
  return f?.default.validation?.mode === "AllowInsecureFallback" || (f?.perPort ?? []).some((p) => p.tls.validation?.mode === "AllowInsecureFallback");
}

/** istiod's validateBackendClientCertificateRef, the checks tsmesh can make (the Gateway's ResolvedRefs). */
export function backendClientCertificateError(ctx: ConversionContext, gw: Gateway): ConfigError | undefined {
  const ref = gw.spec.tls?.backend?.clientCertificateRef;
  if (!ref) return undefined;
  return secretCredential(ctx, gw, ref, "clientCertificateRef", {
    reason: GatewayReason.InvalidClientCertificateRef,
    message: `invalid clientCertificateRef ${refString(ref, "Secret")}, only secret is allowed`,
  }).error;
}

/** istiod's validateParametersRef, the part that needs no ConfigMap (the Gateway's Accepted). */
export function parametersRefError(gw: Gateway): ConfigError | undefined {
  const p = gw.spec.infrastructure?.parametersRef;
  if (!p || (p.group === "" && p.kind === "ConfigMap")) return undefined;
  return { reason: GatewayReason.InvalidParameters, message: `Unsupported parametersRef group/kind ${p.group}/${p.kind}, only ConfigMap is supported` };
}
