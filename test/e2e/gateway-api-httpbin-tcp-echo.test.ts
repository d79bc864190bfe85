// Istio's tcp-traffic-shifting and secure-ingress tasks, Gateway API variants, on a real local mesh
// (`tsmesh up`'s httpbin-tcp-echo on 127.35.x.y): the sample's Gateway gets a router whose address
// the Gateway's status reports (the tasks read INGRESS_HOST from status.addresses), its TCPRoute
// sends all connections to tcp-echo v1, then 80/20 between v1 and v2; the secure-ingress task's
// Gateway (HTTPS, certificateRefs httpbin-credential, routes from the namespace its selector names)
// serves httpbin over TLS with the task's certificate, and with the Gateway's frontend validation
// only to clients of the given CA; a Gateway with a Hostname address runs on the existing ingress
// gateway (Istio's manual deployment). Then a GRPCRoute (method and header matches,
// weighted backends) to real gRPC servers and TLSRoutes (passthrough, by SNI) to real TLS servers,
// through one Gateway deployed automatically.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { parseAllDocuments } from "yaml";
import type { AnyResource } from "../../src/api/resource.js";
import { packageRoot } from "../../src/core/paths.js";
import { gatewayApiStatusProvider } from "../../src/model/gateway-api/status.js";
import { binomialRange } from "../helpers/binomial.js";
import { eventually } from "../helpers/eventually.js";
import { EchoClient, EchoServer } from "../helpers/grpc-echo.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";
import { curlHttpbin, exampleCert, exampleClientCert } from "../helpers/secure-ingress.js";
import { echoLine } from "../helpers/sockets.js";

