// Istio's "Accessing external services" task on a real local mesh (`tsmesh up`'s httpbin example on
// 127.109.x.y), from the curl workload through its sidecar, against an "external" plain HTTP server
// on 127.109.9.50:8080 that no ServiceEntry knows:
//   1. ALLOW_ANY (the default): the request passes (PassthroughCluster);
//   2. REGISTRY_ONLY, set live with the `istio` ConfigMap in istio-system (as `istioctl install
//      --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY` writes it): 502, BlackHoleCluster;
//   3. a ServiceEntry for external.example lets it through again, on outbound|8080||external.example;
//   4. "timeouts for external traffic": a VirtualService timeout of 3s against a 5 s answer gives 504.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { TestMesh } from "../helpers/mesh.js";

const OCTET = 109;
const EXTERNAL_IP = `127.${OCTET}.9.50`;
const EXTERNAL_URL = `http://${EXTERNAL_IP}:8080`;

// What `istioctl install --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY` leaves in the
// cluster: the mesh config in the istio ConfigMap (other MeshConfig fields ride along, ignored).
const REGISTRY_ONLY = `apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    accessLogFile: /dev/stdout
    defaultConfig:
      discoveryAddress: istiod.istio-system.svc:15012
    enablePrometheusMerge: true
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
    rootNamespace: istio-system
    trustDomain: cluster.local
`;

// The task's ServiceEntry for an external HTTP service, with a static endpoint (relocated to 127.109.9.50).
const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-svc
spec:
  hosts:
  - external.example
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - number: 8080
    name: http
    protocol: HTTP
  endpoints:
  - address: 127.0.9.50
`;

// "Manage traffic to external services": a 3 s timeout on calls to external.example.
const TIMEOUT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: external-svc
spec:
  hosts:
  - external.example
  http:
  - timeout: 3s
    route:
    - destination:
        host: external.example
      weight: 100
`;

describe("Istio's egress tasks on tsmesh up: ALLOW_ANY, REGISTRY_ONLY, ServiceEntry, timeouts", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  let external: Server;
  const seen: string[] = [];

  before(async () => {
    // The external service: a plain server outside the mesh (httpbin's /delay/N, /status/N in spirit).
    external = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://external");
      seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
      const delay = /^\/delay\/(\d+)$/.exec(url.pathname);
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ external: true, path: url.pathname, host: req.headers.host }));
      };
      if (delay) setTimeout(answer, Number(delay[1]) * 1000).unref();
      else answer();
    });
    await new Promise<void>((resolve, reject) => {
      external.once("error", reject);
      external.listen(8080, EXTERNAL_IP, () => resolve());
    });
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
    external?.closeAllConnections();
    await new Promise<void>((r) => (external ? external.close(() => r()) : r()));
  });

  it("ALLOW_ANY (the default): an address no ServiceEntry knows is reached through PassthroughCluster", async () => {
    const r = await mesh.fromWorkload("curl", `${EXTERNAL_URL}/headers`);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { path: string }).path, "/headers");
    // The server got the request as a captured client sends it: origin-form.
    assert.ok(seen.includes(`GET /headers host=${EXTERNAL_IP}:8080`), seen.join("\n"));
    const stats = await mesh.stats("curl");
    assert.ok((stats.get("cluster.PassthroughCluster.upstream_cx_total") ?? 0) >= 1, "the connection went through PassthroughCluster");
    assert.ok((stats.get("tcp.PassthroughCluster.downstream_cx_total") ?? 0) >= 1);
  });

  it("REGISTRY_ONLY through the istio ConfigMap applies live: the same request gets 502 from BlackHoleCluster", async () => {
    await mesh.apply(REGISTRY_ONLY);
    assert.equal(mesh.mesh.discovery.mesh.outboundTrafficPolicy, "REGISTRY_ONLY");
    const before = (await mesh.stats("curl")).get("cluster.BlackHoleCluster.upstream_cx_none_healthy") ?? 0;
    const seenBefore = seen.length;
    const r = await mesh.fromWorkload("curl", `${EXTERNAL_URL}/headers`);
    assert.equal(r.status, 502);
    assert.equal(seen.length, seenBefore, "nothing reached the external server");
    const stats = await mesh.stats("curl");
    assert.equal((stats.get("cluster.BlackHoleCluster.upstream_cx_none_healthy") ?? 0) - before, 1, "BlackHoleCluster took it");
    assert.ok((stats.get("tcp.BlackHoleCluster.downstream_cx_no_route") ?? 0) >= 1);
    // Services in the registry still answer.
    assert.equal((await mesh.fromWorkload("curl", "http://httpbin:8000/status/418")).status, 418);
  });

  it("a ServiceEntry (MESH_EXTERNAL, STATIC) re-allows it: external.example:8080 answers on outbound|8080||external.example", async () => {
    await mesh.apply(SERVICE_ENTRY);
    const r = await mesh.fromWorkload("curl", "http://external.example:8080/get");
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { external: true, path: "/get", host: "external.example:8080" });
    const stats = await mesh.stats("curl");
    assert.ok((stats.get("cluster.outbound|8080||external.example.upstream_rq_total") ?? 0) >= 1, "the ServiceEntry's cluster took it");
    assert.ok((stats.get("cluster.outbound|8080||external.example.upstream_rq_2xx") ?? 0) >= 1);
    // The address itself is still not in the registry: port 8080 now has an HTTP listener, whose
    // catch-all virtual host is block_all (502), as Istio's.
    const blocked = await mesh.fromWorkload("curl", `${EXTERNAL_URL}/headers`);
    assert.equal(blocked.status, 502);
  });

  it("timeouts for external traffic: a VirtualService timeout of 3s gives 504 against a 5 s answer", async () => {
    await mesh.apply(TIMEOUT);
    const start = Date.now();
    const r = await mesh.fromWorkload("curl", "http://external.example:8080/delay/5", { timeoutMs: 20_000 });
    const took = Date.now() - start;
    assert.equal(r.status, 504);
    assert.equal(r.body, "upstream request timeout");
    assert.ok(took >= 2500, `answered after ${took} ms`);
    const stats = await mesh.stats("curl");
    assert.ok((stats.get("cluster.outbound|8080||external.example.upstream_rq_timeout") ?? 0) >= 1);
    // Without the delay, it answers.
    assert.equal((await mesh.fromWorkload("curl", "http://external.example:8080/get")).status, 200);
  });
});
