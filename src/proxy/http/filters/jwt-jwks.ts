// A JSON Web Key Set as jwt_verify_lib reads it (Jwks::createFrom), and signature verification
// with it (verifyJwtWithoutTimeChecking) through `jose`. Each key is checked when the set is read
// (kty, its fields, alg against the key type, EC alg/crv agreement, OKP Ed25519 only); an invalid
// key is dropped, and a set without any valid key is refused. A token is tried against the keys
// whose kid matches (when both have one) and whose alg matches (when the key names one), each only
// with algorithms of its own family: RS*/PS* on RSA, ES* on EC, HS* on oct, EdDSA on OKP — so an
// HS256 token "signed" with an RSA public key never verifies. Bounded: the set's size and number
// of keys.
import type { JWK } from "jose";
import { base64urlDecode, type Jwt, JwtStatus, type JsonObject, jsonObject, rememberVerifiedJwt } from "./jwt-token.js";

const S = JwtStatus;

/** The biggest JWKS document read (local or fetched). */
export const MAX_JWKS_BYTES = 256 * 1024;
/** The most keys one set keeps. */
export const MAX_JWKS_KEYS = 64;

/** One usable key. */
export interface Jwk {
  readonly kty: "RSA" | "EC" | "oct" | "OKP";
  /** "" when absent. */
  readonly kid: string;
  readonly alg: string;
  /** The key as jose imports it (public parts only, no use/key_ops/alg). */
  readonly jwk: JWK;
}

export interface Jwks {
  readonly keys: readonly Jwk[];
}

const str = (o: JsonObject, k: string): { v?: string; bad: boolean } => {
  if (!Object.prototype.hasOwnProperty.call(o, k)) return { bad: false };
  const v = o[k];
  return typeof v === "string" ? { v, bad: false } : { bad: true };
};

const EC_CRV: Readonly<Record<string, { crv: string; bytes: number }>> = {
  ES256: { crv: "P-256", bytes: 32 },
  ES384: { crv: "P-384", bytes: 48 },
  ES512: { crv: "P-521", bytes: 66 },
};

function rsaKey(o: JsonObject, kid: string, alg: string): Jwk | JwtStatus {
  if (alg && !alg.startsWith("RS") && !alg.startsWith("PS")) return S.JwksRSAKeyBadAlg;
  const n = str(o, "n");
  if (n.bad) return S.JwksRSAKeyBadN;
  if (n.v === undefined) return S.JwksRSAKeyMissingN;
  const e = str(o, "e");
  if (e.bad) return S.JwksRSAKeyBadE;
  if (e.v === undefined) return S.JwksRSAKeyMissingE;
  const nb = base64urlDecode(n.v);
  const eb = base64urlDecode(e.v);
  if (nb === undefined || eb === undefined || nb.length === 0) return S.JwksRsaParseError;
  // Only the standard exponents, as jwt_verify_lib.
  const ev = eb.length <= 4 ? eb.reduce((a, b) => a * 256 + b, 0) : -1;
  if (ev !== 3 && ev !== 65537) return S.JwksRsaParseError;
  return { kty: "RSA", kid, alg, jwk: { kty: "RSA", n: n.v.replace(/=+$/, ""), e: e.v.replace(/=+$/, "") } };
}

function ecKey(o: JsonObject, kid: string, alg: string): Jwk | JwtStatus {
  if (alg && !alg.startsWith("ES")) return S.JwksECKeyBadAlg;
  const c = str(o, "crv");
  if (c.bad) return S.JwksECKeyBadCrv;
  let crv = c.v ?? "";
  if (alg && crv && EC_CRV[alg]?.crv !== crv) return S.JwksECKeyAlgNotCompatibleWithCrv;
  if (!alg && !crv) crv = "P-256";
  const spec = alg ? EC_CRV[alg] : Object.values(EC_CRV).find((x) => x.crv === crv);
  if (spec === undefined) return S.JwksECKeyAlgOrCrvUnsupported;
  const x = str(o, "x");
  if (x.bad) return S.JwksECKeyBadX;
  if (x.v === undefined) return S.JwksECKeyMissingX;
  const y = str(o, "y");
  if (y.bad) return S.JwksECKeyBadY;
  if (y.v === undefined) return S.JwksECKeyMissingY;
  const xb = base64urlDecode(x.v);
  const yb = base64urlDecode(y.v);
  if (xb === undefined || yb === undefined) return S.JwksEcXorYBadBase64;
  if (xb.length !== spec.bytes || yb.length !== spec.bytes) return S.JwksEcParseError;
  return { kty: "EC", kid, alg, jwk: { kty: "EC", crv: spec.crv, x: x.v.replace(/=+$/, ""), y: y.v.replace(/=+$/, "") } };
}

