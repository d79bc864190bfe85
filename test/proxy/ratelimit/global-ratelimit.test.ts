// The global rate limit HTTP filter through a real proxy and a real gRPC rate limit service
// (@grpc/grpc-js, envoy.service.ratelimit.v3) behind a STATIC HTTP/2 cluster, all on loopback:
// Istio's task configs (the virtual host's :path descriptor, the route's header_value_match), the
// service answering OK / OVER_LIMIT (429, x-envoy-ratelimited, its headers and body) / an error /
// too slowly (the filter's timeout), failure_mode_deny (500), the per-route config (domain, IGNORE),
// the stats under the route's cluster, and config errors with field paths.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import { envoyRoot, type ProtoObject } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { type Reply, request } from "../helpers.js";
import { eventually } from "../../helpers/eventually.js";

const IP = "127.0.187.21";
const BACKEND_IP = "127.0.187.22";
const RLS_IP = "127.0.187.23";
const RL_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const RL_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

interface Entry {
  key: string;
  value: string;
}
interface Seen {
  domain: string;
  descriptors: Entry[][];
}

/** A rate limit service whose answer the request's descriptors choose (the value of the first entry). */
function rateLimitServer(seen: Seen[], cancelled: { n: number }): grpc.Server {
  const root = envoyRoot();
  const Req = root.lookupType("envoy.service.ratelimit.v3.RateLimitRequest");
  const Resp = root.lookupType("envoy.service.ratelimit.v3.RateLimitResponse");
  const service: grpc.ServiceDefinition = {
    ShouldRateLimit: {
      path: "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: object) => Buffer.from(Req.encode(Req.fromObject(o)).finish()),
      requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), { enums: String, longs: Number, defaults: false }),
      responseSerialize: (o: object) => Buffer.from(Resp.encode(Resp.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => Resp.toObject(Resp.decode(b), { enums: String }),
    },
  };
  const s = new grpc.Server();
  s.addService(service, {
    ShouldRateLimit: (call: grpc.ServerUnaryCall<{ domain: string; descriptors?: Array<{ entries?: Entry[] }> }, object>, cb: grpc.sendUnaryData<object>) => {
      const descriptors = (call.request.descriptors ?? []).map((d) => d.entries ?? []);
      seen.push({ domain: call.request.domain, descriptors });
      const what = descriptors[0]?.[0]?.value ?? "";
      if (what.includes("error")) return cb({ code: grpc.status.UNAVAILABLE, details: "down" });
      if (what.includes("slow")) {
        call.on("cancelled", () => cancelled.n++);
        return setTimeout(() => cb(null, { overallCode: "OK" }), 3000);
      }
      if (what.includes("over") || what === "api") {
        return cb(null, {
          overallCode: "OVER_LIMIT",
          responseHeadersToAdd: [{ key: "x-rls", value: "over" }],
          rawBody: Buffer.from("slow down"),
          statuses: [{ code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 2, unit: "MINUTE" }, limitRemaining: 0, durationUntilReset: { seconds: 42 } }],
        });
      }
      cb(null, { overallCode: "OK", responseHeadersToAdd: [{ key: "x-rls", value: "ok" }], requestHeadersToAdd: [{ key: "x-rls-req", value: "yes" }] });
    },
  });
  return s;
}

const rlFilter = (extra: ProtoObject = {}) => ({
  name: "envoy.filters.http.ratelimit",
  typedConfig: {
    "@type": RL_TYPE,
    domain: "ratelimit",
    rateLimitService: { grpcService: { envoyGrpc: { clusterName: "outbound|8081||ratelimit.default.svc.cluster.local", authority: "ratelimit.default.svc.cluster.local" } }, transportApiVersion: "V3" },
    ...extra,
  },
});

function listener(name: string, port: number, filter: ProtoObject, routes: ProtoObject[]): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type": HCM_TYPE,
              statPrefix: name,
              routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes, rateLimits: [{ actions: [{ requestHeaders: { headerName: ":path", descriptorKey: "PATH" } }] }] }] },
              httpFilters: [filter, ROUTER],
            },
          },
        ],
      },
    ],
  };
}

