// A JSON Web Token as Envoy's jwt_authn reads it (jwt_verify_lib's Jwt::parseFromString): exactly
// three non-empty dot-separated sections, a base64url JSON header with a supported `alg` (never
// `none`) and an optional string `kid`, a base64url JSON payload whose registered claims have the
// right types (iss/sub/jti strings, iat/nbf/exp non-negative numbers, aud a string or a list of
// strings), and a base64url signature. Failures carry jwt_verify_lib's status (its number, for
// failed_status_in_metadata, and its message, the 401 body users see). Decoded JSON objects have
// no prototype, so a claim named `__proto__` is plain data.

/** jwt_verify_lib's Status values (their numbers are the enum's order). */
export const JwtStatus = {
  Ok: 0,
  JwtMissed: 1,
  JwtNotYetValid: 2,
  JwtExpired: 3,
  JwtBadFormat: 4,
  JwtHeaderParseErrorBadBase64: 5,
  JwtHeaderParseErrorBadJson: 6,
  JwtHeaderBadAlg: 7,
  JwtHeaderNotImplementedAlg: 8,
  JwtHeaderBadKid: 9,
  JwtPayloadParseErrorBadBase64: 10,
  JwtPayloadParseErrorBadJson: 11,
  JwtPayloadParseErrorIssNotString: 12,
  JwtPayloadParseErrorSubNotString: 13,
  JwtPayloadParseErrorIatNotInteger: 14,
  JwtPayloadParseErrorIatOutOfRange: 15,
  JwtPayloadParseErrorNbfNotInteger: 16,
  JwtPayloadParseErrorNbfOutOfRange: 17,
  JwtPayloadParseErrorExpNotInteger: 18,
  JwtPayloadParseErrorExpOutOfRange: 19,
  JwtPayloadParseErrorJtiNotString: 20,
  JwtPayloadParseErrorAudNotString: 21,
  JwtSignatureParseErrorBadBase64: 22,
  JwtEd25519SignatureWrongLength: 23,
  JwtUnknownIssuer: 24,
  JwtAudienceNotAllowed: 25,
  JwtVerificationFail: 26,
  JwtMultipleTokens: 27,
  JwksParseError: 28,
  JwksNoKeys: 29,
  JwksBadKeys: 30,
  JwksNoValidKeys: 31,
  JwksKidAlgMismatch: 32,
  JwksRsaParseError: 33,
  JwksEcCreateKeyFail: 34,
  JwksEcXorYBadBase64: 35,
  JwksEcParseError: 36,
  JwksOctBadBase64: 37,
  JwksOKPXBadBase64: 38,
  JwksOKPXWrongLength: 39,
  JwksFetchFail: 40,
  JwksMissingKty: 41,
  JwksBadKty: 42,
  JwksNotImplementedKty: 43,
  JwksRSAKeyBadAlg: 44,
  JwksRSAKeyMissingN: 45,
  JwksRSAKeyBadN: 46,
  JwksRSAKeyMissingE: 47,
  JwksRSAKeyBadE: 48,
  JwksECKeyBadAlg: 49,
  JwksECKeyBadCrv: 50,
  JwksECKeyAlgOrCrvUnsupported: 51,
  JwksECKeyAlgNotCompatibleWithCrv: 52,
  JwksECKeyMissingX: 53,
  JwksECKeyBadX: 54,
  JwksECKeyMissingY: 55,
  JwksECKeyBadY: 56,
  JwksHMACKeyBadAlg: 57,
  JwksHMACKeyMissingK: 58,
  JwksHMACKeyBadK: 59,
  JwksOKPKeyBadAlg: 60,
  JwksOKPKeyMissingCrv: 61,
  JwksOKPKeyBadCrv: 62,
  JwksOKPKeyCrvUnsupported: 63,
  JwksOKPKeyMissingX: 64,
  JwksOKPKeyBadX: 65,
} as const;
export type JwtStatus = (typeof JwtStatus)[keyof typeof JwtStatus];

const S = JwtStatus;

