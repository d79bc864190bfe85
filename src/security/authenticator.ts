// How the mesh CA learns who is calling (istiod's security.Authenticator): a bearer credential in,
// a Kubernetes identity (namespace and service account) out, or a refusal saying why. Local mode
// verifies a token the control plane signed itself (credential.ts); a Kubernetes TokenReview
// authenticator can implement the same interface later.

/** Who a credential says the caller is. */
export interface CallerIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** The outcome of checking one credential: an identity, or why it was refused (no token text). */
export type AuthResult = { readonly identity: CallerIdentity } | { readonly refused: string };

export interface Authenticator {
  /** A short name for logs ("local-jwt", later "kubernetes-tokenreview"). */
  readonly name: string;
  authenticate(token: string): Promise<AuthResult>;
}

/** The token of an `authorization: Bearer TOKEN` value, or undefined (istiod's extractBearerToken). */
export function bearerToken(values: readonly unknown[]): string | undefined {
  if (values.length !== 1 || typeof values[0] !== "string") return undefined;
  const m = /^Bearer ([^\s]+)$/i.exec(values[0].trim());
  return m?.[1];
}
