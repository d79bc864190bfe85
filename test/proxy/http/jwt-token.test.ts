// jwt_authn's token and key handling, as jwt_verify_lib: an adversarial table of tokens (sections,
// base64url, JSON, alg none, claim types, a huge token, a `__proto__` claim) each giving Envoy's
// status; signatures checked with Istio's sample JWKS and keys generated here (RS256/RS384/PS256
// with a key that names no alg, ES256, EdDSA, HS256 with an oct key), refusing algorithm/key-type
// confusion (HS256 "signed" with the RSA public key) and a kid no key has; and the JWKS reader's
// statuses for broken sets.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { exportJWK, SignJWT } from "jose";
import { packageRoot } from "../../../src/core/paths.js";
import { type Jwks, parseJwks, verifySignature } from "../../../src/proxy/http/filters/jwt-jwks.js";
import { type Jwt, JwtStatus, parseJwt, statusMessage, verifyTimeConstraint } from "../../../src/proxy/http/filters/jwt-token.js";

const FIX = join(packageRoot(), "test", "fixtures", "jwt");
const JWKS_TEXT = readFileSync(join(FIX, "jwks.json"), "utf8");
const DEMO = readFileSync(join(FIX, "demo.jwt"), "utf8").trim();
const KEY = createPrivateKey(readFileSync(join(FIX, "key.pem")));
const KID = "DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ";
const b64 = (s: string | Buffer): string => Buffer.from(s).toString("base64url");
const part = (o: unknown): string => b64(JSON.stringify(o));
const HDR = part({ alg: "RS256", kid: KID });
const PAY = part({ iss: "testing@secure.istio.io", sub: "x" });

function jwks(): Jwks {
  const j = parseJwks(JWKS_TEXT);
  assert.equal(typeof j, "object");
  return j as Jwks;
}

function parsed(token: string): Jwt {
  const j = parseJwt(token);
  assert.equal(typeof j, "object", `parse: ${typeof j === "number" ? statusMessage(j) : ""}`);
  return j as Jwt;
}

async function sign(alg: string, key: KeyObject | Uint8Array, kid: string | undefined, claims: Record<string, unknown> = { iss: "i" }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(key);
}