function octKey(o: JsonObject, kid: string, alg: string): Jwk | JwtStatus {
  if (alg && alg !== "HS256" && alg !== "HS384" && alg !== "HS512") return S.JwksHMACKeyBadAlg;
  const k = str(o, "k");
  if (k.bad) return S.JwksHMACKeyBadK;
  if (k.v === undefined) return S.JwksHMACKeyMissingK;
  const kb = base64urlDecode(k.v);
  if (kb === undefined || kb.length === 0) return S.JwksOctBadBase64;
  return { kty: "oct", kid, alg, jwk: { kty: "oct", k: k.v.replace(/=+$/, "") } };
}

function okpKey(o: JsonObject, kid: string, alg: string): Jwk | JwtStatus {
  if (alg && alg !== "EdDSA") return S.JwksOKPKeyBadAlg;
  const c = str(o, "crv");
  if (c.bad) return S.JwksOKPKeyBadCrv;
  if (c.v === undefined) return S.JwksOKPKeyMissingCrv;
  if (c.v !== "Ed25519") return S.JwksOKPKeyCrvUnsupported;
  const x = str(o, "x");
  if (x.bad) return S.JwksOKPKeyBadX;
  if (x.v === undefined) return S.JwksOKPKeyMissingX;
  const xb = base64urlDecode(x.v);
  if (xb === undefined) return S.JwksOKPXBadBase64;
  if (xb.length !== 32) return S.JwksOKPXWrongLength;
  return { kty: "OKP", kid, alg, jwk: { kty: "OKP", crv: "Ed25519", x: x.v.replace(/=+$/, "") } };
}

function extractJwk(o: JsonObject): Jwk | JwtStatus {
  const kty = str(o, "kty");
  if (kty.bad) return S.JwksBadKty;
  if (kty.v === undefined) return S.JwksMissingKty;
  // kid and alg are optional; a non-string one counts as absent (as jwt_verify_lib).
  const kid = str(o, "kid").v ?? "";
  const alg = str(o, "alg").v ?? "";
  switch (kty.v) {
    case "RSA":
      return rsaKey(o, kid, alg);
    case "EC":
      return ecKey(o, kid, alg);
    case "oct":
      return octKey(o, kid, alg);
    case "OKP":
      return okpKey(o, kid, alg);
    default:
      return S.JwksNotImplementedKty;
  }
}

/** jwt_verify_lib's Jwks::createFrom(JWKS): the set, or the status of its first problem. */
export function parseJwks(text: string | Buffer): Jwks | JwtStatus {
  const buf = typeof text === "string" ? Buffer.from(text) : text;
  if (buf.length > MAX_JWKS_BYTES) return S.JwksParseError;
  const doc = jsonObject(buf);
  if (doc === undefined) return S.JwksParseError;
  if (!Object.prototype.hasOwnProperty.call(doc, "keys")) return S.JwksNoKeys;
  const list = doc.keys;
  if (!Array.isArray(list)) return S.JwksBadKeys;
  const keys: Jwk[] = [];
  let first: JwtStatus = S.Ok;
  for (const k of list as readonly unknown[]) {
    if (k === null || typeof k !== "object" || Array.isArray(k)) continue;
    const r = extractJwk(k as JsonObject);
    if (typeof r === "number") {
      if (first === S.Ok) first = r;
      continue;
    }
    if (keys.length < MAX_JWKS_KEYS) keys.push(r);
  }
  if (keys.length === 0) return first === S.Ok ? S.JwksNoValidKeys : first;
  return { keys };
}

