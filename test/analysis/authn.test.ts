// RequestAuthentication analysis: TSM0001 for rules whose keys the resolver could not fetch (here a
// real resolver against a real local server: one URI serves a JWKS, one answers 404, one port is
// closed; the OpenID discovery path of an issuer without jwksUri), and Istio's IST0149 for claim
// routes on gateways whose workloads no RequestAuthentication applies to.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { analyze } from "../../src/analysis/analyze.js";
import { fetchedJwks } from "../../src/analysis/authn.js";
import type { Resource } from "../../src/api/resource.js";
import { validateText } from "../../src/api/validate.js";
import { JwksResolver } from "../../src/controlplane/jwks-resolver.js";
import { packageRoot } from "../../src/core/paths.js";
import { REFUSED_ADDRESS } from "../helpers/sockets.js";

const JWKS = JSON.stringify({ keys: [{ kty: "RSA", kid: "a", e: "AQAB", n: "0xObjM0U" }] });

function ra(name: string, ns: string, rules: string, selector = ""): string {
  return `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ${name}, namespace: ${ns} }
spec:
${selector}  jwtRules:
${rules}`;
}

test("TSM0001: rules whose jwksUri (or OpenID discovery) the resolver could not fetch, with the reason", async () => {
  const server = createServer((req, res) => (req.url === "/jwks.json" ? res.end(JWKS) : res.writeHead(404).end("not here")));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const down = `http://${REFUSED_ADDRESS}`;
  const yaml = [
    ra("good", "foo", `  - { issuer: good, jwksUri: "${base}/jwks.json" }\n  - { issuer: inline, jwks: '${JWKS}' }\n`),
    ra("bad", "foo", `  - { issuer: missing, jwksUri: "${base}/gone.json" }\n  - { issuer: "${down}" }\n`),
  ].join("---\n");
  const docs = validateText(yaml, "in.yaml");
  const ras = docs.map((d) => d.resource as Resource<"RequestAuthentication">);
  const resolver = new JwksResolver({ refreshRetries: 0 });
  try {
    const wanted = fetchedJwks(ras);
    assert.deepEqual(
      wanted.map((w) => w.issuer),
      ["good", "missing", down],
      "inline jwks is never fetched",
    );
    await Promise.all(wanted.map((w) => resolver.check(w.issuer, w.jwksUri, 5_000)));
    const messages = analyze(docs, { jwks: (i, u) => resolver.status(i, u) });
    assert.deepEqual(
      messages.map((m) => `${m.code} ${m.resource} ${m.path}`),
      ["TSM0001 RequestAuthentication foo/bad spec.jwtRules[0].jwksUri", "TSM0001 RequestAuthentication foo/bad spec.jwtRules[1].issuer"],
    );
    assert.match(messages[0].message, /jwksUri http:\/\/127\.0\.0\.1:\d+\/gone\.json cannot be fetched: .*status 404/);
    assert.match(messages[1].message, /OpenID discovery document of issuer .* cannot be fetched: .*ECONNREFUSED/);
    assert.equal(messages[0].level, "Warning");
    // Without a lookup (nothing fetched), nothing is said.
    assert.deepEqual(analyze(docs), []);
  } finally {
    resolver.close();
    server.close();
  }
});

test("tsmesh analyze fetches the keys and reports an unreachable jwksUri (TSM0001) by file and line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-analyze-jwks-"));
  try {
    writeFileSync(join(dir, "ra.yaml"), ra("jwt", "foo", `  - { issuer: x, jwksUri: "http://${REFUSED_ADDRESS}/jwks.json", timeout: 2s }\n`));
    const child = spawn(process.execPath, [join(packageRoot(), "dist/src/cli/bin.js"), "analyze", "--failure-threshold", "Warning", dir], { cwd: packageRoot() });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    const code = await new Promise<number | null>((r) => child.on("close", r));
    assert.equal(code, 1, stdout);
    assert.match(stdout, /Warning \[TSM0001\] \(RequestAuthentication foo\/jwt .*ra\.yaml:\d+\) jwksUri http:\/\/127\.255\.255\.254:1\/jwks\.json cannot be fetched/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ingressgateway-1, namespace: istio-system }
spec: { address: 127.0.1.1, labels: { istio: ingressgateway } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: claims, namespace: foo }
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{ headers: { "@request.auth.claims.groups": { exact: group1 } } }]
    route: [{ destination: { host: httpbin.foo.svc.cluster.local } }]
`;

test("IST0149: claim routing on a gateway whose pods no RequestAuthentication applies to", () => {
  const codes = (yaml: string) => analyze(validateText(yaml, "in.yaml")).filter((m) => m.code === "IST0149");
  const got = codes(GATEWAY);
  assert.equal(got.length, 1);
  assert.equal(got[0].resource, "VirtualService foo/claims");
  assert.match(got[0].message, /key: @request\.auth\.claims\.groups.*gateway \(istio-system\/gw\) pod \(ingressgateway-1\)/);
  const jwt = `  - { issuer: "testing@secure.istio.io", jwks: '${JWKS}' }\n`;
  assert.deepEqual(codes(`${GATEWAY}---\n${ra("ingress", "istio-system", jwt, "  selector: { matchLabels: { istio: ingressgateway } }\n")}`), []);
  // A policy in another namespace, or selecting other workloads, does not count.
  assert.equal(codes(`${GATEWAY}---\n${ra("elsewhere", "foo", jwt)}`).length, 1);
  assert.equal(codes(`${GATEWAY}---\n${ra("other", "istio-system", jwt, "  selector: { matchLabels: { app: other } }\n")}`).length, 1);
});
