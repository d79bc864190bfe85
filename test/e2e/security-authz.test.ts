// Istio's authorization and JWT tasks inside the mesh, on `tsmesh up` with examples/security
// (namespace foo: httpbin, sleep, tcp-echo, ext-authz, jwt-server on 127.118.10.x): each step's
// command and expected output from istio.io (docs/tasks/security/authorization/authz-deny, authz-jwt,
// authz-tcp, authz-custom, authz-dry-run; authentication/claim-to-header), with the YAML as the page
// gives it. Requests from sleep go through sleep's sidecar, as `kubectl exec … curl` does; TCP
// (`nc tcp-echo 9000`) goes through it as a CONNECT tunnel. The tasks' jwksUri on
// raw.githubusercontent.com is served inside the mesh by jwt-server (same keys), the one change.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { ADMIN_PORT, OUTBOUND_PORT } from "../../src/local/mesh.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";
import { eventually } from "./helpers.js";

const OCTET = 118;
const JWT = join(packageRoot(), "test", "fixtures", "jwt");
const TOKEN = readFileSync(join(JWT, "demo.jwt"), "utf8").trim();
const TOKEN_GROUP = readFileSync(join(JWT, "groups-scope.jwt"), "utf8").trim();
const JWKS_URI = "http://jwt-server.foo.svc.cluster.local:8000/jwks";

/** `nc HOST PORT` from inside sleep: a CONNECT tunnel through its sidecar; the first line back, or "connection rejected". */
function nc(mesh: TestMesh, target: string, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: mesh.address("foo/sleep"), port: OUTBOUND_PORT }, () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    let buf = "";
    let tunneled = false;
    const done = (v: string) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(10_000, () => done("connection rejected"));
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      if (!tunneled) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        if (!/^HTTP\/1\.1 200/.test(buf)) return done("connection rejected");
        tunneled = true;
        buf = buf.slice(end + 4);
        s.write(`${line}\n`);
      }
      const nl = buf.indexOf("\n");
      if (nl >= 0) done(`${buf.slice(0, nl)}\nconnection succeeded`);
    });
    s.on("error", () => done("connection rejected"));
    s.on("close", () => done("connection rejected"));
  });
}

