// Istio's end-user authentication and ingress authorization tasks at the ingress gateway, on
// `tsmesh up` with examples/security (127.119.x.y) and Istio's httpbin-gateway: authn-policy's
// "End-user authentication" (no token 200, a bad one 401, demo.jwt 200, an expired one 401, then
// a DENY on notRequestPrincipals: 403 without a token, per path), jwt-route (routing on a JWT claim:
// 404 without a token, 401 with a bad one, 200 with the groups claim, 404 without it) and
// authz-ingress (ipBlocks on the connection's address; remoteIpBlocks on the client address in
// X-Forwarded-For with gatewayTopology.numTrustedProxies). The tasks' jwksUri on
// raw.githubusercontent.com is served inside the mesh by jwt-server (same keys), the one change;
// clients connect from chosen loopback addresses so ipBlocks have something to tell apart.
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { packageRoot } from "../../src/core/paths.js";
import { TestMesh } from "../helpers/mesh.js";
import { eventually } from "./helpers.js";

const OCTET = 119;
const JWT = join(packageRoot(), "test", "fixtures", "jwt");
const TOKEN = readFileSync(join(JWT, "demo.jwt"), "utf8").trim();
const TOKEN_GROUP = readFileSync(join(JWT, "groups-scope.jwt"), "utf8").trim();
const JWKS_URI = "http://jwt-server.foo.svc.cluster.local:8000/jwks";
const CLIENT_A = `127.${OCTET}.50.1`;
const CLIENT_B = `127.${OCTET}.50.2`;

/** A token as Istio's gen-jwt.py makes it (key.pem, kid of jwks.json), expiring at `exp` (seconds). */
async function genJwt(exp: number): Promise<string> {
  // key.pem is PKCS#1, as gen-jwt.py reads it.
  const key = createPrivateKey(readFileSync(join(JWT, "key.pem"), "utf8"));
  return new SignJWT({ iss: "testing@secure.istio.io", sub: "testing@secure.istio.io" })
    .setProtectedHeader({ alg: "RS256", kid: "DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ", typ: "JWT" })
    .setIssuedAt(exp - 3600)
    .setExpirationTime(exp)
    .sign(key);
}

