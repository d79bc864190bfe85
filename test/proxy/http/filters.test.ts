// The proxy's extension registries, end to end with real sockets: an HTTP filter, network filter,
// listener filter or transport socket the proxy does not implement is refused with its field path
// (a static bootstrap does not start; an xDS update is NACKed and the last good config keeps
// serving) unless it is marked is_optional, then it is skipped and counted; filters run in the order
// the config lists them; typed_per_filter_config reaches the filter it names (FilterConfig with
// disabled, is_optional, and HttpFilter.disabled enabled per route); the buffer filter's body
// buffering and the CORS filter's response headers go through the filter manager's data and
// encode paths.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { cluster, fullPush, Harness, LISTENER_TYPE, snapshot } from "../../xds/server/helpers.js";
import type { TypeStatus } from "../../../src/xds/server/types.js";

const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
// A filter the proxy does not implement (Lua).
const LUA = { name: "envoy.filters.http.lua", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", defaultSourceCode: { inlineString: "function envoy_on_request(h) end" } } };
const abortFault = (status: number) => ({ "@type": FAULT_TYPE, abort: { httpStatus: status, percentage: { numerator: 100 } } });
const fault = (status: number, extra: ProtoObject = {}) => ({ name: "envoy.filters.http.fault", typedConfig: abortFault(status), ...extra });
const buffer = (max: number) => ({ name: "envoy.filters.http.buffer", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", maxRequestBytes: { value: max } } });

const IP = "127.0.77.1";
const BACKEND_IP = "127.0.77.2";

/** A backend that records method, headers and body of each request. */
class Recorder {
  readonly seen: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      this.seen.push({ url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("backend");
    });
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, BACKEND_IP, () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function staticCluster(port: number): ProtoObject {
  return { name: "backend", type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: "backend", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: BACKEND_IP, portValue: port } } } }] }] } };
}

function listener(name: string, port: number, httpFilters: ProtoObject[], routes: ProtoObject[], more: ProtoObject = {}): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters } }], ...more }],
  };
}

const route = (prefix: string, extra: ProtoObject = {}): ProtoObject => ({ match: { prefix }, route: { cluster: "backend" }, ...extra });

function send(port: number, path: string, o: { method?: string; body?: string; headers?: Record<string, string>; chunked?: boolean } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined && !o.chunked) headers["content-length"] = String(Buffer.byteLength(o.body));
    const req = http.request({ host: IP, port, path, method: o.method ?? (o.body !== undefined ? "POST" : "GET"), headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    if (o.body !== undefined && o.chunked) {
      // Two chunks, so the proxy sees the body arrive in parts.
      const half = Math.floor(o.body.length / 2);
      req.write(o.body.slice(0, half));
      setTimeout(() => req.end(o.body!.slice(half)), 20);
    } else req.end(o.body);
  });
}

async function startStatic(listeners: ProtoObject[], port: number, logs: string[] = []): Promise<ProxyServer> {
  const p = new ProxyServer({ staticResources: { listeners, clusters: [staticCluster(port)] }, node: { id: "filters-test" }, ip: IP, log: (l) => logs.push(l) });
  await p.start();
  return p;
}