describe("Istio's authorization tasks inside the mesh on tsmesh up", { timeout: 300_000 }, () => {
  let mesh: TestMesh;
  const curl = async (path: string, o: { method?: string; headers?: Record<string, string> } = {}) => mesh.fromWorkload("foo/sleep", `http://httpbin.foo:8000${path}`, o);
  const code = async (path: string, o: { method?: string; headers?: Record<string, string> } = {}) => (await curl(path, o)).status;

  before(async () => {
    mesh = await TestMesh.start({ example: "security", octet: OCTET });
    await eventually("sleep reaches httpbin", async () => (await code("/ip")) === 200, 30_000);
  });
  after(async () => {
    await mesh?.stop();
  });

  it("authz-deny: DENY GET → 403 and POST 200; notValues x-token admin; an ALLOW for /ip beside it", async () => {
    await mesh.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-method-get
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
`);
    const denied = await curl("/get");
    assert.equal(denied.status, 403);
    assert.equal(denied.body, "RBAC: access denied");
    assert.equal(await code("/post", { method: "POST" }), 200);
    await mesh.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-method-get
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["GET"]
    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
`);
    assert.equal(await code("/get", { headers: { "x-token": "admin" } }), 200);
    assert.equal(await code("/get", { headers: { "x-token": "guest" } }), 403);
    await mesh.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-path-ip
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: ALLOW
  rules:
  - to:
    - operation:
        paths: ["/ip"]
`);
    assert.equal(await code("/ip", { headers: { "x-token": "guest" } }), 403);
    assert.equal(await code("/ip", { headers: { "x-token": "admin" } }), 200);
    assert.equal(await code("/get", { headers: { "x-token": "admin" } }), 403);
    await mesh.delete("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-method-get, namespace: foo}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-path-ip, namespace: foo}\n");
    assert.equal(await code("/get"), 200);
  });

  it("authz-jwt: invalid token 401, none 200; require-jwt → the token 200, none 403; groups claim", async () => {
    await mesh.apply(`apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "${JWKS_URI}"
`);
    assert.equal(await code("/headers", { headers: { authorization: "Bearer invalidToken" } }), 401);
    assert.equal(await code("/headers"), 200);
    await mesh.apply(`apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: ALLOW
  rules:
  - from:
    - source:
       requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
`);
    assert.equal(await code("/headers", { headers: { authorization: `Bearer ${TOKEN}` } }), 200);
    assert.equal(await code("/headers"), 403);
    await mesh.apply(`apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: ALLOW
  rules:
  - from:
    - source:
       requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
    when:
    - key: request.auth.claims[groups]
      values: ["group1"]
`);
    assert.equal(await code("/headers", { headers: { authorization: `Bearer ${TOKEN_GROUP}` } }), 200);
    assert.equal(await code("/headers", { headers: { authorization: `Bearer ${TOKEN}` } }), 403);
    await mesh.delete("apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {name: require-jwt, namespace: foo}\n");
  });

  it("claim-to-header: outputClaimToHeaders puts the foo claim in X-Jwt-Claim-Foo", async () => {
    await mesh.apply(`apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "${JWKS_URI}"
    outputClaimToHeaders:
    - header: "x-jwt-claim-foo"
      claim: "foo"
`);
    assert.equal(await code("/headers", { headers: { authorization: "Bearer invalidToken" } }), 401);
    const r = await curl("/headers", { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    // go-httpbin lists each header's values.
    assert.deepEqual((JSON.parse(r.body) as { headers: Record<string, string[]> }).headers["X-Jwt-Claim-Foo"], ["bar"]);
    await mesh.delete("apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt-example, namespace: foo}\n");
  });

  it("authz-tcp: ALLOW ports 9000/9001 (9002 rejected); an HTTP-only field on TCP makes the ALLOW match nothing; DENY GET denies every TCP connection", async () => {
    // Port 9002 is no service's: `nc $TCP_ECHO_IP 9002`, the pod's IP (the sidecar owns it through
    // the WorkloadEntry's includeInboundPorts).
    const pod9002 = `${mesh.address("foo/tcp-echo")}:9002`;
    assert.equal(await nc(mesh, "tcp-echo:9000", "port 9000"), "hello port 9000\nconnection succeeded");
    assert.equal(await nc(mesh, "tcp-echo:9001", "port 9001"), "hello port 9001\nconnection succeeded");
    assert.equal(await nc(mesh, pod9002, "port 9002"), "hello port 9002\nconnection succeeded");
    const policy = (action: string, operation: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: tcp-policy
  namespace: foo
spec:
  selector:
    matchLabels:
      app: tcp-echo
  action: ${action}
  rules:
  - to:
    - operation:
${operation}
`;
    await mesh.apply(policy("ALLOW", `        ports: ["9000", "9001"]`));
    assert.equal(await nc(mesh, "tcp-echo:9000", "port 9000"), "hello port 9000\nconnection succeeded");
    assert.equal(await nc(mesh, "tcp-echo:9001", "port 9001"), "hello port 9001\nconnection succeeded");
    assert.equal(await nc(mesh, pod9002, "port 9002"), "connection rejected");
    await mesh.apply(policy("ALLOW", `        methods: ["GET"]\n        ports: ["9000"]`));
    assert.equal(await nc(mesh, "tcp-echo:9000", "port 9000"), "connection rejected");
    assert.equal(await nc(mesh, "tcp-echo:9001", "port 9001"), "connection rejected");
    await mesh.apply(policy("DENY", `        methods: ["GET"]`));
    assert.equal(await nc(mesh, "tcp-echo:9000", "port 9000"), "connection rejected");
    assert.equal(await nc(mesh, "tcp-echo:9001", "port 9001"), "connection rejected");
    await mesh.apply(policy("DENY", `        methods: ["GET"]\n        ports: ["9000"]`));
    assert.equal(await nc(mesh, "tcp-echo:9000", "port 9000"), "connection rejected");
    assert.equal(await nc(mesh, "tcp-echo:9001", "port 9001"), "hello port 9001\nconnection succeeded");
    await mesh.delete("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: tcp-policy, namespace: foo}\n");
  });

  it("authz-custom: the sample ext-authz over gRPC and HTTP decides /headers; /ip is not checked", async () => {
    await mesh.apply(`apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    extensionProviders:
    - name: "sample-ext-authz-grpc"
      envoyExtAuthzGrpc:
        service: "ext-authz.foo.svc.cluster.local"
        port: "9000"
    - name: "sample-ext-authz-http"
      envoyExtAuthzHttp:
        service: "ext-authz.foo.svc.cluster.local"
        port: "8000"
        includeRequestHeadersInCheck: ["x-ext-authz"]
`);
    for (const provider of ["sample-ext-authz-grpc", "sample-ext-authz-http"]) {
      await mesh.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: foo
spec:
  selector:
    matchLabels:
      app: httpbin
  action: CUSTOM
  provider:
    name: ${provider}
  rules:
  - to:
    - operation:
        paths: ["/headers"]
`);
      const denied = await curl("/headers", { headers: { "x-ext-authz": "deny" } });
      assert.equal(denied.status, 403, provider);
      assert.equal(denied.body, "denied by ext_authz for not found header `x-ext-authz: allow` in the request", provider);
      const allowed = await curl("/headers", { headers: { "x-ext-authz": "allow" } });
      assert.equal(allowed.status, 200, provider);
      // The gRPC check's OK response carries headers for the upstream (the page shows them); the HTTP
      // provider forwards only headersToUpstreamOnAllow, which the task's config leaves empty.
      const headers = (JSON.parse(allowed.body) as { headers: Record<string, string[]> }).headers;
      assert.deepEqual(headers["X-Ext-Authz-Check-Result"], provider === "sample-ext-authz-grpc" ? ["allowed"] : undefined, provider);
      assert.equal(await code("/ip"), 200, `${provider}: /ip is not sent to the authorizer`);
    }
    await mesh.delete("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ext-authz, namespace: foo}\n");
  });

  it("authz-dry-run: a dry-run DENY lets every request through, logs and counts it as shadow denied", async () => {
    // istioctl proxy-config log deploy/httpbin.foo --level "rbac:debug"
    const level = await httpRequest(mesh.address("foo/httpbin"), ADMIN_PORT, "/logging?rbac=debug", { method: "POST" });
    assert.match(level.body, /rbac: debug/);
    await mesh.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-path-headers
  namespace: foo
  annotations:
    "istio.io/dry-run": "true"
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/headers"]
`);
    for (let i = 0; i < 20; i++) assert.equal(await code("/headers", { headers: { "x-b3-sampled": "1" } }), 200);
    const stats = await mesh.stats("foo/httpbin");
    // Envoy's name, which Istio's tag regexes turn into the page's
    // envoy_http_inbound_0_0_0_0_80_rbac{authz_dry_run_action="deny",authz_dry_run_result="denied"}.
    const shadow = [...stats].filter(([k]) => /^http\.inbound_[^ ]+\.rbac\.istio_dry_run_deny_\.shadow_denied$/.test(k));
    assert.equal(shadow.length, 1, `one shadow-denied counter: ${JSON.stringify(shadow)}`);
    assert.ok(shadow[0][1] >= 20, `shadow denied ${shadow[0][1]} times`);
    // kubectl logs … -c istio-proxy | grep "shadow denied"
    await eventually("the proxy's rbac debug lines", () => /shadow denied, matched policy ns\[foo\]-policy\[deny-path-headers\]-rule\[0\]/.test(readFileSync(join(mesh.mesh.logDir, "foo.httpbin.proxy.log"), "utf8")), 10_000);
    await mesh.delete("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-path-headers, namespace: foo}\n");
  });
});
