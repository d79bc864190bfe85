// Request mirroring through the router and the pools, with real gRPC (HTTP/2) and HTTP/1.1
// backends: a gRPC call is mirrored over HTTP/2 to the mirror cluster (its Host gets -shadow), the
// client sees only the primary's answer; mirrored requests count against the mirror cluster's
// circuit breakers (an overflow there never reaches the caller) and feed its outlier detection; a
// mirror that hangs or fails never slows or fails the caller.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { ECHO_SERVICE, type EchoReply } from "../../helpers/grpc-echo.js";
import { eventually } from "../../helpers/eventually.js";

const IP = "127.0.78.1";
const PRIMARY = "127.0.78.2";
const MIRROR = "127.0.78.3";
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

function cluster(name: string, address: string, port: number, extra: ProtoObject = {}, h2 = false): ProtoObject {
  const c: ProtoObject = {
    name,
    type: "STATIC",
    connectTimeout: { seconds: 1 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } } }] }] },
    ...extra,
  };
  if (h2) c.typedExtensionProtocolOptions = { [HPO]: { "@type": `type.googleapis.com/${HPO}`, explicitHttpConfig: { http2ProtocolOptions: {} } } };
  return c;
}

function listener(name: string, port: number, routes: ProtoObject[]): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [{ filters: [{ name: "hcm", typedConfig: { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters: [ROUTER] } }] }],
  };
}

const mirrored = (prefix: string, cluster: string, mirror: string, timeout?: ProtoObject, policy: ProtoObject = {}): ProtoObject => ({
  match: { prefix },
  route: { cluster, requestMirrorPolicies: [{ cluster: mirror, runtimeFraction: { defaultValue: { numerator: 100 } }, ...policy }], ...(timeout ? { timeout } : {}) },
});

/** A gRPC echo that records the :authority and protocol of every call. */
function echo(name: string, seen: Array<{ message: string }>): grpc.Server {
  const s = new grpc.Server();
  s.addService(ECHO_SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<{ message: string }, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      seen.push({ message: call.request.message });
      cb(null, { server: name, message: call.request.message, metadata: {} });
    },
  });
  return s;
}

