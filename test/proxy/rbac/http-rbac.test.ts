// The HTTP RBAC filter in a running proxy, real sockets: denials answer 403 `RBAC: access denied`,
// shadow rules leave their result in the dynamic metadata (read here by a second RBAC filter, as
// a later filter would) and count under the shadow stat prefix, a route's RBACPerRoute replaces
// the filter's rules or turns it off, remote_ip follows X-Forwarded-For with xff_num_trusted_hops,
// and authenticated principals match the SPIFFE identity of real mTLS clients holding SVIDs from
// the mesh CA. Proxy on 127.0.91.10, backend on 127.0.91.11.
import assert from "node:assert/strict";
import * as https from "node:https";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { Backend, type Reply, request } from "../helpers.js";
import type { Svid, TestPki } from "../sds-pki.js";
import { meshIdentities } from "./rbac-input.js";

const IP = "127.0.91.10";
const BACKEND_IP = "127.0.91.11";
const PORTS = { main: 18201, xff: 18202, mtls: 18203 };
const BACKEND_PORT = 18210;
const RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

const rbac = (name: string, config: ProtoObject) => ({ name, typedConfig: { "@type": RBAC_TYPE, ...config } });
const anyone = [{ any: true }];

function listener(name: string, port: number, hcm: ProtoObject, routes: ProtoObject[], chain: ProtoObject = {}): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] }, ...hcm } }], ...chain }],
  };
}

const route = (prefix: string, extra: ProtoObject = {}): ProtoObject => ({ match: { prefix }, route: { cluster: "backend" }, ...extra });