/** Which key types sign with which algorithm family. */
function familyFits(kty: Jwk["kty"], alg: string): boolean {
  switch (kty) {
    case "RSA":
      return alg.startsWith("RS") || alg.startsWith("PS");
    case "EC":
      return alg.startsWith("ES");
    case "oct":
      return alg.startsWith("HS");
    default:
      return alg === "EdDSA";
  }
}

/** Keys as jose imported them, per JWK and algorithm: importing is the costly part, done once. */
type ImportedKey = Awaited<ReturnType<typeof import("jose").importJWK>>;
const imported = new WeakMap<Jwk, Map<string, Promise<ImportedKey>>>();

/** jose, loaded when a proxy first verifies a signature (a sidecar without JWT rules never loads it). */
let jose: Promise<typeof import("jose")> | undefined;
const loadJose = (): Promise<typeof import("jose")> => (jose ??= import("jose"));

function importedKey(key: Jwk, alg: string): Promise<ImportedKey> {
  let byAlg = imported.get(key);
  if (byAlg === undefined) imported.set(key, (byAlg = new Map()));
  let k = byAlg.get(alg);
  if (k === undefined) byAlg.set(alg, (k = loadJose().then((j) => j.importJWK(key.jwk, alg))));
  return k;
}

/** Does `key` verify the token's signature with the token's alg? Never throws. */
async function verifiesWith(jwt: Jwt, key: Jwk): Promise<boolean> {
  if (key.kty === "EC" && EC_CRV[jwt.alg]?.crv !== key.jwk.crv) return false;
  try {
    const { compactVerify } = await loadJose();
    await compactVerify(jwt.token, await importedKey(key, jwt.alg), { algorithms: [jwt.alg] });
    return true;
  } catch {
    return false;
  }
}

/**
 * Tokens whose signature a set verified, per set: the signature of the same token against the same
 * keys is the same answer, so a token seen again skips the public-key operation (time and claim
 * checks still run on every request). Only successes are kept, at most VERIFIED_PER_SET per set
 * (oldest dropped first); a new set (a JWKS refetch or config change) starts empty.
 */
const verified = new WeakMap<Jwks, Set<string>>();
export const VERIFIED_PER_SET = 1024;

function rememberVerified(jwks: Jwks, token: string): void {
  let set = verified.get(jwks);
  if (set === undefined) verified.set(jwks, (set = new Set()));
  if (set.size >= VERIFIED_PER_SET) set.delete(set.values().next().value as string);
  set.add(token);
}

/**
 * jwt_verify_lib's verifyJwtWithoutTimeChecking. A token this set verified before answers at once
 * (no promise), so a request carrying it passes the filter without yielding to the event loop.
 */
export function verifySignature(jwt: Jwt, jwks: Jwks): JwtStatus | Promise<JwtStatus> {
  if (verified.get(jwks)?.has(jwt.token) === true) return S.Ok;
  return verifyWithKeys(jwt, jwks);
}

async function verifyWithKeys(jwt: Jwt, jwks: Jwks): Promise<JwtStatus> {
  let matched = false;
  for (const key of jwks.keys) {
    if (jwt.kid && key.kid && key.kid !== jwt.kid) continue;
    if (key.alg && key.alg !== jwt.alg) continue;
    matched = true;
    if (!familyFits(key.kty, jwt.alg)) continue;
    if (key.kty === "OKP") {
      const sig = base64urlDecode(jwt.token.slice(jwt.token.lastIndexOf(".") + 1));
      if (sig === undefined || sig.length !== 64) return S.JwtEd25519SignatureWrongLength;
    }
    if (await verifiesWith(jwt, key)) {
      rememberVerified(jwks, jwt.token);
      rememberVerifiedJwt(jwt);
      return S.Ok;
    }
  }
  return matched ? S.JwtVerificationFail : S.JwksKidAlgMismatch;
}