/** jwt_verify_lib's getStatusString for the statuses tsmesh produces. */
const MESSAGES: Readonly<Record<number, string>> = {
  [S.Ok]: "OK",
  [S.JwtMissed]: "Jwt is missing",
  [S.JwtNotYetValid]: "Jwt not yet valid",
  [S.JwtExpired]: "Jwt is expired",
  [S.JwtBadFormat]: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
  [S.JwtHeaderParseErrorBadBase64]: "Jwt header is an invalid Base64url encoded",
  [S.JwtHeaderParseErrorBadJson]: "Jwt header is an invalid JSON",
  [S.JwtHeaderBadAlg]: "Jwt header [alg] field is required and must be a string",
  [S.JwtHeaderNotImplementedAlg]: "Jwt header [alg] is not supported",
  [S.JwtHeaderBadKid]: "Jwt header [kid] field is not a string",
  [S.JwtPayloadParseErrorBadBase64]: "Jwt payload is an invalid Base64url encoded",
  [S.JwtPayloadParseErrorBadJson]: "Jwt payload is an invalid JSON",
  [S.JwtPayloadParseErrorIssNotString]: "Jwt payload [iss] field is not a string",
  [S.JwtPayloadParseErrorSubNotString]: "Jwt payload [sub] field is not a string",
  [S.JwtPayloadParseErrorIatNotInteger]: "Jwt payload [iat] field is not an integer",
  [S.JwtPayloadParseErrorIatOutOfRange]: "Jwt payload [iat] field is not a positive 64 bit integer",
  [S.JwtPayloadParseErrorNbfNotInteger]: "Jwt payload [nbf] field is not an integer",
  [S.JwtPayloadParseErrorNbfOutOfRange]: "Jwt payload [nbf] field is not a positive 64 bit integer",
  [S.JwtPayloadParseErrorExpNotInteger]: "Jwt payload [exp] field is not an integer",
  [S.JwtPayloadParseErrorExpOutOfRange]: "Jwt payload [exp] field is not a positive 64 bit integer",
  [S.JwtPayloadParseErrorJtiNotString]: "Jwt payload [jti] field is not a string",
  [S.JwtPayloadParseErrorAudNotString]: "Jwt payload [aud] field is not a string or string list",
  [S.JwtSignatureParseErrorBadBase64]: "Jwt signature is an invalid Base64url encoded",
  [S.JwtEd25519SignatureWrongLength]: "Jwt ED25519 signature is wrong length",
  [S.JwtUnknownIssuer]: "Jwt issuer is not configured",
  [S.JwtAudienceNotAllowed]: "Audiences in Jwt are not allowed",
  [S.JwtVerificationFail]: "Jwt verification fails",
  [S.JwtMultipleTokens]: "Found multiple Jwt tokens",
  [S.JwksParseError]: "Jwks is an invalid JSON",
  [S.JwksNoKeys]: "Jwks does not have [keys] field",
  [S.JwksBadKeys]: "[keys] in Jwks is not an array",
  [S.JwksNoValidKeys]: "Jwks doesn't have any valid public key",
  [S.JwksKidAlgMismatch]: "Jwks doesn't have key to match kid or alg from Jwt",
  [S.JwksRsaParseError]: "Jwks RSA [n] or [e] field is missing or has a parse error",
  [S.JwksEcCreateKeyFail]: "Jwks EC create key fail",
  [S.JwksEcXorYBadBase64]: "Jwks EC [x] or [y] field is an invalid Base64.",
  [S.JwksEcParseError]: "Jwks EC [x] and [y] fields have a parse error.",
  [S.JwksOctBadBase64]: "Jwks Oct key is an invalid Base64",
  [S.JwksOKPXBadBase64]: "Jwks OKP [x] field is an invalid Base64.",
  [S.JwksOKPXWrongLength]: "Jwks OKP [x] field is wrong length.",
  [S.JwksFetchFail]: "Jwks remote fetch is failed",
  [S.JwksMissingKty]: "[kty] is missing in [keys]",
  [S.JwksBadKty]: "[kty] is bad in [keys]",
  [S.JwksNotImplementedKty]: "[kty] is not supported in [keys]",
  [S.JwksRSAKeyBadAlg]: "[alg] is not started with [RS] or [PS] for an RSA key",
  [S.JwksRSAKeyMissingN]: "[n] field is missing for a RSA key",
  [S.JwksRSAKeyBadN]: "[n] field is not string for a RSA key",
  [S.JwksRSAKeyMissingE]: "[e] field is missing for a RSA key",
  [S.JwksRSAKeyBadE]: "[e] field is not string for a RSA key",
  [S.JwksECKeyBadAlg]: "[alg] is not started with [ES] for an EC key",
  [S.JwksECKeyBadCrv]: "[crv] field is not string for an EC key",
  [S.JwksECKeyAlgOrCrvUnsupported]: "[crv] or [alg] field is not supported for an EC key",
  [S.JwksECKeyAlgNotCompatibleWithCrv]: "[crv] field specified is not compatible with [alg] for an EC key",
  [S.JwksECKeyMissingX]: "[x] field is missing for an EC key",
  [S.JwksECKeyBadX]: "[x] field is not string for an EC key",
  [S.JwksECKeyMissingY]: "[y] field is missing for an EC key",
  [S.JwksECKeyBadY]: "[y] field is not string for an EC key",
  [S.JwksHMACKeyBadAlg]: "[alg] does not start with [HS] for an HMAC key",
  [S.JwksHMACKeyMissingK]: "[k] field is missing for an HMAC key",
  [S.JwksHMACKeyBadK]: "[k] field is not string for an HMAC key",
  [S.JwksOKPKeyBadAlg]: "[alg] is not [EdDSA] for an OKP key",
  [S.JwksOKPKeyMissingCrv]: "[crv] field is missing for an OKP key",
  [S.JwksOKPKeyBadCrv]: "[crv] field is not string for an OKP key",
  [S.JwksOKPKeyCrvUnsupported]: "[crv] field is not supported for an OKP key",
  [S.JwksOKPKeyMissingX]: "[x] field is missing for an OKP key",
  [S.JwksOKPKeyBadX]: "[x] field is not string for an OKP key",
};

