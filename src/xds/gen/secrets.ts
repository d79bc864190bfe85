// istiod's SecretGen (pilot/pkg/xds/sds.go) as pure builders: which credential an SDS resource
// name refers to, whether a proxy may read it, and the Envoy Secret it becomes. Names are Istio's:
// `kubernetes://NAME` (certificate chain + private key) and `kubernetes://NAME-cacert` (the CA
// half, from a credential named NAME-cacert if there is one, else NAME's CA), resolved in the
// proxy's own namespace; `kubernetes://NS/NAME` names the namespace explicitly.
//
// Who may read what (Istio's rules, local mode's grants):
// - only secrets in the proxy's own namespace (a cross-namespace reference is refused);
// - the CA half (`-cacert`): any proxy in that namespace (CA certificates are public, as in Istio);
// - certificate + key: gateways (router proxies; Istio's gateway charts let the gateway's service
//   account read its namespace's secrets) and sidecars for a name a DestinationRule visible in their
//   namespace sets as `credentialName` (Istio grants sidecars through RBAC; with no RBAC in local
//   mode, the mesh config asking for the credential is the grant).
// Anything else (`default`, `ROOTCA`: the agent's on sds-grpc; other schemes) is refused.
import type { Credential } from "../../config/credential-files.js";
import type { Resource, TrafficPolicy } from "../../api/resource.js";
import type { Secret } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext } from "../../model/push-context.js";
import { exportToSet, visibleFrom } from "../../registry/model.js";
import { credentialResourceName, SDS_CA_SUFFIX } from "./sds.js";
import type { ClientTLSSettings } from "./traffic-policy.js";

export const KUBERNETES_SECRET_PREFIX = "kubernetes://";

/** Read access to the credentials (the control plane's credentials folder). */
export interface CredentialSource {
  get(namespace: string, name: string): Credential | undefined;
}

/** What an SDS resource name refers to. */
export interface SecretReference {
  /** The name as requested (the Secret resource's name). */
  resourceName: string;
  namespace: string;
  /** The secret's name, `-cacert` suffix included when requested with it. */
  name: string;
  /** The CA half only (`NAME-cacert`). */
  caOnly: boolean;
}

/** Istio's credentials.ParseResourceName for the `kubernetes://` scheme; an error names what is wrong. */
export function parseSecretResourceName(resourceName: string, proxyNamespace: string): SecretReference | { error: string } {
  if (!resourceName.startsWith(KUBERNETES_SECRET_PREFIX)) {
    return { error: `unknown secret resource ${JSON.stringify(resourceName)}: the control plane serves kubernetes://NAME credentials only` };
  }
  const rest = resourceName.slice(KUBERNETES_SECRET_PREFIX.length);
  const parts = rest.split("/");
  if (parts.length > 2 || parts.some((p) => p === "")) return { error: `invalid secret resource ${JSON.stringify(resourceName)}: expected kubernetes://NAME or kubernetes://NAMESPACE/NAME` };
  const [namespace, name] = parts.length === 2 ? parts : [proxyNamespace, parts[0]];
  return { resourceName, namespace, name, caOnly: name.endsWith(SDS_CA_SUFFIX) };
}

function tlsCredentialNames(policy: TrafficPolicy | undefined, out: Set<string>): void {
  const add = (tls: ClientTLSSettings | undefined) => {
    if (tls?.credentialName) out.add(credentialResourceName(tls.credentialName));
  };
  add(policy?.tls);
  for (const p of policy?.portLevelSettings ?? []) add(p.tls);
}

/** Resource names (`kubernetes://NAME`) that DestinationRules visible from `namespace` set as credentialName. */
export function destinationRuleCredentials(push: PushContext, namespace: string): ReadonlySet<string> {
  return push.memo(`secrets:dr-credentials:${namespace}`, () => {
    const out = new Set<string>();
    for (const dr of push.input.destinationRules as readonly Resource<"DestinationRule">[]) {
      const ns = dr.metadata.namespace;
      if (ns !== namespace && !visibleFrom(exportToSet(dr.spec.exportTo, ns), namespace)) continue;
      tlsCredentialNames(dr.spec.trafficPolicy, out);
      for (const s of dr.spec.subsets ?? []) tlsCredentialNames(s.trafficPolicy, out);
    }
    return out;
  });
}