/** GET or POST over mTLS with a client SVID. */
function mtls(pki: TestPki, svid: Svid, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: IP,
        port: PORTS.mtls,
        path,
        agent: false,
        ca: pki.root.trustedCaPem,
        cert: svid.secret.certificateChainPem,
        key: svid.secret.privateKeyPem,
        // SVIDs carry no DNS name: the server's SPIFFE identity is what a sidecar would check.
        checkServerIdentity: () => undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP RBAC filter", () => {
  let backend: Backend;
  let proxy: ProxyServer;
  let pki: TestPki;
  let fooClient: Svid;
  let barClient: Svid;
  const counter = (name: string) => proxy.stats.counter(name).value;

  before(async () => {
    const ids = await meshIdentities("server", "server-ns");
    ({ pki, foo: fooClient, bar: barClient } = ids);
    backend = await Backend.start("backend", BACKEND_IP, BACKEND_PORT);

    const main = listener(
      "main",
      PORTS.main,
      {
        httpFilters: [
          rbac("envoy.filters.http.rbac", {
            rules: {
              action: "DENY",
              policies: {
                "deny admin": { permissions: [{ urlPath: { path: { prefix: "/admin" } } }], principals: anyone },
                // Envoy's header map answers "host" with :authority, whatever the protocol.
                "deny host": { permissions: [{ header: { name: "host", exactMatch: "blocked.example.com" } }], principals: anyone },
              },
            },
            shadowRules: { action: "ALLOW", policies: { "shadow-get": { permissions: [{ header: { name: ":method", exactMatch: "GET" } }], principals: anyone } } },
            shadowRulesStatPrefix: "dry_",
            trackPerRuleStats: true,
          }),
          // A later filter reading what the first left in the dynamic metadata.
          rbac("rbac-reads-shadow", {
            rules: {
              action: "DENY",
              policies: { "shadow-said-deny": { permissions: [{ metadata: { filter: "envoy.filters.http.rbac", path: [{ key: "dry_shadow_engine_result" }], value: { stringMatch: { exact: "denied" } } } }], principals: anyone } },
            },
            rulesStatPrefix: "second_",
          }),
          ROUTER,
        ],
      },
      [
        route("/admin/open", { typedPerFilterConfig: { "envoy.filters.http.rbac": { "@type": PER_ROUTE } } }),
        route("/admin/ro", {
          typedPerFilterConfig: {
            "envoy.filters.http.rbac": { "@type": PER_ROUTE, rbac: { rules: { action: "ALLOW", policies: { readers: { permissions: [{ header: { name: ":method", exactMatch: "GET" } }], principals: anyone } } } } },
          },
        }),
        route("/"),
      ],
    );
    const xff = listener("xff", PORTS.xff, {
      xffNumTrustedHops: 1,
      httpFilters: [
        rbac("envoy.filters.http.rbac", {
          rules: {
            action: "ALLOW",
            policies: {
              "from-partner": { permissions: [{ any: true }], principals: [{ remoteIp: { addressPrefix: "203.0.113.0", prefixLen: { value: 24 } } }] },
              "local-peer": { permissions: [{ header: { name: "x-direct", presentMatch: true } }], principals: [{ directRemoteIp: { addressPrefix: "127.0.0.0", prefixLen: { value: 8 } } }] },
            },
          },
        }),
        ROUTER,
      ],
    }, [route("/", { requestHeadersToAdd: [{ header: { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" } }] })]);
    const mtlsListener = listener(
      "mtls",
      PORTS.mtls,
      {
        httpFilters: [
          rbac("envoy.filters.http.rbac", {
            rules: { action: "ALLOW", policies: { "ns-foo": { permissions: anyone, principals: [{ authenticated: { principalName: { prefix: "spiffe://cluster.local/ns/foo/" } } }] } } },
          }),
          ROUTER,
        ],
      },
      [route("/")],
      { transportSocket: ids.transportSocket },
    );
    const cluster = { name: "backend", type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: "backend", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: BACKEND_IP, portValue: BACKEND_PORT } } } }] }] } };
    proxy = new ProxyServer({ staticResources: { listeners: [main, xff, mtlsListener] as never, clusters: [cluster] as never }, node: { id: "rbac-test" }, ip: IP, log: () => {} });
    await proxy.start();
  });

  after(async () => {
    await proxy?.close();
    await backend?.close();
    pki?.close();
  });

  it("denies what a DENY policy matches with 403 'RBAC: access denied', allows the rest", async () => {
    const denied = await request(`http://${IP}:${PORTS.main}/admin/users`);
    assert.equal(denied.status, 403);
    assert.equal(denied.body, "RBAC: access denied");
    assert.equal(backend.seen.some((s) => s.url === "/admin/users"), false);
    const ok = await request(`http://${IP}:${PORTS.main}/public?x=/admin`);
    assert.equal(ok.status, 200);
    assert.equal(counter("http.main.rbac.denied"), 1);
    assert.equal(counter("http.main.rbac.allowed"), 1);
    // track_per_rule_stats: the matched policy's counter (none matched for the allowed request).
    assert.equal(counter("http.main.rbac.policy.deny admin.denied"), 1);
  });

  it("a 'host' header rule reads :authority", async () => {
    const denied = await request(`http://${IP}:${PORTS.main}/x`, { headers: { host: "blocked.example.com" } });
    assert.equal(denied.status, 403);
    assert.equal(counter("http.main.rbac.policy.deny host.denied"), 1);
    assert.equal((await request(`http://${IP}:${PORTS.main}/x`, { headers: { host: "fine.example.com" } })).status, 200);
  });

  it("shadow rules only count and leave their result in the dynamic metadata for later filters", async () => {
    const before = { sa: counter("http.main.rbac.dry_.shadow_allowed"), sd: counter("http.main.rbac.dry_.shadow_denied") };
    const get = await request(`http://${IP}:${PORTS.main}/things`);
    assert.equal(get.status, 200);
    // The shadow engine denies a POST (it allows GET only); the first filter lets it through, the
    // second reads dry_shadow_engine_result = denied and denies.
    const post = await request(`http://${IP}:${PORTS.main}/things`, { method: "POST", body: "" });
    assert.equal(post.status, 403);
    assert.equal(counter("http.main.rbac.dry_.shadow_allowed") - before.sa, 1);
    assert.equal(counter("http.main.rbac.dry_.shadow_denied") - before.sd, 1);
    // The second filter's stats carry its rules_stat_prefix.
    assert.equal(counter("http.main.rbac.second_.denied"), 1);
  });

  it("a route's RBACPerRoute without rbac turns the filter off there", async () => {
    const denied = await request(`http://${IP}:${PORTS.main}/admin/open`, { method: "POST", body: "" });
    // The first filter is off (no shadow result either), so the second allows it too.
    assert.equal(denied.status, 200);
  });

  it("a route's RBACPerRoute replaces the filter's rules", async () => {
    assert.equal((await request(`http://${IP}:${PORTS.main}/admin/ro/x`)).status, 200);
    const post = await request(`http://${IP}:${PORTS.main}/admin/ro/x`, { method: "POST", body: "" });
    assert.equal(post.status, 403);
    assert.equal(post.body, "RBAC: access denied");
  });

  it("remote_ip is the client X-Forwarded-For's trusted hop names; direct_remote_ip the socket's peer", async () => {
    const url = `http://${IP}:${PORTS.xff}/`;
    // xff_num_trusted_hops 1 without use_remote_address: the 2nd address from the right.
    assert.equal((await request(url, { headers: { "x-forwarded-for": "203.0.113.7, 10.1.1.1" } })).status, 200);
    // The router's %DOWNSTREAM_REMOTE_ADDRESS% is the same trusted address, as Envoy's.
    assert.equal(backend.seen[backend.seen.length - 1].headers["x-client"], "203.0.113.7");
    assert.equal((await request(url, { headers: { "x-forwarded-for": "10.1.1.1, 203.0.113.7" } })).status, 403);
    // Too few addresses: the peer (127.0.0.x), which is not the partner.
    assert.equal((await request(url, { headers: { "x-forwarded-for": "203.0.113.7" } })).status, 403);
    assert.equal((await request(url)).status, 403);
    assert.equal((await request(url, { headers: { "x-direct": "1", "x-forwarded-for": "10.1.1.1, 198.51.100.1" } })).status, 200);
  });

  it("authenticated matches the SPIFFE identity of an mTLS client", async () => {
    const foo = await mtls(pki, fooClient, "/");
    assert.equal(foo.status, 200);
    const bar = await mtls(pki, barClient, "/");
    assert.equal(bar.status, 403);
    assert.equal(bar.body, "RBAC: access denied");
    assert.equal(counter("http.mtls.rbac.allowed"), 1);
    assert.equal(counter("http.mtls.rbac.denied"), 1);
  });
});