describe("parseJwt: hostile tokens get jwt_verify_lib's status", () => {
  const S = JwtStatus;
  const cases: Array<[string, string, number]> = [
    ["two sections", `${HDR}.${PAY}`, S.JwtBadFormat],
    ["four sections", `${HDR}.${PAY}.c2ln.c2ln`, S.JwtBadFormat],
    ["an empty signature", `${HDR}.${PAY}.`, S.JwtBadFormat],
    ["not base64url in the header", `!!!.${PAY}.c2ln`, S.JwtHeaderParseErrorBadBase64],
    ["a base64 length no encoder makes", `${HDR}a.${PAY}.c2ln`.replace(HDR + "a", "aaaaa"), S.JwtHeaderParseErrorBadBase64],
    ["a header that is not JSON", `${b64("{nope")}.${PAY}.c2ln`, S.JwtHeaderParseErrorBadJson],
    ["a header that is a JSON array", `${b64("[1]")}.${PAY}.c2ln`, S.JwtHeaderParseErrorBadJson],
    ["no alg", `${part({ typ: "JWT" })}.${PAY}.c2ln`, S.JwtHeaderBadAlg],
    ["alg none", `${part({ alg: "none" })}.${PAY}.c2ln`, S.JwtHeaderNotImplementedAlg],
    ["alg None", `${part({ alg: "None" })}.${PAY}.c2ln`, S.JwtHeaderNotImplementedAlg],
    ["a numeric kid", `${part({ alg: "RS256", kid: 7 })}.${PAY}.c2ln`, S.JwtHeaderBadKid],
    ["a payload that is not base64url", `${HDR}.@@@.c2ln`, S.JwtPayloadParseErrorBadBase64],
    ["a payload that is not JSON", `${HDR}.${b64("x")}.c2ln`, S.JwtPayloadParseErrorBadJson],
    ["a numeric iss", `${HDR}.${part({ iss: 1 })}.c2ln`, S.JwtPayloadParseErrorIssNotString],
    ["a list sub", `${HDR}.${part({ sub: ["a"] })}.c2ln`, S.JwtPayloadParseErrorSubNotString],
    ["a string exp", `${HDR}.${part({ exp: "1" })}.c2ln`, S.JwtPayloadParseErrorExpNotInteger],
    ["a negative nbf", `${HDR}.${part({ nbf: -1 })}.c2ln`, S.JwtPayloadParseErrorNbfOutOfRange],
    ["a numeric audience in a list", `${HDR}.${part({ aud: ["a", 1] })}.c2ln`, S.JwtPayloadParseErrorAudNotString],
    ["a string jti of the wrong type", `${HDR}.${part({ jti: {} })}.c2ln`, S.JwtPayloadParseErrorJtiNotString],
    ["a signature that is not base64url", `${HDR}.${PAY}.%%%`, S.JwtSignatureParseErrorBadBase64],
    ["a huge token", `${HDR}.${b64("x".repeat(20000))}.c2ln`, S.JwtBadFormat],
    ["a megabyte of dots", ".".repeat(1 << 20), S.JwtBadFormat],
  ];
  for (const [what, token, status] of cases) {
    it(what, () => assert.equal(parseJwt(token), status, statusMessage(parseJwt(token) as JwtStatus)));
  }

  it("a __proto__ claim is plain data, and no prototype changes", () => {
    const j = parsed(`${HDR}.${b64('{"__proto__":{"polluted":true},"iss":"i","nested":{"__proto__":{"x":1}}}')}.c2ln`);
    assert.equal(Object.getPrototypeOf(j.payload), null);
    assert.ok(Object.prototype.hasOwnProperty.call(j.payload, "__proto__"));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const nested = j.payload.nested as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(nested), null);
    assert.ok(Object.prototype.hasOwnProperty.call(nested, "__proto__"));
  });

  it("Istio's demo token: its claims", () => {
    const j = parsed(DEMO);
    assert.equal(j.alg, "RS256");
    assert.equal(j.kid, KID);
    assert.equal(j.iss, "testing@secure.istio.io");
    assert.equal(j.exp, 4685989700);
    assert.equal(j.payload.foo, "bar");
  });

  it("time: nbf and exp with the clock skew", () => {
    const j = parsed(`${HDR}.${part({ nbf: 1000, exp: 2000 })}.c2ln`);
    assert.equal(verifyTimeConstraint(j, 939, 60), JwtStatus.JwtNotYetValid);
    assert.equal(verifyTimeConstraint(j, 940, 60), JwtStatus.Ok);
    assert.equal(verifyTimeConstraint(j, 2060, 60), JwtStatus.Ok);
    assert.equal(verifyTimeConstraint(j, 2061, 60), JwtStatus.JwtExpired);
  });
});