describe("static bootstrap: unknown extensions refuse to start, naming the field path", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    [
      "an HTTP filter (Lua)",
      listener("l", 0, [LUA, ROUTER], [route("/")]),
      /listener l: filterChains\[0\]\.filters\[0\]\.typedConfig\.httpFilters\[0\]: Didn't find a registered implementation for 'envoy\.filters\.http\.lua' with type URL: 'envoy\.extensions\.filters\.http\.lua\.v3\.Lua'/,
    ],
    [
      "a network filter",
      { name: "n", address: { socketAddress: { address: IP, portValue: 0 } }, filterChains: [{ filters: [{ name: "envoy.filters.network.connection_limit", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit", statPrefix: "x" } }] }] },
      /listener n: filterChains\[0\]\.filters\[0\]: Didn't find a registered implementation for 'envoy\.filters\.network\.connection_limit'/,
    ],
    [
      "a listener filter",
      { ...listener("lf", 0, [ROUTER], [route("/")]), listenerFilters: [{ name: "envoy.filters.listener.proxy_protocol", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" } }] },
      /listener lf: listenerFilters\[0\]: Didn't find a registered implementation for 'envoy\.filters\.listener\.proxy_protocol'/,
    ],
    [
      "a transport socket (never plaintext in its place)",
      listener("ts", 0, [ROUTER], [route("/")], { transportSocket: { name: "envoy.transport_sockets.alts", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts" } } }),
      /listener ts: filterChains\[0\]\.transportSocket\.typedConfig: Didn't find a registered implementation for 'envoy\.transport_sockets\.alts'/,
    ],
    ["the router not last", listener("order", 0, [ROUTER, fault(503)], [route("/")]), /terminal filter named envoy\.filters\.http\.router of type envoy\.extensions\.filters\.http\.router\.v3\.Router must be the last filter/],
    ["a non-terminal filter last", listener("last", 0, [fault(503)], [route("/")]), /non-terminal filter named envoy\.filters\.http\.fault of type envoy\.extensions\.filters\.http\.fault\.v3\.HTTPFault is the last filter/],
    [
      "an unknown per-route filter config",
      listener("pr", 0, [ROUTER], [route("/", { typedPerFilterConfig: { "envoy.filters.http.lua": { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute" } } })]),
      /typedPerFilterConfig\["envoy\.filters\.http\.lua"\]: Didn't find a registered implementation for route-specific filter config with type URL: 'envoy\.extensions\.filters\.http\.lua\.v3\.LuaPerRoute'/,
    ],
  ];
  for (const [what, l, re] of cases) {
    it(what, async () => {
      await assert.rejects(startStatic([l], 1), re);
    });
  }
});

describe("filters run as configured", () => {
  const backend = new Recorder();
  let proxy: ProxyServer;
  const logs: string[] = [];
  const ports = { optional: 18101, order1: 18102, order2: 18103, perRoute: 18104, disabled: 18105, buffer: 18106, cors: 18107 };

  before(async () => {
    await backend.start();
    const CORS = { name: "envoy.filters.http.cors", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } };
    const corsPolicy = { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy", allowOriginStringMatch: [{ exact: "https://app.example" }], exposeHeaders: "x-e" };
    proxy = await startStatic(
      [
        listener("optional", ports.optional, [{ ...LUA, isOptional: true }, ROUTER], [route("/")]),
        // Buffer (10 bytes) before an abort: a 20-byte body never reaches the fault filter.
        listener("order1", ports.order1, [buffer(10), fault(503), ROUTER], [route("/")]),
        listener("order2", ports.order2, [fault(503), buffer(10), ROUTER], [route("/")]),
        listener("perRoute", ports.perRoute, [fault(503), ROUTER], [
          route("/off", { typedPerFilterConfig: { "envoy.filters.http.fault": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", disabled: true } } }),
          route("/own", { typedPerFilterConfig: { "envoy.filters.http.fault": abortFault(418) } }),
          route("/optional", {
            typedPerFilterConfig: { "envoy.filters.http.lua": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", isOptional: true, config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute" } } },
          }),
          route("/"),
        ]),
        listener("disabled", ports.disabled, [fault(503, { disabled: true }), ROUTER], [
          route("/on", { typedPerFilterConfig: { "envoy.filters.http.fault": { "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", config: abortFault(429) } } }),
          route("/"),
        ]),
        listener("buffer", ports.buffer, [buffer(64), ROUTER], [route("/")]),
        listener("cors", ports.cors, [CORS, ROUTER], [route("/", { typedPerFilterConfig: { "envoy.filters.http.cors": corsPolicy } })]),
      ],
      backend.port,
      logs,
    );
  });

  after(async () => {
    await proxy.close();
    await backend.close();
  });

  it("an optional filter the proxy lacks is skipped, logged and counted; traffic flows", async () => {
    const r = await send(ports.optional, "/x");
    assert.equal(r.status, 200);
    assert.equal(r.body, "backend");
    assert.equal(proxy.stats.counter("server.optional_extensions_skipped").value, 1);
    assert.ok(logs.some((l) => l.includes("skipping optional extension 'envoy.filters.http.lua'")), logs.join("\n"));
  });

  it("in config order: buffer before fault answers 413, fault before buffer 503", async () => {
    const body = "x".repeat(20);
    const before = backend.seen.length;
    assert.equal((await send(ports.order1, "/", { body })).status, 413);
    assert.equal((await send(ports.order2, "/", { body })).status, 503);
    assert.equal(backend.seen.length, before, "neither reached the backend");
  });

  it("typed_per_filter_config reaches its filter: disabled, replaced, optional unknown ignored", async () => {
    assert.equal((await send(ports.perRoute, "/off")).status, 200);
    assert.equal((await send(ports.perRoute, "/own")).status, 418);
    assert.equal((await send(ports.perRoute, "/optional")).status, 503);
    assert.equal((await send(ports.perRoute, "/")).status, 503);
  });

  it("a filter disabled by default runs only where a route enables it", async () => {
    assert.equal((await send(ports.disabled, "/")).status, 200);
    assert.equal((await send(ports.disabled, "/on")).status, 429);
  });

  it("the buffer filter holds the whole body, adds Content-Length, and refuses a larger one with 413", async () => {
    const before = backend.seen.length;
    const ok = await send(ports.buffer, "/up", { body: "a".repeat(50), chunked: true });
    assert.equal(ok.status, 200);
    const seen = backend.seen[backend.seen.length - 1];
    assert.equal(seen.body, "a".repeat(50));
    assert.equal(seen.headers["content-length"], "50");
    assert.equal(seen.headers["transfer-encoding"], undefined);
    const big = await send(ports.buffer, "/up", { body: "b".repeat(100), chunked: true });
    assert.equal(big.status, 413);
    assert.equal(big.body, "Payload Too Large");
    assert.equal(backend.seen.length, before + 1, "the refused request never reached the backend");
  });

  it("the CORS filter adds its headers to the response on the encode path", async () => {
    const r = await send(ports.cors, "/", { headers: { origin: "https://app.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "https://app.example");
    assert.equal(r.headers["access-control-expose-headers"], "x-e");
    const other = await send(ports.cors, "/", { headers: { origin: "https://evil.example" } });
    assert.equal(other.headers["access-control-allow-origin"], undefined);
  });
});

describe("over xDS: an unknown HTTP filter is NACKed with its path and the last good listener keeps serving", () => {
  it("NACK, then is_optional ACKs", async () => {
    const backend = new Recorder();
    await backend.start();
    const h = await Harness.start();
    const port = 18110;
    const good = listener("xds", port, [ROUTER], [route("/")]);
    const bad = listener("xds", port, [LUA, ROUTER], [route("/")]);
    const optional = listener("xds", port, [{ ...LUA, isOptional: true }, fault(503), ROUTER], [route("/")]);
    const clusters = [{ ...cluster("backend"), type: "STATIC", loadAssignment: staticCluster(backend.port).loadAssignment }];
    const proxy = new ProxyServer({ discoveryAddress: `127.0.0.1:${h.port}`, node: { id: "sidecar~127.0.77.1~x.default~default.svc.cluster.local" }, ip: IP, log: () => {} });
    const status = (): TypeStatus | undefined => h.server.connections()[0]?.types.find((t) => t.typeUrl === LISTENER_TYPE);
    const until = async (what: string, cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      h.server.setContext(fullPush(snapshot({ clusters: clusters as ProtoObject[], listeners: [good] })));
      await proxy.start();
      await proxy.ready();
      assert.equal((await send(port, "/")).status, 200);
      h.server.push(fullPush(snapshot({ clusters: clusters as ProtoObject[], listeners: [bad] })));
      await until("the NACK", () => status()?.nack !== undefined);
      assert.match(status()!.nack!.message, /listener xds: filterChains\[0\]\.filters\[0\]\.typedConfig\.httpFilters\[0\]: Didn't find a registered implementation for 'envoy\.filters\.http\.lua'/);
      assert.equal((await send(port, "/")).status, 200, "the last good listener still serves");
      h.server.push(fullPush(snapshot({ clusters: clusters as ProtoObject[], listeners: [optional] })));
      const nacked = status()!.nack!.nonce;
      await until("the optional filter's listener ACKed", () => status()?.sentNonce !== nacked && status()?.ackedNonce === status()?.sentNonce);
      await until("the new chain serving", () => proxy.stats.counter("server.optional_extensions_skipped").value > 0);
      // The new chain (skipped Lua, then the fault) answers once the listener swapped.
      let st = 0;
      await until("the fault after the skipped filter", () => {
        send(port, "/").then(
          (r) => (st = r.status),
          () => {},
        );
        return st === 503;
      });
    } finally {
      await proxy.close();
      await h.close();
      await backend.close();
    }
  });
});
