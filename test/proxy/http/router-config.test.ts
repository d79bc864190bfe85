// The router filter's own config, end to end with real sockets: the x-envoy-* headers it adds
// (expected-rq-timeout-ms and original-path upstream, upstream-service-time downstream, overloaded
// on a circuit-breaker overflow) and suppress_envoy_headers removing them; strict_check_headers
// answering 400 IH before anything is forwarded; and the router fields tsmesh cannot honour
// refused with their path.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";

const IP = "127.0.86.1";
const BACKEND_IP = "127.0.86.2";
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/** A backend recording each request's path and headers; /hold answers only when released. */
class Backend {
  readonly seen: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];
  private held: http.ServerResponse[] = [];
  readonly server = http.createServer((req, res) => {
    this.seen.push({ url: req.url ?? "", headers: req.headers });
    req.resume();
    if (req.url === "/hold") this.held.push(res);
    else res.end("ok");
  });
  port = 0;
  holding = () => this.held.length;
  release(): void {
    for (const r of this.held.splice(0)) r.end("held");
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, BACKEND_IP, () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const router = (config: ProtoObject = {}) => ({ name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER_TYPE, ...config } });

function listener(name: string, port: number, routerConfig: ProtoObject): ProtoObject {
  const routes = [
    { match: { prefix: "/old/" }, route: { cluster: "backend", prefixRewrite: "/new/", timeout: { seconds: 3 } } },
    { match: { prefix: "/" }, route: { cluster: "backend", timeout: { seconds: 3 } } },
  ];
  const hcm = { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters: [router(routerConfig)] };
  return { name, address: { socketAddress: { address: IP, portValue: port } }, filterChains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: hcm }] }] };
}

function backendCluster(port: number): ProtoObject {
  return {
    name: "backend",
    type: "STATIC",
    connectTimeout: { seconds: 1 },
    circuitBreakers: { thresholds: [{ maxRequests: { value: 1 } }] },
    loadAssignment: { clusterName: "backend", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: BACKEND_IP, portValue: port } } } }] }] },
  };
}

function send(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: IP, port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function startStatic(listeners: ProtoObject[], backendPort: number): Promise<ProxyServer> {
  const p = new ProxyServer({ staticResources: { listeners, clusters: [backendCluster(backendPort)] }, node: { id: "router-config-test" }, ip: IP, log: () => {} });
  await p.start();
  return p;
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("the router's x-envoy-* headers and suppress_envoy_headers", () => {
  const backend = new Backend();
  let proxy: ProxyServer;
  const ports = { plain: 18601, suppressed: 18602, strict: 18603 };

  before(async () => {
    await backend.start();
    proxy = await startStatic(
      [
        listener("plain", ports.plain, {}),
        listener("suppressed", ports.suppressed, { suppressEnvoyHeaders: true }),
        listener("strict", ports.strict, { strictCheckHeaders: ["x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-upstream-rq-timeout-ms"] }),
      ],
      backend.port,
    );
  });

  after(async () => {
    await proxy.close();
    await backend.close();
  });

  const last = () => backend.seen[backend.seen.length - 1];

  it("by default: expected-rq-timeout-ms and original-path upstream, upstream-service-time downstream", async () => {
    const r = await send(ports.plain, "/old/x");
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.headers["x-envoy-upstream-service-time"]), /^\d+$/);
    assert.equal(last().url, "/new/x");
    assert.equal(last().headers["x-envoy-expected-rq-timeout-ms"], "3000");
    assert.equal(last().headers["x-envoy-original-path"], "/old/x");
  });

  it("suppress_envoy_headers: none of them, the request still rewritten and forwarded", async () => {
    const r = await send(ports.suppressed, "/old/x");
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-envoy-upstream-service-time"], undefined);
    assert.equal(last().url, "/new/x");
    assert.equal(last().headers["x-envoy-expected-rq-timeout-ms"], undefined);
    assert.equal(last().headers["x-envoy-original-path"], undefined);
  });

  for (const [which, overloaded] of [
    ["plain", "true"],
    ["suppressed", undefined],
  ] as const) {
    it(`a circuit-breaker overflow is 503 UO${overloaded ? " with x-envoy-overloaded: true" : ", not marked when suppressed"}`, async () => {
      const held = send(ports[which], "/hold");
      await until("the first request held by the backend", () => backend.holding() === 1);
      const r = await send(ports[which], "/second");
      assert.equal(r.status, 503);
      assert.equal(r.body, "upstream connect error or disconnect/reset before headers. reset reason: overflow");
      assert.equal(r.headers["x-envoy-overloaded"], overloaded);
      backend.release();
      assert.equal((await held).status, 200);
    });
  }

  const strictCases: Array<[string, Record<string, string>, string | undefined]> = [
    ["well-formed values pass", { "x-envoy-max-retries": "3", "x-envoy-retry-on": "5xx,reset, connect-failure", "x-envoy-retry-grpc-on": "unavailable", "x-envoy-upstream-rq-timeout-ms": "250" }, undefined],
    ["a header not listed is not checked", { "x-envoy-upstream-rq-per-try-timeout-ms": "soon" }, undefined],
    ["max-retries not a number", { "x-envoy-max-retries": "three" }, "x-envoy-max-retries"],
    ["max-retries signed", { "x-envoy-max-retries": "-1" }, "x-envoy-max-retries"],
    ["timeout past uint64", { "x-envoy-upstream-rq-timeout-ms": "18446744073709551616" }, "x-envoy-upstream-rq-timeout-ms"],
    ["an unknown retry-on", { "x-envoy-retry-on": "5xx,sometimes" }, "x-envoy-retry-on"],
    ["an HTTP condition in retry-grpc-on", { "x-envoy-retry-grpc-on": "5xx" }, "x-envoy-retry-grpc-on"],
  ];
  for (const [what, headers, bad] of strictCases) {
    it(`strict_check_headers: ${what}`, async () => {
      const before = backend.seen.length;
      const r = await send(ports.strict, "/s", headers);
      if (bad === undefined) {
        assert.equal(r.status, 200);
        assert.equal(backend.seen.length, before + 1);
        return;
      }
      assert.equal(r.status, 400);
      assert.equal(r.body, `invalid header '${bad}' with value '${headers[bad]}'`);
      assert.equal(backend.seen.length, before, "never forwarded");
    });
  }
});

describe("router fields tsmesh cannot honour are refused with their path", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    ["upstream_log", { upstreamLog: [{ name: "envoy.access_loggers.stdout", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog" } }] }, /httpFilters\[0\]\.typedConfig\.upstreamLog: upstream access logs are not implemented/],
    ["respect_expected_rq_timeout", { respectExpectedRqTimeout: true }, /httpFilters\[0\]\.typedConfig\.respectExpectedRqTimeout: /],
    ["a header strict checking does not cover", { strictCheckHeaders: ["x-envoy-retry-on", "x-envoy-attempt-count"] }, /httpFilters\[0\]\.typedConfig\.strictCheckHeaders\[1\]: "x-envoy-attempt-count" is not one of/],
  ];
  for (const [what, config, re] of cases) {
    it(what, async () => {
      await assert.rejects(startStatic([listener("refused", 0, config)], 1), re);
    });
  }
});