function bind(s: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => s.bindAsync(`${address}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

describe("request mirroring through the router", () => {
  const primarySeen: Array<{ message: string }> = [];
  const mirrorSeen: Array<{ message: string }> = [];
  const h1MirrorSeen: Array<{ host: string; body: string }> = [];
  let primary: grpc.Server;
  let mirror: grpc.Server;
  let h1Primary: http.Server;
  let h1Mirror: http.Server;
  let hang = false;
  let proxy: ProxyServer;
  const GRPC_PORT = 18121;
  const H1_PORT = 18122;

  before(async () => {
    primary = echo("primary", primarySeen);
    mirror = echo("mirror", mirrorSeen);
    const pp = await bind(primary, PRIMARY);
    const mp = await bind(mirror, MIRROR);
    h1Primary = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("primary"));
    });
    h1Mirror = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        h1MirrorSeen.push({ host: req.headers.host ?? "", body: Buffer.concat(chunks).toString() });
        if (hang) return; // never answers
        res.writeHead(503);
        res.end("mirror fails");
      });
    });
    await new Promise<void>((r) => h1Primary.listen(0, PRIMARY, () => r()));
    await new Promise<void>((r) => h1Mirror.listen(0, MIRROR, () => r()));
    const h1p = (h1Primary.address() as { port: number }).port;
    const h1m = (h1Mirror.address() as { port: number }).port;
    proxy = new ProxyServer({
      staticResources: {
        clusters: [
          cluster("grpc-primary", PRIMARY, pp, {}, true),
          cluster("grpc-mirror", MIRROR, mp, {}, true),
          cluster("h1-primary", PRIMARY, h1p),
          cluster("h1-mirror-keep-host", MIRROR, h1m),
          // The mirror cluster's own limits and outlier detection apply to mirrored requests.
          cluster("h1-mirror", MIRROR, h1m, {
            circuitBreakers: { thresholds: [{ maxRequests: { value: 1 }, maxPendingRequests: { value: 1 }, maxConnections: { value: 1 } }] },
            outlierDetection: { consecutive_5xx: { value: 2 }, enforcingConsecutive_5xx: { value: 100 }, interval: { seconds: 60 }, baseEjectionTime: { seconds: 60 }, maxEjectionPercent: { value: 100 } },
          }),
        ],
        listeners: [listener("grpc", GRPC_PORT, [mirrored("/", "grpc-primary", "grpc-mirror")]), listener("h1", H1_PORT, [mirrored("/keep-host", "h1-primary", "h1-mirror-keep-host", { seconds: 20 }, { disableShadowHostSuffixAppend: true }), mirrored("/", "h1-primary", "h1-mirror", { seconds: 20 })])],
      },
      node: { id: "mirror-test" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    primary.forceShutdown();
    mirror.forceShutdown();
    h1Primary.closeAllConnections();
    h1Mirror.closeAllConnections();
    await new Promise<void>((r) => h1Primary.close(() => r()));
    await new Promise<void>((r) => h1Mirror.close(() => r()));
  });

  it("a gRPC call is mirrored over HTTP/2; the client sees only the primary's answer", async () => {
    const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, "Echo");
    const client = new Client(`${IP}:${GRPC_PORT}`, grpc.credentials.createInsecure());
    try {
      const reply = await new Promise<EchoReply>((resolve, reject) => client.Echo({ message: "hello" }, (err: Error | null, r: EchoReply) => (err ? reject(err) : resolve(r))));
      assert.equal(reply.server, "primary");
      await eventually("the mirrored call", () => mirrorSeen.length === 1);
      assert.equal(mirrorSeen[0].message, "hello");
      const stats = (n: string) => proxy.stats.counter(`cluster.grpc-mirror.${n}`).value;
      assert.equal(stats("upstream_cx_http2_total"), 1, "the mirror went over the HTTP/2 pool");
      assert.equal(stats("upstream_rq_2xx"), 1);
    } finally {
      client.close();
    }
  });

  it("HTTP/1.1 mirrors: -shadow host and the body; the mirror's 503s feed its outlier detection, never the caller", async () => {
    const send = (body: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: IP, port: H1_PORT, path: "/x", method: "POST", headers: { host: "svc:9080", "content-length": String(body.length) }, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on("error", reject);
        req.end(body);
      });
    for (const b of ["one", "two"]) {
      const r = await send(b);
      assert.deepEqual(r, { status: 200, body: "primary" });
      await eventually(`mirror of ${b}`, () => h1MirrorSeen.some((s) => s.body === b));
    }
    assert.equal(h1MirrorSeen[0].host, "svc-shadow:9080");
    const ejected = () => proxy.cluster("h1-mirror")!.hosts()[0].ejected;
    await eventually("the mirror host ejected after two 503s", ejected);
    assert.equal(proxy.stats.counter("cluster.h1-mirror.outlier_detection.ejections_enforced_consecutive_5xx").value, 1);
  });

  it("a mirror that hangs never slows the caller, and its circuit breakers overflow on their own", async () => {
    hang = true;
    proxy.cluster("h1-mirror")!.hosts()[0].ejected = false;
    const started = Date.now();
    const results: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: IP, port: H1_PORT, path: "/slow", agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end();
      });
      results.push(r);
    }
    assert.deepEqual(results, [200, 200, 200]);
    // Three answers, none waiting for the hanging mirror (its route timeout is 20 s).
    assert.ok(Date.now() - started < 10_000, `the caller waited ${Date.now() - started} ms`);
    // max_requests 1 + 1 pending on the mirror: the third mirrored request overflowed there.
    await eventually("the mirror's overflow", () => proxy.stats.counter("cluster.h1-mirror.upstream_rq_pending_overflow").value >= 1);
  });

  it("disable_shadow_host_suffix_append: the copy keeps the request's Host", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: IP, port: H1_PORT, path: "/keep-host", method: "POST", headers: { host: "svc:9080", "content-length": "4" }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end("keep");
    });
    assert.equal(status, 200);
    await eventually("the mirror of /keep-host", () => h1MirrorSeen.some((s) => s.body === "keep"));
    assert.equal(h1MirrorSeen.find((s) => s.body === "keep")?.host, "svc:9080");
  });
});
