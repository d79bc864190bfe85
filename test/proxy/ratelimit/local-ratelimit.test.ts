// The local rate limit HTTP filter through a real proxy (static bootstrap, real sockets): Istio's
// task config (4 tokens a minute: four requests pass, the fifth gets 429 local_rate_limited with the
// configured response header), the per-route config replacing a disabled filter-level one,
// descriptors from the route's rate_limits with their own buckets, filter_enforced off (the request
// goes on, marked), x-ratelimit-* headers, gRPC requests, stats, and config errors with field paths.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { type Reply, request } from "../helpers.js";

const IP = "127.0.187.1";
const BACKEND_IP = "127.0.187.2";
const LRL_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const ALL = { defaultValue: { numerator: 100, denominator: "HUNDRED" } };
const NONE = { defaultValue: { numerator: 0, denominator: "HUNDRED" } };

/** Istio's task: 4 tokens per 60 s, enabled and enforced, `x-local-rate-limit: true` on a 429. */
function taskConfig(extra: ProtoObject = {}): ProtoObject {
  return {
    "@type": LRL_TYPE,
    statPrefix: "http_local_rate_limiter",
    tokenBucket: { maxTokens: 4, tokensPerFill: { value: 4 }, fillInterval: { seconds: 60 } },
    filterEnabled: { runtimeKey: "local_rate_limit_enabled", ...ALL },
    filterEnforced: { runtimeKey: "local_rate_limit_enforced", ...ALL },
    responseHeadersToAdd: [{ append: { value: false }, header: { key: "x-local-rate-limit", value: "true" } }],
    ...extra,
  };
}

const lrl = (typedConfig: ProtoObject) => ({ name: "envoy.filters.http.local_ratelimit", typedConfig });

function listener(name: string, port: number, httpFilters: ProtoObject[], routes: ProtoObject[], vhostExtra: ProtoObject = {}): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes, ...vhostExtra }] }, httpFilters },
          },
        ],
      },
    ],
  };
}

const route = (prefix: string, extra: ProtoObject = {}, action: ProtoObject = {}): ProtoObject => ({ match: { prefix }, route: { cluster: "backend", ...action }, ...extra });

function staticCluster(port: number): ProtoObject {
  return { name: "backend", type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: "backend", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: BACKEND_IP, portValue: port } } } }] }] } };
}

type Resp = Reply;

const send = (port: number, path: string, headers: Record<string, string> = {}): Promise<Resp> => request(`http://${IP}:${port}${path}`, { headers });

async function statuses(port: number, path: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(port, path, headers)).status);
  return out;
}

function counter(p: ProxyServer, name: string): number | undefined {
  return p.stats.snapshot().counters.find(([n]) => n === name)?.[1];
}