/** The status message (jwt_verify_lib's getStatusString). */
export function statusMessage(s: JwtStatus): string {
  return MESSAGES[s] ?? "";
}

/** The algorithms jwt_verify_lib implements. */
export const JWT_ALGS: ReadonlySet<string> = new Set(["ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"]);

/**
 * The longest token tsmesh looks at: anything longer is refused as malformed before it is split or
 * decoded (a token lives in one request header, whose size the HCM bounds anyway).
 */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** A JSON value with prototype-less objects. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };
export type JsonObject = { readonly [k: string]: Json };

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict base64url (padding optional, as absl's WebSafeBase64Unescape): undefined when invalid. */
export function base64urlDecode(s: string): Buffer | undefined {
  if (!B64URL.test(s)) return undefined;
  const body = s.replace(/=+$/, "");
  if (body.length % 4 === 1) return undefined;
  if (s.length !== body.length && s.length % 4 !== 0) return undefined;
  return Buffer.from(body, "base64url");
}

/** Copies parsed JSON into objects without a prototype (a `__proto__` key stays a key). */
function detach(v: unknown): Json {
  if (v === null || typeof v !== "object") return v as Json;
  if (Array.isArray(v)) return v.map(detach);
  const out = Object.create(null) as Record<string, Json>;
  for (const k of Object.keys(v)) out[k] = detach((v as Record<string, unknown>)[k]);
  return out;
}

/** A JSON object from bytes, or undefined (not UTF-8 JSON, or not an object). */
export function jsonObject(buf: Buffer): JsonObject | undefined {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString("utf8"));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  return detach(v) as JsonObject;
}

/** A parsed (not yet verified) token. */
export interface Jwt {
  readonly token: string;
  readonly alg: string;
  /** "" when absent. */
  readonly kid: string;
  readonly header: JsonObject;
  readonly payload: JsonObject;
  /** The payload section as sent (base64url, forward_payload_header). */
  readonly payloadB64: string;
  /** "" when absent. */
  readonly iss: string;
  readonly sub: string;
  readonly audiences: readonly string[];
  /** Seconds since the epoch; 0 when absent. */
  readonly nbf: number;
  readonly exp: number;
  /** Whether the token has an exp claim (max_lifetime / require_expiration). */
  readonly hasExp: boolean;
}

type Claim<T> = { ok: true; v: T } | { ok: false; status: JwtStatus };

function stringClaim(o: JsonObject, k: string, bad: JwtStatus): Claim<string> {
  if (!Object.prototype.hasOwnProperty.call(o, k)) return { ok: true, v: "" };
  const v = o[k];
  return typeof v === "string" ? { ok: true, v } : { ok: false, status: bad };
}

function timeClaim(o: JsonObject, k: string, notInt: JwtStatus, range: JwtStatus): Claim<number> {
  if (!Object.prototype.hasOwnProperty.call(o, k)) return { ok: true, v: 0 };
  const v = o[k];
  if (typeof v !== "number") return { ok: false, status: notInt };
  if (v < 0 || v >= 2 ** 64) return { ok: false, status: range };
  return { ok: true, v: Math.floor(v) };
}

