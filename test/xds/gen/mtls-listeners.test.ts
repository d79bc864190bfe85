// A sidecar's inbound side by PeerAuthentication, as Istio generates it (listener_inbound.go,
// filterchain_options.go, authn BuildInboundTLS): golden listeners per mode, and which chain the
// proxy's own filter-chain match picks for a plaintext client, an Istio mTLS client and a client
// speaking other TLS — PERMISSIVE takes both, STRICT refuses plaintext, DISABLE refuses mTLS.
// Gateways: PeerAuthentication does not apply to their servers (as in Istio).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { LISTENER_TYPE, decodeMessage, encodeMessage, isAnyOf } from "../../../src/envoy/protos.js";
import type { DownstreamTlsContext, Listener } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import type { Proxy } from "../../../src/model/proxy.js";
import { listenerSpec, selectFilterChain, type ListenerSpec } from "../../../src/proxy/listener-spec.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import { assertGolden, assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

const productpage = (md: Record<string, unknown> = { INTERCEPTION_MODE: "NONE" }): Proxy =>
  testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" }, metadata: md });
const ingress = (): Proxy =>
  testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" } });

const pa = (ns: string, spec: string, name = "default") => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}}
spec: ${spec}
`;

function listener(proxy: Proxy, push: PushContext, name: string): Listener {
  const l = buildListeners(proxy, push).find((x) => x.name === name);
  assert.ok(l, `listener ${name}`);
  assertRoundTrip(LISTENER_TYPE, l, name);
  return l;
}

/** The listener as the proxy compiles it (it refuses what it cannot implement). */
function compiled(l: Listener): ListenerSpec {
  return listenerSpec(decodeMessage(LISTENER_TYPE, encodeMessage(LISTENER_TYPE, l)) as Listener);
}

type Client = "plaintext-http" | "plaintext-tcp" | "istio-mtls" | "istio-mtls-h2" | "other-tls";
const CLIENTS: Record<Client, { transport: string; alpn: string[] }> = {
  // What the http_inspector reports for HTTP/1.1, and nothing for other bytes.
  "plaintext-http": { transport: "raw_buffer", alpn: ["http/1.1"] },
  "plaintext-tcp": { transport: "raw_buffer", alpn: [] },
  // A tsmesh client sidecar's ClientHello (ISTIO_MUTUAL: istio-peer-exchange, istio [, h2]).
  "istio-mtls": { transport: "tls", alpn: ["istio-peer-exchange", "istio"] },
  "istio-mtls-h2": { transport: "tls", alpn: ["istio-peer-exchange", "istio", "h2"] },
  // curl https://… straight to the workload.
  "other-tls": { transport: "tls", alpn: ["h2", "http/1.1"] },
};

/** What the proxy does with a client: "mtls-http" / "mtls-tcp" (terminates mTLS), "http" / "tcp" (plaintext or passed through), or "closed". */
function verdict(spec: ListenerSpec, port: number, client: Client): string {
  const fc = selectFilterChain(spec, { localAddress: "127.0.2.1", localPort: port, remoteAddress: "127.0.3.1", ...CLIENTS[client] });
  if (!fc) return "closed";
  const http = fc.filters.some((f) => f.name === "envoy.filters.network.http_connection_manager");
  return `${fc.object.transportSocket ? "mtls-" : ""}${http ? "http" : "tcp"}`;
}

function tlsOf(l: Listener, i: number): DownstreamTlsContext {
  const tc = l.filterChains?.[i].transportSocket?.typedConfig;
  assert.ok(isAnyOf(tc, "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"));
  return tc;
}

describe("inbound by PeerAuthentication (local mode: the sidecar's listener on the workload address)", () => {
  const modes: { name: string; yaml: string[]; golden: string; want: Record<Client, string> }[] = [
    {
      name: "no policy: PERMISSIVE",
      yaml: [],
      golden: "listeners-mtls-inbound-permissive",
      want: { "plaintext-http": "http", "plaintext-tcp": "http", "istio-mtls": "mtls-http", "istio-mtls-h2": "mtls-http", "other-tls": "closed" },
    },
    {
      name: "namespace STRICT (Istio's mTLS migration task)",
      yaml: [pa("default", "{mtls: {mode: STRICT}}")],
      golden: "listeners-mtls-inbound-strict",
      want: { "plaintext-http": "closed", "plaintext-tcp": "closed", "istio-mtls": "mtls-http", "istio-mtls-h2": "mtls-http", "other-tls": "mtls-http" },
    },
    {
      name: "mesh DISABLE",
      yaml: [pa("istio-system", "{mtls: {mode: DISABLE}}")],
      golden: "listeners-mtls-inbound-disable",
      want: { "plaintext-http": "http", "plaintext-tcp": "http", "istio-mtls": "closed", "istio-mtls-h2": "closed", "other-tls": "closed" },
    },
  ];
  for (const m of modes) {
    it(`${m.name}: golden, and what each client gets on the HTTP port 9080`, () => {
      const l = listener(productpage(), bookinfo(...m.yaml), "127.0.2.1_9080");
      assertGolden(m.golden, [l]);
      const spec = compiled(l);
      const got = Object.fromEntries((Object.keys(CLIENTS) as Client[]).map((c) => [c, verdict(spec, 9080, c)]));
      assert.deepEqual(got, m.want);
    });
  }

  it("the mTLS chain: workload certificate and root from the agent, client certificate required in the trust domain, h2/http1.1", () => {
    const l = listener(productpage(), bookinfo(), "127.0.2.1_9080");
    const ctx = tlsOf(l, 0);
    assert.deepEqual(ctx.requireClientCertificate, { value: true });
    const common = ctx.commonTlsContext!;
    assert.deepEqual(common.alpnProtocols, ["h2", "http/1.1"], "never 'istio': it would win the negotiation over h2");
    assert.deepEqual(common.tlsCertificateSdsSecretConfigs?.map((s) => [s.name, s.sdsConfig?.apiConfigSource?.grpcServices?.[0].envoyGrpc?.clusterName]), [["default", "sds-grpc"]]);
    assert.equal(common.combinedValidationContext?.validationContextSdsSecretConfig?.name, "ROOTCA");
    assert.deepEqual(common.combinedValidationContext?.defaultValidationContext?.matchSubjectAltNames, [{ prefix: "spiffe://cluster.local/" }]);
    assert.deepEqual(l.filterChains?.[0].filterChainMatch?.applicationProtocols, ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"]);
    assert.deepEqual(
      l.listenerFilters?.map((f) => f.name),
      ["envoy.filters.listener.tls_inspector"],
      "TLS inspection where a chain matches on transport; an HTTP port needs no http_inspector",
    );
  });

  it("workload STRICT with a port-level DISABLE (Istio's authn task), keyed by the workload's port", () => {
    const push = bookinfo(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi, namespace: default}
spec:
  hosts: [multi.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 8000, name: http, protocol: HTTP, targetPort: 80}
  - {number: 7071, name: tcp, protocol: TCP}
  - {number: 7072, name: sniffed}
  workloadSelector: {labels: {app: multi}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: multi, namespace: default}
spec: {address: 127.0.7.1, serviceAccount: multi, labels: {app: multi}}
---
${pa("default", `
  selector: {matchLabels: {app: multi}}
  mtls: {mode: STRICT}
  portLevelMtls: {"80": {mode: DISABLE}, "7072": {mode: PERMISSIVE}}`, "multi")}`);
    const proxy = testProxy({ ip: "127.0.7.1", name: "multi", labels: { app: "multi" }, metadata: { INTERCEPTION_MODE: "NONE" } });
    const ask = (port: number, client: Client) => verdict(compiled(listener(proxy, push, `127.0.7.1_${port}`)), port, client);
    assert.equal(ask(80, "plaintext-http"), "http", "port 80 (service port 8000) DISABLE");
    assert.equal(ask(80, "istio-mtls"), "closed");
    assert.equal(ask(7071, "plaintext-tcp"), "closed", "TCP port STRICT");
    assert.equal(ask(7071, "istio-mtls"), "mtls-tcp");
    // A sniffed PERMISSIVE port: Istio's five chains.
    assert.equal(ask(7072, "plaintext-http"), "http");
    assert.equal(ask(7072, "plaintext-tcp"), "tcp");
    assert.equal(ask(7072, "istio-mtls"), "mtls-tcp", "no istio-http/* ALPN (tsmesh has no istio.alpn filter): TCP over mTLS");
    assert.equal(ask(7072, "other-tls"), "tcp", "other TLS goes to the app as it is");
    const tcpChain = listener(proxy, push, "127.0.7.1_7071");
    assert.deepEqual(tlsOf(tcpChain, 0).commonTlsContext?.alpnProtocols, ["istio-peer-exchange", "h2", "http/1.1"]);
  });

  it("capture mode: virtualInbound's passthrough chains follow the mode; undeclared port-level ports get their own", () => {
    const push = bookinfo(pa("default", `
  selector: {matchLabels: {app: productpage}}
  mtls: {mode: STRICT}
  portLevelMtls: {"9999": {mode: DISABLE}, "9080": {mode: PERMISSIVE}}`));
    const l = listener(productpage({}), push, "virtualInbound");
    const spec = compiled(l);
    assert.equal(verdict(spec, 8888, "plaintext-tcp"), "closed", "undeclared port: the workload's STRICT");
    assert.equal(verdict(spec, 8888, "istio-mtls"), "mtls-tcp");
    assert.equal(verdict(spec, 9999, "plaintext-tcp"), "tcp", "undeclared port with a port-level DISABLE");
    assert.equal(verdict(spec, 9080, "plaintext-http"), "http", "declared port-level PERMISSIVE: the service chain");
    assert.deepEqual(
      l.filterChains?.map((c) => `${c.name}:${c.filterChainMatch?.destinationPort?.value ?? ""}:${c.filterChainMatch?.transportProtocol ?? ""}`).slice(0, 5),
      ["virtualInbound-blackhole:15006:", "virtualInbound-catchall-http::tls", "virtualInbound::tls", "virtualInbound-catchall-http:9999:raw_buffer", "virtualInbound:9999:raw_buffer"],
    );
  });
});