describe("Istio's ingress authentication and authorization tasks on tsmesh up", { timeout: 240_000 }, () => {
  let mesh: TestMesh;
  let gw: URL;
  /** `curl $INGRESS_HOST:$INGRESS_PORT/PATH` from `from` (a loopback address): the status and body. */
  const curl = (path: string, headers: Record<string, string> = {}, from = CLIENT_A) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: gw.hostname, port: Number(gw.port), path, headers: { host: "httpbin.example.com", ...headers }, localAddress: from, agent: false, timeout: 15_000 }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("timeout", () => req.destroy(new Error(`timeout: ${path}`)));
      req.on("error", reject);
      req.end();
    });
  const code = async (path: string, headers: Record<string, string> = {}, from = CLIENT_A) => (await curl(path, headers, from)).status;

  before(async () => {
    mesh = await TestMesh.start({ example: "security", octet: OCTET });
    await mesh.apply(join(packageRoot(), "examples", "security", "httpbin-gateway.yaml"));
    gw = new URL(mesh.gatewayUrl);
    await eventually("the gateway routes to httpbin", async () => (await code("/headers")) === 200, 30_000);
  });
  after(async () => {
    await mesh?.stop();
  });

  it("authn-policy end-user authentication: no token 200, bad 401, demo.jwt 200, expired 401", async () => {
    await mesh.apply(`apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "${JWKS_URI}"
`);
    assert.equal(await code("/headers"), 200);
    const bad = await curl("/headers", { authorization: "Bearer deadbeef" });
    assert.equal(bad.status, 401);
    assert.equal(await code("/headers", { authorization: `Bearer ${TOKEN}` }), 200);
    const now = Math.floor(Date.now() / 1000);
    // Valid for an hour; expired two minutes ago (beyond Envoy's 60 s clock skew).
    assert.equal(await code("/headers", { authorization: `Bearer ${await genJwt(now + 3600)}` }), 200);
    const expired = await curl("/headers", { authorization: `Bearer ${await genJwt(now - 120)}` });
    assert.equal(expired.status, 401);
    assert.equal(expired.body, "Jwt is expired");
  });

  it("require a valid token: DENY notRequestPrincipals → 403 without one; then only for /headers", async () => {
    const deny = (to: string) => `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: "frontend-ingress"
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals: ["*"]
${to}`;
    await mesh.apply(deny(""));
    assert.equal(await code("/headers"), 403);
    assert.equal(await code("/headers", { authorization: `Bearer ${TOKEN}` }), 200);
    await mesh.apply(deny(`    to:\n    - operation:\n        paths: ["/headers"]\n`));
    assert.equal(await code("/headers"), 403);
    assert.equal(await code("/ip"), 200);
    await mesh.delete("apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: frontend-ingress, namespace: istio-system}\n");
    await mesh.delete("apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt-example, namespace: istio-system}\n");
  });

  it("jwt-route: routing on the groups claim (404 without, 401 bad, 200 group1, 404 without the claim)", async () => {
    await mesh.apply(`apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: ingress-jwt
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "${JWKS_URI}"
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
  namespace: foo
spec:
  hosts:
  - "*"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /headers
      headers:
        "@request.auth.claims.groups":
          exact: group1
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
`);
    assert.equal(await code("/headers"), 404);
    assert.equal(await code("/headers", { authorization: "Bearer some.invalid.token" }), 401);
    assert.equal(await code("/headers", { authorization: `Bearer ${TOKEN_GROUP}` }), 200);
    assert.equal(await code("/headers", { authorization: `Bearer ${TOKEN}` }), 404);
    await mesh.delete("apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: ingress-jwt, namespace: istio-system}\n");
    await mesh.apply(join(packageRoot(), "examples", "security", "httpbin-gateway.yaml"));
  });

  it("authz-ingress: ipBlocks match the connection's address; remoteIpBlocks the client X-Forwarded-For names past numTrustedProxies", async () => {
    const policy = (field: string, values: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ingress-policy
  namespace: istio-system
spec:
  selector:
    matchLabels:
      app: istio-ingressgateway
  action: ALLOW
  rules:
  - from:
    - source:
        ${field}: [${values}]
`;
    await mesh.apply(policy("ipBlocks", `"${CLIENT_A}", "1.2.3.4"`));
    assert.equal(await code("/headers", {}, CLIENT_A), 200);
    const denied = await curl("/headers", {}, CLIENT_B);
    assert.equal(denied.status, 403);
    assert.equal(denied.body, "RBAC: access denied");
    // X-Forwarded-For does not change the connection's address.
    assert.equal(await code("/headers", { "x-forwarded-for": CLIENT_A }, CLIENT_B), 403);
    await mesh.apply(policy("remoteIpBlocks", `"1.2.3.4", "5.6.7.0/24"`));
    // Without trusted proxies the client address is the connection's.
    assert.equal(await code("/headers", { "x-forwarded-for": "1.2.3.4" }, CLIENT_A), 403);
    // With numTrustedProxies 1 (a load balancer in front), the client is X-Forwarded-For's last address.
    await mesh.apply(`apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    defaultConfig:
      gatewayTopology:
        numTrustedProxies: 1
`);
    await eventually("the gateway trusts one proxy", async () => (await code("/headers", { "x-forwarded-for": "1.2.3.4" }, CLIENT_A)) === 200, 30_000);
    assert.equal(await code("/headers", { "x-forwarded-for": "5.6.7.8" }, CLIENT_B), 200);
    assert.equal(await code("/headers", { "x-forwarded-for": "9.9.9.9" }, CLIENT_A), 403);
    await mesh.delete("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ingress-policy, namespace: istio-system}\n");
  });
});