/** Why `proxy` may not read `ref`, or undefined when it may. */
export function secretDenial(proxy: Proxy, ref: SecretReference, push: PushContext): string | undefined {
  if (ref.namespace !== proxy.namespace) return `the secret is in namespace ${ref.namespace}, the proxy in ${proxy.namespace}: a proxy reads only its own namespace's secrets`;
  if (ref.caOnly || proxy.type === "router") return undefined;
  if (destinationRuleCredentials(push, proxy.namespace).has(ref.resourceName)) return undefined;
  return `sidecars read a certificate and key only when a DestinationRule visible in ${proxy.namespace} names it as credentialName`;
}

// One Secret object per credential version and resource name: every proxy that reads it shares
// the object (and so its encoding).
const built = new WeakMap<Credential, Map<string, Secret>>();

function shared(cred: Credential, resourceName: string, make: () => Secret): Secret {
  let m = built.get(cred);
  if (!m) built.set(cred, (m = new Map()));
  let s = m.get(resourceName);
  if (!s) m.set(resourceName, (s = make()));
  return s;
}

/**
 * The Envoy Secret for a reference: `tls_certificate` (chain + key, inline bytes) or, for `-cacert`,
 * `validation_context.trusted_ca`. An error says why there is none (missing, or lacking the part).
 */
export function buildSecret(ref: SecretReference, credentials: CredentialSource): { secret: Secret } | { error: string } {
  const where = `${ref.namespace}/${ref.name}`;
  if (ref.caOnly) {
    // Istio's GetCaCert: a secret named NAME-cacert if there is one, else NAME's CA.
    const base = ref.name.slice(0, -SDS_CA_SUFFIX.length);
    const own = credentials.get(ref.namespace, ref.name);
    const cred = own ?? credentials.get(ref.namespace, base);
    if (!cred) return { error: `no credential ${ref.namespace}/${ref.name} or ${ref.namespace}/${base}` };
    const ca = cred.caCertificate;
    if (!ca) return { error: `credential ${cred.namespace}/${cred.name} has no CA certificate (ca.crt, cacert or NAME.ca.crt)` };
    return { secret: shared(cred, ref.resourceName, () => ({ name: ref.resourceName, validationContext: { trustedCa: { inlineBytes: ca } } })) };
  }
  const cred = credentials.get(ref.namespace, ref.name);
  if (!cred) return { error: `no credential ${where}` };
  const chain = cred.certificateChain;
  const key = cred.privateKey();
  if (!chain || !key) {
    // A CA-only credential named as it is (a Gateway's caCertCredentialName): its trust anchors.
    const ca = cred.caCertificate;
    if (ca) return { secret: shared(cred, ref.resourceName, () => ({ name: ref.resourceName, validationContext: { trustedCa: { inlineBytes: ca } } })) };
    return { error: `credential ${where} has no certificate and key` };
  }
  return { secret: shared(cred, ref.resourceName, () => ({ name: ref.resourceName, tlsCertificate: { certificateChain: { inlineBytes: chain }, privateKey: { inlineBytes: key } } })) };
}

/** The credential keys (`namespace/name`) a resource name depends on: NAME and NAME-cacert go together (Istio's relatedConfigs). */
export function secretDependencies(ref: SecretReference): string[] {
  const base = ref.caOnly ? ref.name.slice(0, -SDS_CA_SUFFIX.length) : ref.name;
  return [`${ref.namespace}/${base}`, `${ref.namespace}/${base}${SDS_CA_SUFFIX}`];
}

/** A copy of a Secret fit for a debug page: the private key replaced by "[redacted]", as Envoy's admin does; bytes as base64. */
export function redactedSecret(s: Secret): Record<string, unknown> {
  const b64 = (d: { inlineBytes?: Uint8Array | null } | null | undefined) => (d?.inlineBytes ? { inlineBytes: Buffer.from(d.inlineBytes).toString("base64") } : d);
  const out: Record<string, unknown> = { name: s.name };
  if (s.tlsCertificate) out.tlsCertificate = { certificateChain: b64(s.tlsCertificate.certificateChain), privateKey: { inlineString: "[redacted]" } };
  if (s.validationContext) out.validationContext = { trustedCa: b64(s.validationContext.trustedCa) };
  return out;
}