const OCTET = 35;
/** Backends outside the mesh (no sidecar: the router reaches them in plaintext, as Istio does), on this file's octet. */
const BACKENDS = `127.${OCTET}.250`;
const GRPC_PORT = 7070;
const TLS_PORT = 8443;

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
  let client: { ca: string; cert: string; key: string };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "tsmesh-gateway-api-"));
    const credentials = join(scratch, "credentials");
    mkdirSync(credentials);
    // The task's `kubectl create -n istio-system secret tls httpbin-credential`, in local mode's credentials folder.
    certs = exampleCert(scratch, "example_certs1");
    writeFileSync(join(credentials, "httpbin-credential.key"), certs.key);
    writeFileSync(join(credentials, "httpbin-credential.crt"), certs.cert);
    // The mutual TLS variant's client CA: a CA-only credential (a Secret with ca.crt).
    client = exampleClientCert(scratch, "client");
    writeFileSync(join(credentials, "client-ca.ca.crt"), client.ca);
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
    // Until the new router reaches httpbin (on a loaded machine its first requests may meet a 503), it is starting.
    const r = await eventually("the HTTPS router serves httpbin-credential", () => curlHttpbin(ingress, 443, "/status/418", certs.cert).then((x) => (x.status === 418 ? x : undefined)), 60_000, 250);
    assert.equal(r.status, 418);
    assert.match(r.body, /teapot/);
    assert.match(r.issuer, /example_certs1 Inc\./);
    // Only the route's matches are served.
    assert.equal((await curlHttpbin(ingress, 443, "/headers", certs.cert)).status, 404);
  });

  it("mutual TLS: the Gateway's frontend validation (a CA Secret) makes the listener require a client certificate", async () => {
    const mutual = SECURE_INGRESS.replace(
      "  gatewayClassName: istio\n",
      '  gatewayClassName: istio\n  tls:\n    frontend:\n      default:\n        validation:\n          caCertificateRefs:\n          - {group: "", kind: Secret, name: client-ca}\n',
    );
    await mesh.apply(mutual);
    const gw = statusOf(mesh, "KubernetesGateway", "istio-system", "mygateway") as { addresses: Array<{ value: string }>; listeners: Array<{ conditions: Array<{ type: string; status: string }> }> };
    assert.deepEqual(
      gw.listeners[0].conditions.map((c) => `${c.type}=${c.status}`),
      ["Accepted=True", "Conflicted=False", "ResolvedRefs=True", "Programmed=True"],
    );
    const ingress = gw.addresses[0].value;
    const r = await eventually("the router asks for a client certificate", async () => {
      const anonymous = await curlHttpbin(ingress, 443, "/status/418", certs.cert).then(
        () => "served",
        () => "refused",
      );
      return anonymous === "refused" ? curlHttpbin(ingress, 443, "/status/418", certs.cert, client) : undefined;
    }, 60_000, 250);
    assert.equal(r.status, 418);
    // A client certificate from another CA is refused too.
    const stranger = exampleClientCert(scratch, "stranger");
    await assert.rejects(curlHttpbin(ingress, 443, "/status/418", certs.cert, stranger));
  });

  it("manual deployment: a Gateway with a Hostname address runs on the existing ingress gateway's workload", async () => {
    await mesh.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: manual
spec:
  gatewayClassName: istio
  addresses:
  - value: istio-ingressgateway.istio-system.svc.cluster.local
    type: Hostname
  listeners:
  - name: http
    port: 8081
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: manual
spec:
  parentRefs: [{name: manual}]
  rules:
  - backendRefs: [{name: httpbin, port: 8000}]
`);
    const status = statusOf(mesh, "KubernetesGateway", "default", "manual") as { addresses: unknown; conditions: Array<{ type: string; status: string }> };
    assert.deepEqual(status.addresses, [{ type: "Hostname", value: "istio-ingressgateway.istio-system.svc.cluster.local" }]);
    assert.equal(status.conditions.find((c) => c.type === "Programmed")?.status, "True");
    assert.equal(mesh.mesh.list().filter((w) => w.plan.name === "manual-istio").length, 0, "no router is deployed for it");
    const ingress = mesh.address("istio-ingressgateway");
    const r = await eventually("the ingress gateway serves the listener", () => httpRequest(ingress, 8081, "/status/418").then((x) => (x.status === 418 ? x : undefined)), 60_000, 250);
    assert.match(r.body, /teapot/);
  });

  describe("GRPCRoute and TLSRoute through an automatically deployed Gateway", () => {
    const grpcServers = ["v1", "v2", "canary"].map((v, i) => new EchoServer({ name: `grpc-echo-${v}`, address: `${BACKENDS}.${i + 1}`, port: GRPC_PORT }));
    const tlsServers: TlsServer[] = [];
    const tlsCerts: Record<string, string> = {};
    let client: EchoClient | undefined;
    let router = "";

    before(async () => {
      for (const s of grpcServers) await s.start();
      for (const [i, name] of ["a", "b"].entries()) {
        const c = exampleCert(scratch, `tls-${name}`, `${name}.example.com`);
        tlsCerts[name] = c.cert;
        // Each answers with its name and the SNI it saw, then closes.
        const server = createTlsServer({ cert: c.cert, key: c.key }, (sock) => sock.end(`tls-${name} ${sock.servername || "-"}\n`));
        await new Promise<void>((resolve, reject) => server.once("error", reject).listen(TLS_PORT, `${BACKENDS}.${i + 4}`, () => resolve()));
        tlsServers.push(server);
      }
      await mesh.apply(routesYaml());
      const status = statusOf(mesh, "KubernetesGateway", "default", "grpc-tls-gateway") as { addresses: Array<{ value: string }>; listeners: Array<{ name: string; attachedRoutes: number }> };
      router = status.addresses[0].value;
      assert.deepEqual(
        status.listeners.map((l) => [l.name, l.attachedRoutes]),
        [
          ["grpc", 1],
          ["tls", 2],
        ],
      );
      client = new EchoClient(`${router}:8080`);
      await eventually("the gRPC router answers", () => client!.echo({}, 3000), 60_000, 250);
    });
    after(async () => {
      client?.close();
      for (const s of grpcServers) await s.stop();
      for (const s of tlsServers) await new Promise<void>((r) => s.close(() => r()));
    });

    it("GRPCRoute: a header match on the method goes to canary, the service's calls split 80/20 between v1 and v2", async () => {
      for (const [kind, name] of [["GRPCRoute", "echo"], ["TLSRoute", "tls-a"]]) {
        const { parents } = statusOf(mesh, kind, "default", name) as { parents: Array<{ conditions: Array<{ type: string; status: string }> }> };
        assert.deepEqual(
          parents[0].conditions.map((c) => `${c.type}=${c.status}`),
          ["Accepted=True", "ResolvedRefs=True"],
          `${kind} ${name}`,
        );
      }
      const canary = await client!.tally(10, { "x-canary": "yes" });
      assert.deepEqual(canary, { "grpc-echo-canary": 10 });
      const n = 50;
      const split = await client!.tally(n);
      assert.equal((split["grpc-echo-v1"] ?? 0) + (split["grpc-echo-v2"] ?? 0), n, JSON.stringify(split));
      const [lo, hi] = binomialRange(n, 0.2);
      const v2 = split["grpc-echo-v2"] ?? 0;
      assert.ok(v2 >= lo && v2 <= hi, `v2 answered ${v2} of ${n} (${lo}..${hi} expected)`);
    });

    it("GRPCRoute: a method no rule matches is UNIMPLEMENTED (the router's 404), the backends never see it", async () => {
      const calls = grpcServers.reduce((n, s) => n + s.calls, 0);
      const raw = new grpc.Client(`${router}:8080`, grpc.credentials.createInsecure());
      const code = await new Promise<number>((resolve) =>
        raw.makeUnaryRequest(
          "/other.Other/Call",
          (v: Buffer) => v,
          (b: Buffer) => b,
          Buffer.from("{}"),
          new grpc.Metadata(),
          { deadline: Date.now() + 5000 },
          (e) => resolve(e?.code ?? grpc.status.OK),
        ),
      );
      raw.close();
      assert.equal(code, grpc.status.UNIMPLEMENTED);
      assert.equal(grpcServers.reduce((n, s) => n + s.calls, 0), calls);
    });

    it("TLSRoute: the SNI picks the backend, TLS passes through to it untouched; an SNI no route names is closed", async () => {
      for (const name of ["a", "b"]) {
        const line = await tlsLine(router, `${name}.example.com`, tlsCerts[name]);
        assert.equal(line, `tls-${name} ${name}.example.com`);
      }
      await assert.rejects(tlsLine(router, "c.example.com", tlsCerts.a));
    });
  });
});

/** One TLS connection to the router's passthrough listener with SNI `sni`, trusting only `ca`: the backend's line. */
function tlsLine(host: string, sni: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host, port: TLS_PORT, servername: sni, ca }, () => undefined);
    let data = "";
    sock.setEncoding("utf8");
    sock.setTimeout(10_000, () => sock.destroy(new Error("timeout")));
    sock.on("data", (d: string) => (data += d));
    sock.on("end", () => (data ? resolve(data.trim()) : reject(new Error("closed without data"))));
    sock.on("error", reject);
  });
}

/** The Gateway (gRPC on 8080, TLS passthrough on 8443), its GRPCRoute and TLSRoutes, and the backends' ServiceEntries. */
function routesYaml(): string {
  const se = (name: string, ip: string, port: number, protocol: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: ${port}, name: ${protocol.toLowerCase()}, protocol: ${protocol}}
  endpoints:
  - address: ${ip}
`;
  const tlsRoute = (name: string) => `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata:
  name: tls-${name}
spec:
  parentRefs:
  - name: grpc-tls-gateway
    sectionName: tls
  hostnames: ["${name}.example.com"]
  rules:
  - backendRefs:
    - name: tls-${name}
      port: ${TLS_PORT}
`;
  return [
    se("grpc-echo-v1", `${BACKENDS}.1`, GRPC_PORT, "GRPC"),
    se("grpc-echo-v2", `${BACKENDS}.2`, GRPC_PORT, "GRPC"),
    se("grpc-echo-canary", `${BACKENDS}.3`, GRPC_PORT, "GRPC"),
    se("tls-a", `${BACKENDS}.4`, TLS_PORT, "TLS"),
    se("tls-b", `${BACKENDS}.5`, TLS_PORT, "TLS"),
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: grpc-tls-gateway
spec:
  gatewayClassName: istio
  addresses:
  - value: ${BACKENDS}.10
  listeners:
  - name: grpc
    port: 8080
    protocol: HTTP
  - name: tls
    port: ${TLS_PORT}
    protocol: TLS
    tls:
      mode: Passthrough
`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs:
  - name: grpc-tls-gateway
    sectionName: grpc
  rules:
  - matches:
    - method: {service: echo.Echo, method: Echo}
      headers:
      - {name: x-canary, value: "yes"}
    backendRefs:
    - {name: grpc-echo-canary, port: ${GRPC_PORT}}
  - matches:
    - method: {service: echo.Echo}
    backendRefs:
    - {name: grpc-echo-v1, port: ${GRPC_PORT}, weight: 80}
    - {name: grpc-echo-v2, port: ${GRPC_PORT}, weight: 20}
`,
    tlsRoute("a"),
    tlsRoute("b"),
  ].join("---\n");
}
