// The local workload credential: a stand-in for a projected Kubernetes service-account token. The
// control plane signs a short-lived JWT (ES256) binding a workload to its namespace and service
// account, with a key kept in its state folder (0600); `tsmesh up` hands each workload its token in
// a file, and the CA verifies it on every CreateCertificate call (LocalCredentialAuthenticator).
// The claims are shaped as Kubernetes writes them (iss, aud, sub system:serviceaccount:NS:SA,
// kubernetes.io.{namespace, serviceaccount.name}), so the verifying side reads like a TokenReview.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../core/atomic-file.js";
import { dirname } from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { AuthResult, Authenticator, CallerIdentity } from "./authenticator.js";

/** The issuer (iss) of local credentials. */
export const LOCAL_CREDENTIAL_ISSUER = "tsmesh";
/** The audience (aud) the CA requires, as istiod requires "istio-ca" of a third-party token. */
export const CA_AUDIENCE = "istio-ca";
/** A credential's lifetime (Kubernetes' projected tokens for Istio default to one hour). */
export const LOCAL_CREDENTIAL_TTL_S = 3600;
/** Clock skew tolerated on exp/nbf (the issuer and the verifier usually share one clock). */
const CLOCK_TOLERANCE_S = 5;

// Kubernetes object names (RFC 1123 subdomain), as SPIFFE IDs carry them.
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface IssuedCredential {
  token: string;
  expiresAt: Date;
}

/**
 * The key that signs local credentials, loaded from `keyFile` or made there on first use (P-256,
 * PKCS #8, mode 0600). The private key stays in this object; nothing here logs it.
 */
export class LocalCredentialIssuer {
  private constructor(
    private readonly privateKey: KeyObject,
    /** The public half, for the authenticator. */
    readonly publicKey: KeyObject,
  ) {}

  static open(keyFile: string): LocalCredentialIssuer {
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      writeFileAtomic(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, durable: true });
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(keyFile));
    } catch {
      throw new Error(`workload credential key ${keyFile} is not a readable unencrypted private key (remove it to make a new one)`);
    }
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new Error(`workload credential key ${keyFile} is not an EC P-256 key (ES256); remove it to make a new one`);
    }
    return new LocalCredentialIssuer(key, createPublicKey(key));
  }

  /** A token for NAMESPACE/SERVICE_ACCOUNT, valid from `now` for `ttlSeconds` (default 1 h). */
  async issue(id: CallerIdentity, o: { now?: Date; ttlSeconds?: number } = {}): Promise<IssuedCredential> {
    if (!K8S_NAME.test(id.namespace) || !K8S_NAME.test(id.serviceAccount)) throw new Error(`${id.namespace}/${id.serviceAccount} is not a Kubernetes namespace and service account name`);
    const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
    const exp = now + (o.ttlSeconds ?? LOCAL_CREDENTIAL_TTL_S);
    const token = await new SignJWT({ "kubernetes.io": { namespace: id.namespace, serviceaccount: { name: id.serviceAccount } } })
      .setProtectedHeader({ alg: "ES256", typ: "JWT" })
      .setIssuer(LOCAL_CREDENTIAL_ISSUER)
      .setAudience([CA_AUDIENCE])
      .setSubject(`system:serviceaccount:${id.namespace}:${id.serviceAccount}`)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(exp)
      .sign(this.privateKey);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  authenticator(o: { now?: () => Date } = {}): LocalCredentialAuthenticator {
    return new LocalCredentialAuthenticator(this.publicKey, o.now);
  }
}

/** The most a token may weigh before it is even parsed (a local token is ~400 bytes). */
const MAX_TOKEN_BYTES = 8192;

/** Verifies local credentials: ES256 only, signed by the issuer's key, iss/aud/exp/nbf checked. */
export class LocalCredentialAuthenticator implements Authenticator {
  readonly name = "local-jwt";
  constructor(
    private readonly publicKey: KeyObject,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async authenticate(token: string): Promise<AuthResult> {
    if (token.length === 0) return { refused: "no token" };
    if (token.length > MAX_TOKEN_BYTES) return { refused: `token of ${token.length} bytes exceeds ${MAX_TOKEN_BYTES}` };
    let payload: Record<string, unknown>;
    try {
      // algorithms pins ES256: "none" and HS256-with-the-public-key (key confusion) never verify.
      ({ payload } = await jwtVerify(token, this.publicKey, {
        algorithms: ["ES256"],
        issuer: LOCAL_CREDENTIAL_ISSUER,
        audience: CA_AUDIENCE,
        requiredClaims: ["exp", "nbf", "iat", "sub"],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: this.now(),
      }));
    } catch (e) {
      return { refused: describeJoseError(e) };
    }
    const k8s = payload["kubernetes.io"] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
    const namespace = k8s?.namespace;
    const serviceAccount = k8s?.serviceaccount?.name;
    if (typeof namespace !== "string" || typeof serviceAccount !== "string" || !K8S_NAME.test(namespace) || !K8S_NAME.test(serviceAccount)) {
      return { refused: "the token does not name a valid kubernetes.io namespace and service account" };
    }
    if (payload.sub !== `system:serviceaccount:${namespace}:${serviceAccount}`) return { refused: "the token's sub does not match its kubernetes.io claims" };
    return { identity: { namespace, serviceAccount } };
  }
}

/** A refusal reason from jose's error, without any part of the token. */
function describeJoseError(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return "the token has expired";
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") return "the token is not valid yet (nbf)";
    return `the token's "${e.claim}" claim is wrong or missing`;
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify (not signed by this control plane)";
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not ES256";
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return "the token is not a well-formed signed JWT";
  if (e instanceof joseErrors.JOSENotSupported) return "the token uses an unsupported algorithm";
  return "the token cannot be verified";
}