/** jwt_verify_lib's Jwt::parseFromString. */
/**
 * Tokens whose signature verified, as parsed (jwt-jwks.ts adds them): a client sends the same
 * token on every request, and parsing it (two base64url decodes, two JSON documents) is then the
 * costliest step left. Only verified tokens get here, so a client cannot fill it with forgeries;
 * at most VERIFIED_TOKENS_KEPT, oldest dropped first. A parsed Jwt is never modified.
 */
const verifiedTokens = new Map<string, Jwt>();
const VERIFIED_TOKENS_KEPT = 1024;

/** Keeps a token whose signature verified, for parseJwt to return as is. */
export function rememberVerifiedJwt(jwt: Jwt): void {
  if (verifiedTokens.has(jwt.token)) return;
  if (verifiedTokens.size >= VERIFIED_TOKENS_KEPT) verifiedTokens.delete(verifiedTokens.keys().next().value as string);
  verifiedTokens.set(jwt.token, jwt);
}

export function parseJwt(token: string): Jwt | JwtStatus {
  const known = verifiedTokens.get(token);
  if (known !== undefined) return known;
  if (token.length > MAX_TOKEN_LENGTH) return S.JwtBadFormat;
  // Empty sections are skipped, as absl::SkipEmpty: exactly three must remain.
  const parts = token.split(".").filter((p) => p.length > 0);
  if (parts.length !== 3) return S.JwtBadFormat;
  const [h64, p64, s64] = parts;
  const hb = base64urlDecode(h64);
  if (hb === undefined) return S.JwtHeaderParseErrorBadBase64;
  const header = jsonObject(hb);
  if (header === undefined) return S.JwtHeaderParseErrorBadJson;
  const alg = header.alg;
  if (typeof alg !== "string") return S.JwtHeaderBadAlg;
  if (!JWT_ALGS.has(alg)) return S.JwtHeaderNotImplementedAlg;
  const kid = stringClaim(header, "kid", S.JwtHeaderBadKid);
  if (!kid.ok) return kid.status;
  const pb = base64urlDecode(p64);
  if (pb === undefined) return S.JwtPayloadParseErrorBadBase64;
  const payload = jsonObject(pb);
  if (payload === undefined) return S.JwtPayloadParseErrorBadJson;
  const iss = stringClaim(payload, "iss", S.JwtPayloadParseErrorIssNotString);
  if (!iss.ok) return iss.status;
  const sub = stringClaim(payload, "sub", S.JwtPayloadParseErrorSubNotString);
  if (!sub.ok) return sub.status;
  const iat = timeClaim(payload, "iat", S.JwtPayloadParseErrorIatNotInteger, S.JwtPayloadParseErrorIatOutOfRange);
  if (!iat.ok) return iat.status;
  const nbf = timeClaim(payload, "nbf", S.JwtPayloadParseErrorNbfNotInteger, S.JwtPayloadParseErrorNbfOutOfRange);
  if (!nbf.ok) return nbf.status;
  const exp = timeClaim(payload, "exp", S.JwtPayloadParseErrorExpNotInteger, S.JwtPayloadParseErrorExpOutOfRange);
  if (!exp.ok) return exp.status;
  const jti = stringClaim(payload, "jti", S.JwtPayloadParseErrorJtiNotString);
  if (!jti.ok) return jti.status;
  let audiences: string[] = [];
  if (Object.prototype.hasOwnProperty.call(payload, "aud")) {
    const aud = payload.aud;
    if (typeof aud === "string") audiences = [aud];
    else if (Array.isArray(aud) && aud.every((a) => typeof a === "string")) audiences = aud as string[];
    else return S.JwtPayloadParseErrorAudNotString;
  }
  if (base64urlDecode(s64) === undefined) return S.JwtSignatureParseErrorBadBase64;
  return {
    token,
    alg,
    kid: kid.v,
    header,
    payload,
    payloadB64: p64,
    iss: iss.v,
    sub: sub.v,
    audiences,
    nbf: nbf.v,
    exp: exp.v,
    hasExp: Object.prototype.hasOwnProperty.call(payload, "exp"),
  };
}

/** jwt_verify_lib's Jwt::verifyTimeConstraint (seconds). */
export function verifyTimeConstraint(jwt: Jwt, now: number, clockSkew: number): JwtStatus {
  if (now + clockSkew < jwt.nbf) return S.JwtNotYetValid;
  if (jwt.exp && now > jwt.exp + clockSkew) return S.JwtExpired;
  return S.Ok;
}