describe("verifySignature: keys as jwt_verify_lib picks them", () => {
  it("Istio's demo token verifies with Istio's JWKS", async () => {
    assert.equal(await verifySignature(parsed(DEMO), jwks()), JwtStatus.Ok);
  });

  it("a verified token is remembered per key set only: another set without its key refuses it", async () => {
    const set = jwks();
    const demo = parsed(DEMO);
    assert.equal(await verifySignature(demo, set), JwtStatus.Ok);
    assert.equal(await verifySignature(demo, set), JwtStatus.Ok, "again, from the set's memory");
    const other = parseJwks(JSON.stringify({ keys: [{ ...JSON.parse(readFileSync(join(packageRoot(), "test", "fixtures", "jwt", "jwks.json"), "utf8")).keys[0], kid: "another" }] })) as Jwks;
    assert.equal(await verifySignature(demo, other), JwtStatus.JwksKidAlgMismatch);
  });

  it("a changed payload fails", async () => {
    const [h, , s] = DEMO.split(".");
    assert.equal(await verifySignature(parsed(`${h}.${part({ iss: "testing@secure.istio.io", admin: true })}.${s}`), jwks()), JwtStatus.JwtVerificationFail);
  });

  it("a kid the set does not have: no key matches", async () => {
    assert.equal(await verifySignature(parsed(await sign("RS256", KEY, "other")), jwks()), JwtStatus.JwksKidAlgMismatch);
  });

  it("no kid: every key of a fitting algorithm is tried (RS256, RS384, PS256 on a key without alg)", async () => {
    for (const alg of ["RS256", "RS384", "PS256"]) assert.equal(await verifySignature(parsed(await sign(alg, KEY, undefined)), jwks()), JwtStatus.Ok, alg);
  });

  it("HS256 keyed with the RSA public key (algorithm confusion) fails", async () => {
    const pub = createPublicKey(KEY).export({ type: "spki", format: "pem" });
    const forged = await sign("HS256", new Uint8Array(Buffer.from(pub)), KID);
    assert.equal(await verifySignature(parsed(forged), jwks()), JwtStatus.JwtVerificationFail);
  });

  it("a key that names its alg takes only that alg", async () => {
    const doc = JSON.parse(JWKS_TEXT) as { keys: Array<Record<string, string>> };
    doc.keys[0].alg = "RS512";
    const set = parseJwks(JSON.stringify(doc)) as Jwks;
    assert.equal(await verifySignature(parsed(DEMO), set), JwtStatus.JwksKidAlgMismatch);
  });

  it("EC, EdDSA and HMAC keys verify their own algorithms only", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ed = generateKeyPairSync("ed25519");
    const secret = new Uint8Array(Buffer.alloc(32, 7));
    const set = parseJwks(
      JSON.stringify({
        keys: [
          { ...(await exportJWK(ec.publicKey)), kid: "ec" },
          { ...(await exportJWK(ed.publicKey)), kid: "ed" },
          { kty: "oct", k: b64(Buffer.from(secret)), kid: "hs" },
        ],
      }),
    ) as Jwks;
    assert.equal(set.keys.length, 3);
    assert.equal(await verifySignature(parsed(await sign("ES256", ec.privateKey, "ec")), set), JwtStatus.Ok);
    assert.equal(await verifySignature(parsed(await sign("EdDSA", ed.privateKey, "ed")), set), JwtStatus.Ok);
    assert.equal(await verifySignature(parsed(await sign("HS256", secret, "hs")), set), JwtStatus.Ok);
    // The EC key's kid with an RSA signature: the key is of another family.
    assert.equal(await verifySignature(parsed(await sign("RS256", KEY, "ec")), set), JwtStatus.JwtVerificationFail);
    // An HMAC token under the EC key's kid.
    assert.equal(await verifySignature(parsed(await sign("HS256", secret, "ec")), set), JwtStatus.JwtVerificationFail);
  });
});

describe("parseJwks: broken sets", () => {
  const S = JwtStatus;
  const rsa = (JSON.parse(JWKS_TEXT) as { keys: Array<Record<string, string>> }).keys[0];
  const cases: Array<[string, string, number]> = [
    ["not JSON", "{", S.JwksParseError],
    ["no keys", "{}", S.JwksNoKeys],
    ["keys not a list", '{"keys":{}}', S.JwksBadKeys],
    ["an empty list", '{"keys":[]}', S.JwksNoValidKeys],
    ["a key without kty", '{"keys":[{"n":"x"}]}', S.JwksMissingKty],
    ["an unknown kty", '{"keys":[{"kty":"XYZ"}]}', S.JwksNotImplementedKty],
    ["an RSA key with exponent 2", JSON.stringify({ keys: [{ ...rsa, e: "Ag" }] }), S.JwksRsaParseError],
    ["an RSA key with an EC alg", JSON.stringify({ keys: [{ ...rsa, alg: "ES256" }] }), S.JwksRSAKeyBadAlg],
    ["an RSA key without n", JSON.stringify({ keys: [{ kty: "RSA", e: "AQAB" }] }), S.JwksRSAKeyMissingN],
    ["an EC key whose alg and crv disagree", '{"keys":[{"kty":"EC","alg":"ES384","crv":"P-256","x":"AA","y":"AA"}]}', S.JwksECKeyAlgNotCompatibleWithCrv],
    ["an EC key with short coordinates", '{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}', S.JwksEcParseError],
    ["an OKP key of another curve", '{"keys":[{"kty":"OKP","crv":"X25519","x":"AA"}]}', S.JwksOKPKeyCrvUnsupported],
    ["an OKP key of the wrong length", '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}', S.JwksOKPXWrongLength],
    ["an oct key without k", '{"keys":[{"kty":"oct"}]}', S.JwksHMACKeyMissingK],
  ];
  for (const [what, text, status] of cases) it(what, () => assert.equal(parseJwks(text), status));

  it("an invalid key is dropped, the valid ones stay", () => {
    const j = parseJwks(JSON.stringify({ keys: [{ kty: "XYZ" }, rsa, 5] })) as Jwks;
    assert.equal(j.keys.length, 1);
    assert.equal(j.keys[0].kid, KID);
  });
});