describe("inbound listeners follow the workload's own policy", () => {
  it("in one push, the same address with other labels gets its own chains (the memo key names namespace and labels)", () => {
    const push = bookinfo(pa("default", "{selector: {matchLabels: {app: productpage}}, mtls: {mode: STRICT}}", "pp"));
    const as = (labels: Record<string, string>) =>
      buildListeners(testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels, metadata: { INTERCEPTION_MODE: "NONE" } }), push).find((l) => l.name === "127.0.2.1_9080")!;
    assert.equal(as({ app: "productpage" }).filterChains?.length, 1, "STRICT: the mTLS chain only");
    assert.equal(as({ app: "other" }).filterChains?.length, 2, "PERMISSIVE: mTLS and plaintext");
  });
});

describe("Sidecar ingress tls", () => {
  // Istio's example CA pair stands in for a server certificate (the proxy loads the files).
  const certs = join(packageRoot(), "test", "fixtures", "istio", "certs");
  const sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: productpage, namespace: default}
spec:
  workloadSelector: {labels: {app: productpage}}
  ingress:
  - port: {number: 9443, name: https, protocol: HTTPS}
    defaultEndpoint: 127.0.0.1:9080
    tls: {mode: SIMPLE, serverCertificate: ${certs}/ca-cert.pem, privateKey: ${certs}/ca-key.pem}
`;
  const DISABLE_9443 = pa("default", `
  selector: {matchLabels: {app: productpage}}
  portLevelMtls: {"9443": {mode: DISABLE}}`, "productpage");

  it("terminated where the port's PeerAuthentication mode is DISABLE (as Istio): HTTPS reaches the app as HTTP", () => {
    const l = listener(productpage(), bookinfo(sidecar, DISABLE_9443), "127.0.2.1_9443");
    assert.equal(l.filterChains?.length, 1);
    assert.equal(l.filterChains?.[0].filterChainMatch?.transportProtocol, "tls");
    const ctx = tlsOf(l, 0);
    assert.deepEqual(ctx.commonTlsContext?.tlsCertificates, [{ certificateChain: { filename: `${certs}/ca-cert.pem` }, privateKey: { filename: `${certs}/ca-key.pem` } }]);
    assert.equal(verdict(compiled(l), 9443, "other-tls"), "mtls-http", "the TLS chain terminates and routes HTTP");
    assert.equal(verdict(compiled(l), 9443, "plaintext-http"), "closed");
  });

  it("ignored under PERMISSIVE/STRICT, as Istio: the port gets the Istio mTLS chains", () => {
    const l = listener(productpage(), bookinfo(sidecar), "127.0.2.1_9443");
    assert.equal(tlsOf(l, 0).commonTlsContext?.tlsCertificateSdsSecretConfigs?.[0].name, "default");
  });
});

describe("gateways", () => {
  it("ISTIO_MUTUAL servers terminate with the gateway's mesh certificate (HTTPS: h2/http1.1; TLS: also metadata exchange)", () => {
    const push = bookinfo(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mesh-gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/default/sa/sleep"]}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: ["*"]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mesh-gw-tcp, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [mesh-gw]
  tcp: [{route: [{destination: {host: ratings.default.svc.cluster.local, port: {number: 9080}}}]}]
`);
    const https = tlsOf(listener(ingress(), push, "0.0.0.0_8443"), 0);
    assert.deepEqual(https.requireClientCertificate, { value: true });
    assert.deepEqual(https.commonTlsContext?.alpnProtocols, ["h2", "http/1.1"]);
    assert.deepEqual(https.commonTlsContext?.tlsCertificateSdsSecretConfigs?.map((c) => c.name), ["default"]);
    assert.deepEqual(https.commonTlsContext?.combinedValidationContext?.defaultValidationContext, { matchSubjectAltNames: [{ exact: "spiffe://cluster.local/ns/default/sa/sleep" }] });
    assert.equal(https.commonTlsContext?.combinedValidationContext?.validationContextSdsSecretConfig?.name, "ROOTCA");
    const tcp = tlsOf(listener(ingress(), push, "0.0.0.0_9443"), 0);
    assert.deepEqual(tcp.commonTlsContext?.alpnProtocols, ["istio-peer-exchange", "h2", "http/1.1"]);
    compiled(listener(ingress(), push, "0.0.0.0_8443"));
  });


  it("a mesh-wide PeerAuthentication STRICT leaves the gateway's servers as they are (Istio does not apply it to gateways)", () => {
    const before = buildListeners(ingress(), bookinfo());
    const after = buildListeners(ingress(), bookinfo(pa("istio-system", "{mtls: {mode: STRICT}}")));
    assert.deepEqual(after, before);
  });
});
