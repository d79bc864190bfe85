// The local workload credential: an ES256 JWT the control plane signs with a key kept in its state
// folder (0600), shaped as a projected Kubernetes service-account token, and the authenticator that
// verifies it — with an adversarial table of tokens it must refuse (expired, not yet valid, another
// key, wrong audience or issuer, alg "none", HS256 with the public key as secret, garbage, missing).
import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT } from "jose";
import { bearerToken } from "../../src/security/authenticator.js";
import { CA_AUDIENCE, LOCAL_CREDENTIAL_ISSUER, LocalCredentialIssuer } from "../../src/security/credential.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-credential-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const keyFile = join(tmp, "state", "credential-key.pem");
const issuer = LocalCredentialIssuer.open(keyFile);
const authenticator = issuer.authenticator();
const reviews = { namespace: "default", serviceAccount: "bookinfo-reviews" };

/** The claims a projected service-account token carries, for hand-made tokens. */
function claims(ns = "default", sa = "bookinfo-reviews"): Record<string, unknown> {
  return { "kubernetes.io": { namespace: ns, serviceaccount: { name: sa } } };
}

/** A token signed with `key` (default: the control plane's own key) and the given overrides. */
async function forge(o: { key?: Parameters<SignJWT["sign"]>[0]; alg?: string; iss?: string; aud?: string[]; sub?: string; payload?: Record<string, unknown>; iat?: number; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(o.payload ?? claims())
    .setProtectedHeader({ alg: o.alg ?? "ES256" })
    .setIssuer(o.iss ?? LOCAL_CREDENTIAL_ISSUER)
    .setAudience(o.aud ?? [CA_AUDIENCE])
    .setSubject(o.sub ?? "system:serviceaccount:default:bookinfo-reviews")
    .setIssuedAt(o.iat ?? now)
    .setNotBefore(o.iat ?? now);
  jwt = jwt.setExpirationTime(o.exp ?? now + 3600);
  return jwt.sign(o.key ?? createPrivateKey(readFileSync(keyFile)));
}

describe("the local credential issuer", () => {
  it("keeps its key in the state folder, mode 0600, and loads the same key again", async () => {
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const again = LocalCredentialIssuer.open(keyFile);
    const { token } = await again.issue(reviews);
    assert.deepEqual(await authenticator.authenticate(token), { identity: reviews });
  });

  it("issues a projected-service-account-shaped ES256 token valid for one hour", async () => {
    const now = new Date();
    const { token, expiresAt } = await issuer.issue(reviews, { now });
    assert.deepEqual(decodeProtectedHeader(token), { alg: "ES256", typ: "JWT" });
    const c = decodeJwt(token);
    assert.equal(c.iss, "tsmesh");
    assert.deepEqual(c.aud, ["istio-ca"]);
    assert.equal(c.sub, "system:serviceaccount:default:bookinfo-reviews");
    assert.deepEqual(c["kubernetes.io"], { namespace: "default", serviceaccount: { name: "bookinfo-reviews" } });
    assert.equal(c.exp! - c.iat!, 3600);
    assert.equal(c.nbf, c.iat);
    assert.equal(expiresAt.getTime(), c.exp! * 1000);
  });

  it("refuses to issue for names that are not Kubernetes names", async () => {
    await assert.rejects(issuer.issue({ namespace: "Default", serviceAccount: "x" }), /not a Kubernetes namespace/);
    await assert.rejects(issuer.issue({ namespace: "default", serviceAccount: "a:b" }), /not a Kubernetes namespace/);
  });
});

describe("the local credential authenticator", () => {
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const hour = 3600;
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<string>, RegExp | typeof reviews]> = [
    ["a valid token", async () => (await issuer.issue(reviews)).token, reviews],
    ["another workload's valid token names that workload", async () => (await issuer.issue({ namespace: "prod", serviceAccount: "ratings" })).token, { namespace: "prod", serviceAccount: "ratings" }],
    ["an expired token", async () => (await issuer.issue(reviews, { now: new Date(Date.now() - 2 * hour * 1000) })).token, /expired/],
    ["a token not valid yet", async () => (await issuer.issue(reviews, { now: new Date(Date.now() + 600_000) })).token, /not valid yet/],
    ["a token signed by another key", () => forge({ key: other }), /signature does not verify/],
    ["a wrong audience", () => forge({ aud: ["kubernetes.default.svc"] }), /"aud" claim/],
    ["a wrong issuer", () => forge({ iss: "https://kubernetes.default.svc" }), /"iss" claim/],
    ["alg none", async () => new UnsecuredJWT(claims()).setIssuer("tsmesh").setAudience("istio-ca").setSubject("system:serviceaccount:default:bookinfo-reviews").setIssuedAt().setNotBefore(now()).setExpirationTime(now() + hour).encode(), /not ES256|not a well-formed/],
    ["HS256 keyed with the public key (key confusion)", () => forge({ alg: "HS256", key: new Uint8Array(Buffer.from(issuer.publicKey.export({ type: "spki", format: "pem" }))) }), /not ES256/],
    ["ES384 from another key", () => forge({ alg: "ES384", key: generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey }), /not ES256/],
    ["no exp", async () => new SignJWT(claims()).setProtectedHeader({ alg: "ES256" }).setIssuer("tsmesh").setAudience("istio-ca").setSubject("system:serviceaccount:default:bookinfo-reviews").setIssuedAt().setNotBefore(now()).sign(createPrivateKey(readFileSync(keyFile))), /"exp" claim/],
    ["sub naming another account than the kubernetes.io claims", () => forge({ sub: "system:serviceaccount:default:bookinfo-ratings" }), /sub does not match/],
    ["no kubernetes.io claims", () => forge({ payload: {} }), /kubernetes\.io/],
    ["a namespace that is not a Kubernetes name", () => forge({ payload: claims("../etc", "x"), sub: "system:serviceaccount:../etc:x" }), /kubernetes\.io/],
    ["a tampered payload", async () => {
      const [h, p, s] = (await issuer.issue(reviews)).token.split(".");
      const payload = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
      payload.sub = "system:serviceaccount:default:admin";
      payload["kubernetes.io"] = { namespace: "default", serviceaccount: { name: "admin" } };
      return `${h}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${s}`;
    }, /signature does not verify/],
    ["garbage", async () => "not.a.jwt", /not a well-formed|cannot be verified/],
    ["a lone word", async () => "Bearer", /not a well-formed/],
    ["an empty token", async () => "", /no token/],
    ["a huge token", async () => "a".repeat(100_000), /exceeds/],
  ];
  for (const [what, token, want] of cases) {
    it(what, async () => {
      const t = await token();
      const r = await authenticator.authenticate(t);
      if (want instanceof RegExp) {
        assert.ok("refused" in r, `accepted: ${JSON.stringify(r)}`);
        assert.match(r.refused, want);
        if (t.length > 20) assert.ok(!r.refused.includes(t.slice(-20)), "the refusal does not quote the token");
      } else assert.deepEqual(r, { identity: want });
    });
  }
});

describe("the authorization metadata", () => {
  const cases: Array<[unknown[], string | undefined]> = [
    [["Bearer abc.def.ghi"], "abc.def.ghi"],
    [["bearer abc"], "abc"],
    [[], undefined],
    [["Basic abc"], undefined],
    [["Bearer a", "Bearer b"], undefined],
    [["Bearer "], undefined],
    [["Bearer a b"], undefined],
    [[Buffer.from("Bearer a")], undefined],
  ];
  for (const [values, want] of cases) it(JSON.stringify(values), () => assert.equal(bearerToken(values), want));
});
