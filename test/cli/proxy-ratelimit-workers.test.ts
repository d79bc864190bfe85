// `tsmesh proxy --concurrency 2`: the local rate limit's buckets are the proxy's, not each
// worker's (the primary holds them). Istio's task limit of 4 tokens a minute, requests spread over
// both worker processes (read from /proc): exactly four pass, whichever workers they land on, and
// every later one gets 429; the stats /stats sums say the same. Real workers, a real backend on
// 127.0.187.x.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import { Client, clientsOnEachWorker, startWorkerProxy, type WorkerProxy } from "../helpers/worker-clients.js";
import { request } from "../proxy/helpers.js";

const PROXY_IP = "127.0.187.10";
const BACKEND_IP = "127.0.187.11";
const PORT = 10000;

const BOOTSTRAP = `
static_resources:
  listeners:
  - name: inbound
    address:
      socket_address: { address: 0.0.0.0, port_value: ${PORT} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inbound_http
          http_filters:
          - name: envoy.filters.http.local_ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              stat_prefix: http_local_rate_limiter
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            name: inbound
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/productpage" }
                route: { cluster: backend }
                typed_per_filter_config:
                  envoy.filters.http.local_ratelimit:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
                    stat_prefix: http_local_rate_limiter
                    token_bucket: { max_tokens: 4, tokens_per_fill: 4, fill_interval: 60s }
                    filter_enabled: { runtime_key: local_rate_limit_enabled, default_value: { numerator: 100, denominator: HUNDRED } }
                    filter_enforced: { runtime_key: local_rate_limit_enforced, default_value: { numerator: 100, denominator: HUNDRED } }
                    response_headers_to_add:
                    - append: false
                      header: { key: x-local-rate-limit, value: "true" }
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: ${BACKEND_IP}, port_value: 8080 } } }
`;

describe("tsmesh proxy --concurrency 2: local rate limit buckets are the proxy's", { timeout: 120_000 }, () => {
  let proxy: WorkerProxy | undefined;
  let admin = "";
  let workers: readonly number[] = [];
  const clients: Client[] = [];
  const backend = http.createServer((_req, res) => res.end("productpage"));

  before(async () => {
    await new Promise<void>((r) => backend.listen(8080, BACKEND_IP, () => r()));
    proxy = await startWorkerProxy(BOOTSTRAP, PROXY_IP);
    ({ admin, workers } = proxy);
    assert.equal(workers.length, 2);
  });

  after(async () => {
    for (const c of clients) c.close();
    await proxy?.stop();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  it("4 tokens: two requests on each worker pass, every later one on either worker is 429", async () => {
    const [[a], [b]] = await clientsOnEachWorker(workers, PROXY_IP, PORT, 1, clients);
    assert.notEqual(a.worker, b.worker);
    const got: Array<[string, number, string]> = [];
    for (const [c, name] of [[a, "a"], [b, "b"], [a, "a"], [b, "b"], [a, "a"], [b, "b"]] as const) {
      const r = await c.get("/productpage");
      got.push([name, r.status, r.body]);
    }
    assert.deepEqual(
      got.map(([n, s]) => [n, s]),
      [
        ["a", 200],
        ["b", 200],
        ["a", 200],
        ["b", 200],
        ["a", 429],
        ["b", 429],
      ],
      proxy?.stderr(),
    );
    assert.equal(got[4][2], "local_rate_limited");
    // The same at once from both workers: still nothing passes.
    const burst = await Promise.all([a.get("/productpage"), b.get("/productpage")]);
    assert.deepEqual(
      burst.map((r) => r.status),
      [429, 429],
    );
    const stats = (await request(`${admin}/stats`)).body;
    const stat = (n: string) => Number(new RegExp(`^${n.replace(/\./g, "\\.")}: (\\d+)$`, "m").exec(stats)?.[1]);
    assert.equal(stat("http_local_rate_limiter.http_local_rate_limit.ok"), 4);
    assert.equal(stat("http_local_rate_limiter.http_local_rate_limit.enforced"), 4);
  });
});
