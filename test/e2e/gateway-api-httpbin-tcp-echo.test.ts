// Istio's tcp-traffic-shifting and secure-ingress tasks, Gateway API variants, on a real local mesh
// (`tsmesh up`'s httpbin-tcp-echo on 127.35.x.y): the sample's Gateway gets a router whose address
// the Gateway's status reports (the tasks read INGRESS_HOST from status.addresses), its TCPRoute
// sends all connections to tcp-echo v1, then 80/20 between v1 and v2; the secure-ingress task's
// Gateway (HTTPS, certificateRefs httpbin-credential, routes from the namespace its selector names)
// serves httpbin over TLS with the task's certificate.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { AnyResource } from "../../src/api/resource.js";
import { packageRoot } from "../../src/core/paths.js";
import { gatewayApiStatusProvider } from "../../src/model/gateway-api/status.js";
import { binomialRange } from "../helpers/binomial.js";
import { eventually } from "../helpers/eventually.js";
import { TestMesh } from "../helpers/mesh.js";
import { curlHttpbin, exampleCert } from "../helpers/secure-ingress.js";
import { echoLine } from "../helpers/sockets.js";

const OCTET = 35;

/** The secure-ingress task's Gateway API resources, as its page applies them. */
const SECURE_INGRESS = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "httpbin.example.com"
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: httpbin
spec:
  parentRefs:
  - name: mygateway
    namespace: istio-system
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /status
    - path:
        type: PathPrefix
        value: /delay
    backendRefs:
    - name: httpbin
      port: 8000
`;

/** The Gateway API status istiod's controller would write for a resource in the mesh's store. */
function statusOf(mesh: TestMesh, kind: string, namespace: string, name: string): Record<string, unknown> {
  const resources = mesh.mesh.discovery.store.list() as AnyResource[];
  const r = resources.find((x) => x.kind === kind && x.metadata.namespace === namespace && x.metadata.name === name);
  assert.ok(r, `${kind} ${namespace}/${name} is in the store`);
  const memos = new Map<string, unknown>();
  const s = gatewayApiStatusProvider(r, { resources, memo: <T>(k: string, f: () => T) => (memos.has(k) ? memos.get(k) : memos.set(k, f()).get(k)) as T });
  assert.ok(s, `${kind} ${namespace}/${name} has a status`);
  return s;
}
const SAMPLES = join(packageRoot(), "samples/tcp-echo/gateway-api");

/** A sample file without its Kubernetes Services (tsmesh reads the ServiceEntries in examples/tcp-echo-versions instead). */
function withoutServices(file: string): string {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .filter((d) => (d.toJS() as { kind?: string } | null)?.kind !== "Service")
    .map((d) => d.toString())
    .join("---\n");
}

describe("httpbin and tcp-echo on tsmesh up through the Kubernetes Gateway API", { timeout: 240_000 }, () => {
  let mesh: TestMesh;
  let host = "";
  let scratch = "";
  let certs: { cert: string; key: string };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "tsmesh-gateway-api-"));
    const credentials = join(scratch, "credentials");
    mkdirSync(credentials);
    // The task's `kubectl create -n istio-system secret tls httpbin-credential`, in local mode's credentials folder.
    certs = exampleCert(scratch, "example_certs1");
    writeFileSync(join(credentials, "httpbin-credential.key"), certs.key);
    writeFileSync(join(credentials, "httpbin-credential.crt"), certs.cert);
    mesh = await TestMesh.start({
      example: "httpbin-tcp-echo",
      octet: OCTET,
      credentialsDir: credentials,
      apply: [join(packageRoot(), "examples/tcp-echo-versions/services-versions.yaml")],
    });
  });
  after(async () => {
    await mesh?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("tcp-echo-all-v1: the Gateway is programmed, its status gives the address, every connection reaches v1", async () => {
    await mesh.apply(withoutServices(join(SAMPLES, "tcp-echo-all-v1.yaml")));
    const status = statusOf(mesh, "KubernetesGateway", "default", "tcp-echo-gateway") as { addresses: Array<{ value: string }>; conditions: Array<{ type: string; status: string }> };
    assert.equal(status.conditions.find((c) => c.type === "Programmed")?.status, "True");
    host = status.addresses[0].value;
    assert.equal(host, `127.${OCTET}.255.1`);
    // The router starts after the apply (up reconciles its plan): wait for it to answer.
    assert.match(await eventually("the gateway's router", () => echoLine(host, 31400, "hello"), 60_000, 250), /^one hello/);
    for (let i = 0; i < 10; i++) assert.match(await echoLine(host, 31400, `n${i}`), /^one /);
  });

  it("tcp-echo-20-v2: 80% of connections reach v1, 20% v2", async () => {
    await mesh.apply(withoutServices(join(SAMPLES, "tcp-echo-20-v2.yaml")));
    const n = 50;
    let two = 0;
    for (let i = 0; i < n; i++) {
      const line = await echoLine(host, 31400, `c${i}`);
      assert.match(line, /^(one|two) /);
      if (line.startsWith("two")) two++;
    }
    const [lo, hi] = binomialRange(n, 0.2);
    assert.ok(two >= lo && two <= hi, `v2 answered ${two} of ${n} (${lo}..${hi} expected)`);
  });

  it("secure ingress: an HTTPS listener with certificateRefs serves httpbin with the task's certificate; routes from the selected namespace attach", async () => {
    await mesh.apply(SECURE_INGRESS);
    const gw = statusOf(mesh, "KubernetesGateway", "istio-system", "mygateway") as { addresses: Array<{ value: string }>; listeners: Array<{ attachedRoutes: number }> };
    assert.equal(gw.listeners[0].attachedRoutes, 1);
    const ingress = gw.addresses[0].value;
    const r = await eventually("the HTTPS router serves httpbin-credential", () => curlHttpbin(ingress, 443, "/status/418", certs.cert).catch(() => undefined), 60_000, 250);
    assert.equal(r.status, 418);
    assert.match(r.body, /teapot/);
    assert.match(r.issuer, /example_certs1 Inc\./);
    // Only the route's matches are served.
    assert.equal((await curlHttpbin(ingress, 443, "/headers", certs.cert)).status, 404);
  });
});
