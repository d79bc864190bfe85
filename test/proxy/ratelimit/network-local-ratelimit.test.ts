// The network local rate limit filter through a real proxy (tcp_proxy to a real TCP echo server):
// connections take a token each; one that finds none is closed before any byte flows, and counted.
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";

const IP = "127.0.187.31";
const BACKEND_IP = "127.0.187.32";
const PORT = 18721;
const NLRL_TYPE = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

/** Connects, sends "ping", and reports what came back before the connection closed (or 1 s passed). */
function exchange(): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(PORT, IP);
    let data = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ data, closed });
    };
    s.on("data", (d: Buffer) => {
      data += d.toString();
      if (data === "ping") finish(false);
    });
    s.on("error", () => finish(true));
    s.on("close", () => finish(true));
    s.write("ping");
  });
}

describe("envoy.filters.network.local_ratelimit", () => {
  const echo = net.createServer((s) => s.pipe(s));
  let proxy: ProxyServer;

  before(async () => {
    await new Promise<void>((r) => echo.listen(0, BACKEND_IP, () => r()));
    const port = (echo.address() as net.AddressInfo).port;
    const listener: ProtoObject = {
      name: "tcp",
      address: { socketAddress: { address: IP, portValue: PORT } },
      filterChains: [
        {
          filters: [
            { name: "envoy.filters.network.local_ratelimit", typedConfig: { "@type": NLRL_TYPE, statPrefix: "tcp_rl", tokenBucket: { maxTokens: 2, tokensPerFill: { value: 2 }, fillInterval: { seconds: 60 } } } },
            { name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: "tcp", cluster: "echo" } },
          ],
        },
      ],
    };
    const cluster: ProtoObject = {
      name: "echo",
      type: "STATIC",
      connectTimeout: { seconds: 1 },
      loadAssignment: { clusterName: "echo", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: BACKEND_IP, portValue: port } } } }] }] },
    };
    proxy = new ProxyServer({ staticResources: { listeners: [listener], clusters: [cluster] }, node: { id: "nlrl" }, ip: IP, log: () => {} });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  it("2 tokens: two connections are proxied, the third is closed unserved and counted", async () => {
    assert.deepEqual(await exchange(), { data: "ping", closed: false });
    assert.deepEqual(await exchange(), { data: "ping", closed: false });
    assert.deepEqual(await exchange(), { data: "", closed: true });
    assert.equal(proxy.stats.snapshot().counters.find(([n]) => n === "local_rate_limit.tcp_rl.rate_limited")?.[1], 1);
  });

  it("a config without a token bucket is refused with its field path", async () => {
    const p = new ProxyServer({
      staticResources: {
        listeners: [
          {
            name: "bad",
            address: { socketAddress: { address: IP, portValue: 0 } },
            filterChains: [
              {
                filters: [
                  { name: "rl", typedConfig: { "@type": NLRL_TYPE, statPrefix: "x" } },
                  { name: "tcp", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: "t", cluster: "c" } },
                ],
              },
            ],
          },
        ],
        clusters: [],
      },
      node: { id: "nlrl-bad" },
      ip: IP,
      log: () => {},
    });
    await assert.rejects(p.start(), /filterChains\[0\]\.filters\[0\]\.typedConfig\.tokenBucket: token_bucket is required/);
    await p.close();
  });
});