const cluster = (name: string, ip: string, port: number, extra: ProtoObject = {}): ProtoObject => ({
  name,
  type: "STATIC",
  connectTimeout: { seconds: 1 },
  loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: port } } } }] }] },
  ...extra,
});

type Resp = Reply;

const send = (port: number, path: string, headers: Record<string, string> = {}): Promise<Resp> => request(`http://${IP}:${port}${path}`, { headers });

describe("envoy.filters.http.ratelimit with a real rate limit service", () => {
  const seen: Seen[] = [];
  const upstreamSeen: http.IncomingHttpHeaders[] = [];
  const backend = http.createServer((req, res) => {
    upstreamSeen.push(req.headers);
    res.end("productpage");
  });
  const cancelled = { n: 0 };
  const rls = rateLimitServer(seen, cancelled);
  let proxy: ProxyServer;
  const ports = { allow: 18711, deny: 18712, perRoute: 18713 };
  const stat = (name: string) => proxy.stats.snapshot().counters.find(([n]) => n === name)?.[1] ?? 0;

  before(async () => {
    await new Promise<void>((r) => backend.listen(0, BACKEND_IP, () => r()));
    const rlsPort = await new Promise<number>((resolve, reject) => rls.bindAsync(`${RLS_IP}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const bport = (backend.address() as { port: number }).port;
    const api = { headerValueMatch: { descriptorKey: "PATH", descriptorValue: "api", headers: [{ name: ":path", safeRegexMatch: { googleRe2: {}, regex: "/api/v1/products/[1-9]{1,2}" } }] } };
    proxy = new ProxyServer({
      staticResources: {
        clusters: [cluster("backend", BACKEND_IP, bport), cluster("outbound|8081||ratelimit.default.svc.cluster.local", RLS_IP, rlsPort, { http2ProtocolOptions: {} })],
        listeners: [
          // Istio's task: failure_mode_deny is theirs; here the default (allow) first.
          listener("allow", ports.allow, rlFilter({ timeout: { seconds: 1 } }), [
            { match: { prefix: "/api/v1/products" }, route: { cluster: "backend", rateLimits: [{ actions: [api] }] } },
            { match: { prefix: "/nocluster" }, route: { cluster: "missing" } },
            { match: { prefix: "/" }, route: { cluster: "backend" } },
          ]),
          listener("deny", ports.deny, rlFilter({ failureModeDeny: true, timeout: { seconds: 10 }, enableXRatelimitHeaders: "DRAFT_VERSION_03" }), [{ match: { prefix: "/" }, route: { cluster: "backend" } }]),
          listener("per_route", ports.perRoute, rlFilter(), [
            { match: { prefix: "/ignored" }, route: { cluster: "backend" }, typedPerFilterConfig: { "envoy.filters.http.ratelimit": { "@type": RL_ROUTE_TYPE, vhRateLimits: "IGNORE" } } },
            { match: { prefix: "/" }, route: { cluster: "backend" }, typedPerFilterConfig: { "envoy.filters.http.ratelimit": { "@type": RL_ROUTE_TYPE, domain: "other" } } },
          ]),
        ],
      },
      node: { id: "rl-test", cluster: "istio-ingressgateway" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    rls.forceShutdown();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  it("OK: the request goes on with the service's request headers; its response headers come back", async () => {
    seen.length = 0;
    upstreamSeen.length = 0;
    const r = await send(ports.allow, "/productpage");
    assert.equal(r.status, 200);
    assert.equal(r.body, "productpage");
    assert.equal(r.headers["x-rls"], "ok");
    assert.equal(upstreamSeen[0]["x-rls-req"], "yes");
    assert.deepEqual(seen, [{ domain: "ratelimit", descriptors: [[{ key: "PATH", value: "/productpage" }]] }]);
    assert.equal(stat("cluster.backend.ratelimit.ok"), 1);
  });

  it("OVER_LIMIT: 429 with x-envoy-ratelimited, the service's headers and body (Istio's advanced task)", async () => {
    seen.length = 0;
    const r = await send(ports.allow, "/api/v1/products/1");
    assert.equal(r.status, 429);
    assert.equal(r.headers["x-envoy-ratelimited"], "true");
    assert.equal(r.headers["x-rls"], "over");
    assert.equal(r.body, "slow down");
    // The route's entry has its own rate_limits: the virtual host's are overridden.
    assert.deepEqual(seen[0].descriptors, [[{ key: "PATH", value: "api" }]]);
    assert.equal(stat("cluster.backend.ratelimit.over_limit"), 1);
    // /api/v1/products/123 does not match the regex: no descriptor, no call.
    seen.length = 0;
    assert.equal((await send(ports.allow, "/api/v1/products/123")).status, 200);
    assert.equal(seen.length, 0);
  });

  it("an error or a service slower than the timeout lets the request through (failure_mode_allowed)", async () => {
    assert.equal((await send(ports.allow, "/error")).status, 200);
    assert.equal((await send(ports.allow, "/slow")).status, 200);
    assert.equal(stat("cluster.backend.ratelimit.error"), 2);
    assert.equal(stat("cluster.backend.ratelimit.failure_mode_allowed"), 2);
  });

  it("a route whose cluster does not exist is not rate limited (Envoy needs the cluster)", async () => {
    seen.length = 0;
    assert.equal((await send(ports.allow, "/nocluster")).status, 503);
    assert.equal(seen.length, 0);
  });

  it("failure_mode_deny: 500 when the service fails; x-ratelimit-* headers on OVER_LIMIT", async () => {
    const e = await send(ports.deny, "/error");
    assert.equal(e.status, 500);
    const o = await send(ports.deny, "/over");
    assert.equal(o.status, 429);
    assert.equal(o.headers["x-ratelimit-limit"], "2, 2;w=60");
    assert.equal(o.headers["x-ratelimit-remaining"], "0");
    assert.equal(o.headers["x-ratelimit-reset"], "42");
  });

  it("RateLimitPerRoute: vh_rate_limits IGNORE makes no call; domain overrides the filter's", async () => {
    seen.length = 0;
    assert.equal((await send(ports.perRoute, "/ignored/over")).status, 200);
    assert.equal(seen.length, 0);
    assert.equal((await send(ports.perRoute, "/x")).status, 200);
    assert.equal(seen[0].domain, "other");
  });

  it("the call is cancelled when the client goes away", async () => {
    const before = seen.length;
    const cancelledBefore = cancelled.n;
    await new Promise<void>((resolve) => {
      const req = http.request({ host: IP, port: ports.deny, path: "/slow-gone", agent: false });
      req.on("error", () => resolve());
      req.end();
      void eventually("the service has the call", () => seen.length > before).then(() => {
        req.destroy();
        resolve();
      });
    });
    await eventually("the service saw the call cancelled", () => cancelled.n > cancelledBefore, 10_000);
    // The proxy stays healthy and serves the next request.
    assert.equal((await send(ports.allow, "/productpage")).status, 200);
  });
});

describe("global rate limit config errors name the field", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    ["no domain", rlFilter({ domain: "" }), /httpFilters\[0\]\.typedConfig\.domain/],
    ["no service", rlFilter({ rateLimitService: undefined }), /typedConfig\.rateLimitService\.grpcService/],
    ["google_grpc", rlFilter({ rateLimitService: { grpcService: { googleGrpc: { targetUri: "x" } } } }), /rateLimitService\.grpcService\.googleGrpc/],
    ["a bad request_type", rlFilter({ requestType: "sometimes" }), /typedConfig\.requestType/],
    [
      "a retry policy on the call",
      rlFilter({ rateLimitService: { grpcService: { envoyGrpc: { clusterName: "rls", retryPolicy: { numRetries: { value: 2 } } } } } }),
      /rateLimitService\.grpcService\.envoyGrpc\.retryPolicy: .*not implemented/,
    ],
  ];
  for (const [what, filter, re] of cases) {
    it(what, async () => {
      const p = new ProxyServer({ staticResources: { listeners: [listener("e", 0, filter, [{ match: { prefix: "/" }, route: { cluster: "x" } }])], clusters: [] }, node: { id: "rl-errors" }, ip: IP, log: () => {} });
      await assert.rejects(p.start(), re);
      await p.close();
    });
  }
});