describe("envoy.filters.http.local_ratelimit", () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const backend = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("backend");
  });
  let proxy: ProxyServer;
  const ports = { task: 18701, perRoute: 18702, descriptors: 18703, notEnforced: 18704, headers: 18705, vhost: 18706 };

  before(async () => {
    await new Promise<void>((r) => backend.listen(0, BACKEND_IP, () => r()));
    const bport = (backend.address() as { port: number }).port;
    const descriptorConfig = taskConfig({
      statPrefix: "desc",
      tokenBucket: { maxTokens: 100, tokensPerFill: { value: 100 }, fillInterval: { seconds: 60 } },
      descriptors: [
        { entries: [{ key: "generic_key", value: "slow" }], tokenBucket: { maxTokens: 1, tokensPerFill: { value: 1 }, fillInterval: { seconds: 60 } } },
        { entries: [{ key: "user", value: "alice" }], tokenBucket: { maxTokens: 2, tokensPerFill: { value: 2 }, fillInterval: { seconds: 60 } } },
      ],
      alwaysConsumeDefaultTokenBucket: { value: false },
    });
    proxy = new ProxyServer({
      staticResources: {
        clusters: [staticCluster(bport)],
        listeners: [
          listener("task", ports.task, [lrl(taskConfig()), ROUTER], [route("/")]),
          // Istio's second variant: the filter has only a stat_prefix (not enabled); a route's config enables it.
          listener(
            "per_route",
            ports.perRoute,
            [lrl({ "@type": LRL_TYPE, statPrefix: "http_local_rate_limiter" }), ROUTER],
            [route("/limited", { typedPerFilterConfig: { "envoy.filters.http.local_ratelimit": taskConfig({ statPrefix: "per_route_rl" }) } }), route("/")],
          ),
          listener(
            "descriptors",
            ports.descriptors,
            [lrl(descriptorConfig), ROUTER],
            [
              route("/slow", {}, { rateLimits: [{ actions: [{ genericKey: { descriptorValue: "slow" } }] }] }),
              route("/user", {}, { rateLimits: [{ actions: [{ requestHeaders: { headerName: "x-user", descriptorKey: "user" } }] }] }),
              route("/"),
            ],
          ),
          listener(
            "not_enforced",
            ports.notEnforced,
            [lrl(taskConfig({ statPrefix: "shadow", tokenBucket: { maxTokens: 1, fillInterval: { seconds: 60 } }, filterEnforced: NONE, requestHeadersToAddWhenNotEnforced: [{ header: { key: "x-would-limit", value: "yes" } }] })), ROUTER],
            [route("/")],
          ),
          listener("headers", ports.headers, [lrl(taskConfig({ statPrefix: "hdr", enableXRatelimitHeaders: "DRAFT_VERSION_03", status: { code: 503 } })), ROUTER], [route("/")]),
          // Virtual host rate_limits apply when the route has none (OVERRIDE, the default).
          listener(
            "vhost",
            ports.vhost,
            [lrl(taskConfig({ statPrefix: "vh", tokenBucket: { maxTokens: 50, fillInterval: { seconds: 60 } }, descriptors: [{ entries: [{ key: "PATH", value: "/a" }], tokenBucket: { maxTokens: 1, fillInterval: { seconds: 60 } } }] })), ROUTER],
            [route("/own", {}, { rateLimits: [{ actions: [{ genericKey: { descriptorValue: "x" } }] }] }), route("/")],
            { rateLimits: [{ actions: [{ requestHeaders: { headerName: ":path", descriptorKey: "PATH" } }] }] },
          ),
        ],
      },
      node: { id: "lrl-test", cluster: "lrl" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  it("Istio's task: four requests pass, the fifth gets 429 local_rate_limited with the configured header", async () => {
    const results: Resp[] = [];
    for (let i = 0; i < 5; i++) results.push(await send(ports.task, "/productpage"));
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 200, 429],
    );
    const limited = results[4];
    assert.equal(limited.body, "local_rate_limited");
    assert.equal(limited.headers["x-local-rate-limit"], "true");
    assert.equal(limited.headers["x-envoy-ratelimited"], undefined, "the local filter sets only what the config says");
    assert.equal(results[0].headers["x-local-rate-limit"], undefined);
    assert.equal(counter(proxy, "http_local_rate_limiter.http_local_rate_limit.enabled"), 5);
    assert.equal(counter(proxy, "http_local_rate_limiter.http_local_rate_limit.ok"), 4);
    assert.equal(counter(proxy, "http_local_rate_limiter.http_local_rate_limit.rate_limited"), 1);
    assert.equal(counter(proxy, "http_local_rate_limiter.http_local_rate_limit.enforced"), 1);
  });

  it("a route's typed_per_filter_config enables the limit on that route only", async () => {
    assert.deepEqual(await statuses(ports.perRoute, "/other", 6), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(await statuses(ports.perRoute, "/limited", 5), [200, 200, 200, 200, 429]);
    assert.equal(counter(proxy, "per_route_rl.http_local_rate_limit.enforced"), 1);
  });

  it("descriptors from the route's rate_limits have their own buckets", async () => {
    assert.deepEqual(await statuses(ports.descriptors, "/slow", 2), [200, 429]);
    assert.deepEqual(await statuses(ports.descriptors, "/user", 3, { "x-user": "alice" }), [200, 200, 429]);
    // Another user matches no descriptor: the default bucket (100) applies.
    assert.deepEqual(await statuses(ports.descriptors, "/user", 3, { "x-user": "bob" }), [200, 200, 200]);
    assert.deepEqual(await statuses(ports.descriptors, "/", 3), [200, 200, 200]);
  });

  it("virtual host rate_limits apply to routes without their own (OVERRIDE)", async () => {
    assert.deepEqual(await statuses(ports.vhost, "/a", 2), [200, 429]);
    // /own has its own rate_limits (no descriptor bucket for them): the default bucket.
    assert.deepEqual(await statuses(ports.vhost, "/own", 2), [200, 200]);
  });

  it("filter_enforced 0%: the request goes on with request_headers_to_add_when_not_enforced", async () => {
    seen.length = 0;
    assert.deepEqual(await statuses(ports.notEnforced, "/", 2), [200, 200]);
    assert.equal(seen[0]["x-would-limit"], undefined);
    assert.equal(seen[1]["x-would-limit"], "yes");
    assert.equal(counter(proxy, "shadow.http_local_rate_limit.rate_limited"), 1);
    assert.equal(counter(proxy, "shadow.http_local_rate_limit.enforced"), 0);
  });

  it("x-ratelimit-* headers (DRAFT_VERSION_03) and a configured status", async () => {
    const r = [];
    for (let i = 0; i < 5; i++) r.push(await send(ports.headers, "/"));
    assert.deepEqual(
      r.map((x) => [x.status, x.headers["x-ratelimit-limit"], x.headers["x-ratelimit-remaining"]]),
      [
        [200, "4", "3"],
        [200, "4", "2"],
        [200, "4", "1"],
        [200, "4", "0"],
        [503, "4", "0"],
      ],
    );
    assert.match(String(r[4].headers["x-ratelimit-reset"]), /^\d+$/);
  });
});

describe("local rate limit config errors name the field", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    ["no stat_prefix", listener("e1", 0, [lrl({ "@type": LRL_TYPE }), ROUTER], [route("/")]), /httpFilters\[0\]\.typedConfig\.statPrefix/],
    [
      "a per-route config without a token bucket",
      listener("e2", 0, [lrl({ "@type": LRL_TYPE, statPrefix: "x" }), ROUTER], [route("/", { typedPerFilterConfig: { "envoy.filters.http.local_ratelimit": { "@type": LRL_TYPE, statPrefix: "x" } } })]),
      /typedPerFilterConfig\["envoy\.filters\.http\.local_ratelimit"\]\.tokenBucket: local rate limit token bucket must be set/,
    ],
    ["max_tokens 0", listener("e3", 0, [lrl(taskConfig({ tokenBucket: { maxTokens: 0, fillInterval: { seconds: 1 } } })), ROUTER], [route("/")]), /tokenBucket\.maxTokens/],
    ["no fill_interval", listener("e4", 0, [lrl(taskConfig({ tokenBucket: { maxTokens: 1 } })), ROUTER], [route("/")]), /tokenBucket\.fillInterval/],
    [
      "a descriptor without a bucket",
      listener("e5", 0, [lrl(taskConfig({ descriptors: [{ entries: [{ key: "a", value: "b" }] }] })), ROUTER], [route("/")]),
      /descriptors\[0\]\.tokenBucket/,
    ],
    [
      "a dynamic descriptor (empty value)",
      listener("e6", 0, [lrl(taskConfig({ descriptors: [{ entries: [{ key: "a" }], tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } } }] })), ROUTER], [route("/")]),
      /descriptors\[0\]\.entries\[0\]\.value: .*not implemented/,
    ],
    [
      "a duplicate descriptor",
      listener("e7", 0, [lrl(taskConfig({ descriptors: [0, 1].map(() => ({ entries: [{ key: "a", value: "b" }], tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1 } } })) })), ROUTER], [route("/")]),
      /descriptors\[1\]: duplicate descriptor/,
    ],
    ["an unknown route rate limit action", listener("e8", 0, [ROUTER], [route("/", {}, { rateLimits: [{ actions: [{}] }] })]), /routes\[0\]\.route\.rateLimits\[0\]\.actions\[0\]: rate limit action needs one action kind/],
  ];
  for (const [what, l, re] of cases) {
    it(what, async () => {
      const p = new ProxyServer({ staticResources: { listeners: [l], clusters: [] }, node: { id: "lrl-errors" }, ip: IP, log: () => {} });
      await assert.rejects(p.start(), re);
      await p.close();
    });
  }
});
