// Workload identities as Istio writes them: SPIFFE IDs of the form
// spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT, parsed strictly (the CA compares them
// byte for byte, so two spellings of one identity must not both be accepted).

export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// RFC 1123 labels for namespaces and service accounts (Kubernetes names); a trust domain is a DNS
// name in lower case (SPIFFE: only lower-case letters, digits, '.', '-' and '_').
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** spiffe://TD/ns/NS/sa/SA for an identity (its parts are assumed valid: see parseSpiffeId). */
export function spiffeUri(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** The identity a SPIFFE URI names, or an error saying what is wrong with it. */
export function parseSpiffeId(uri: string): SpiffeId | Error {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (m === null) return new Error(`"${uri}" is not a SPIFFE ID of the form spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`);
  const [, trustDomain, namespace, serviceAccount] = m;
  if (!TRUST_DOMAIN.test(trustDomain)) return new Error(`"${uri}": trust domain "${trustDomain}" is not a lower-case DNS name`);
  if (!K8S_NAME.test(namespace)) return new Error(`"${uri}": namespace "${namespace}" is not a Kubernetes name`);
  if (!K8S_NAME.test(serviceAccount)) return new Error(`"${uri}": service account "${serviceAccount}" is not a Kubernetes name`);
  return { trustDomain, namespace, serviceAccount };
}

export function sameIdentity(a: SpiffeId, b: SpiffeId): boolean {
  return a.trustDomain === b.trustDomain && a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;
}
