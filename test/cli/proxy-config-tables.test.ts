// istioctl proxy-config's filters and columns over config dumps (proto JSON as the proxy's admin
// prints it, snake_case as Envoy's /clusters prints it).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dumpedClusters, dumpedListeners, dumpedRoutes, istioConfigOf } from "../../src/cli/config-dump.js";
import { chainDestination, chainMatch, clusterMatches, clusterRow, describeDomains, endpointCells, endpointRows, listenerRows, listenerType, routeRows, selectClusters, selectListeners } from "../../src/cli/proxy-config-tables.js";

const A = "type.googleapis.com/envoy.admin.v3.";
const HCM = (rds: string) => ({ name: "envoy.filters.network.http_connection_manager", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", rds: { routeConfigName: rds } } });
const TCP = (cluster: string) => ({ name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", cluster } });
const DR = { filterMetadata: { istio: { config: "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews" } } };

const dump = {
  configs: [
    {
      "@type": `${A}ClustersConfigDump`,
      dynamicActiveClusters: [
        { versionInfo: "1", cluster: { "@type": "x", name: "outbound|9080|v2|reviews.default.svc.cluster.local", type: "EDS", metadata: DR } },
        { versionInfo: "1", cluster: { "@type": "x", name: "outbound|9080|v1|reviews.default.svc.cluster.local", type: "EDS", metadata: DR } },
        { versionInfo: "1", cluster: { "@type": "x", name: "outbound|9080||reviews.default.svc.cluster.local", type: "EDS" } },
        { versionInfo: "1", cluster: { "@type": "x", name: "inbound|9080||", type: "STATIC" } },
        { versionInfo: "1", cluster: { "@type": "x", name: "outbound|9080||ratings.default.svc.cluster.local", type: "EDS" } },
        { versionInfo: "1", cluster: { "@type": "x", name: "BlackHoleCluster" } },
      ],
    },
    {
      "@type": `${A}ListenersConfigDump`,
      dynamicListeners: [
        { name: "0.0.0.0_9080", activeState: { listener: { name: "0.0.0.0_9080", address: { socketAddress: { address: "0.0.0.0", portValue: 9080 } }, filterChains: [{ filters: [HCM("9080")] }] } } },
        {
          name: "virtualInbound",
          activeState: {
            listener: {
              name: "virtualInbound",
              address: { socketAddress: { address: "127.0.3.1", portValue: 15006 } },
              filterChains: [
                { filterChainMatch: { destinationPort: 9080, transportProtocol: "tls", applicationProtocols: ["istio-peer-exchange", "istio"] }, filters: [TCP("inbound|9080||")] },
                { filterChainMatch: { destinationPort: 9080, transportProtocol: "raw_buffer", applicationProtocols: ["http/1.0", "http/1.1", "h2c"] }, filters: [HCM("inbound|9080||")] },
                { filterChainMatch: { prefixRanges: [{ addressPrefix: "127.0.3.1", prefixLen: 32 }] }, filters: [TCP("BlackHoleCluster")] },
              ],
            },
          },
        },
        { name: "10.0.0.1_27017", activeState: { listener: { name: "10.0.0.1_27017", address: { socketAddress: { address: "10.0.0.1", portValue: 27017 } }, filterChains: [{ filters: [TCP("outbound|27017||mongo.default.svc.cluster.local")] }] } } },
      ],
    },
    {
      "@type": `${A}RoutesConfigDump`,
      dynamicRouteConfigs: [
        {
          routeConfig: {
            name: "9080",
            virtualHosts: [
              {
                name: "reviews.default.svc.cluster.local:9080",
                domains: ["reviews.default.svc.cluster.local", "reviews", "reviews.default.svc", "reviews.default", "reviews.default.svc.cluster.local:9080", "reviews:9080"],
                routes: [
                  { match: { prefix: "/" }, route: { cluster: "outbound|9080|v1|reviews.default.svc.cluster.local" }, metadata: { filterMetadata: { istio: { config: "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews" } } } },
                ],
              },
              { name: "allow_any", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "PassthroughCluster" } }] },
              { name: "empty", domains: ["*"], routes: [] },
            ],
          },
        },
      ],
    },
  ],
};

describe("proxy-config cluster", () => {
  const table: Array<[string, Parameters<typeof clusterMatches>[1], boolean]> = [
    ["outbound|9080|v1|reviews.default.svc.cluster.local", {}, true],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { fqdn: "reviews.default.svc.cluster.local" }, true],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { fqdn: "ratings" }, false],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { port: 9080 }, true],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { port: 908 }, false],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { subset: "v1" }, true],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { subset: "v2" }, false],
    ["outbound|9080|v1|reviews.default.svc.cluster.local", { direction: "inbound" }, false],
    ["inbound|9080||", { direction: "inbound", port: 9080 }, true],
    ["BlackHoleCluster", { port: 9080 }, false],
  ];
  for (const [name, f, want] of table) it(`${name} ${JSON.stringify(f)} → ${want}`, () => assert.equal(clusterMatches(name, f), want));

  it("rows in istioctl's order and columns, the DestinationRule as NAME.NAMESPACE (an inbound cluster has no FQDN)", () => {
    const rows = selectClusters(dumpedClusters(dump), {}).map((c) => clusterRow(c.resource));
    assert.deepEqual(rows, [
      ["", "9080", "-", "inbound", "STATIC", ""],
      ["BlackHoleCluster", "-", "-", "-", "STATIC", ""],
      ["ratings.default.svc.cluster.local", "9080", "-", "outbound", "EDS", ""],
      ["reviews.default.svc.cluster.local", "9080", "-", "outbound", "EDS", ""],
      ["reviews.default.svc.cluster.local", "9080", "v1", "outbound", "EDS", "reviews.default"],
      ["reviews.default.svc.cluster.local", "9080", "v2", "outbound", "EDS", "reviews.default"],
    ]);
    assert.deepEqual(
      selectClusters(dumpedClusters(dump), { fqdn: "reviews", subset: "v2" }).map((c) => c.name),
      ["outbound|9080|v2|reviews.default.svc.cluster.local"],
    );
  });

  it("an Istio config path of another shape renders <unknown>", () => {
    assert.equal(istioConfigOf({ metadata: { filterMetadata: { istio: { config: "/apis/x/y" } } } }), "<unknown>");
    assert.equal(istioConfigOf({}), "");
  });
});

describe("proxy-config listener", () => {
  const ls = dumpedListeners(dump);
  it("types: HTTP, TCP, HTTP+TCP; a blackhole TCP proxy does not count", () => {
    assert.deepEqual(
      ls.map((l) => [l.name, listenerType(l.resource)]),
      [
        ["0.0.0.0_9080", "HTTP"],
        ["virtualInbound", "HTTP+TCP"],
        ["10.0.0.1_27017", "TCP"],
      ],
    );
  });
  it("filters by address, port and type; sorted by port", () => {
    assert.deepEqual(
      selectListeners(ls, {}).map((l) => l.name),
      ["0.0.0.0_9080", "virtualInbound", "10.0.0.1_27017"],
    );
    assert.deepEqual(
      selectListeners(ls, { port: 15006 }).map((l) => l.name),
      ["virtualInbound"],
    );
    assert.deepEqual(
      selectListeners(ls, { address: "10.0.0.1" }).map((l) => l.name),
      ["10.0.0.1_27017"],
    );
    assert.deepEqual(
      selectListeners(ls, { type: "tcp" }).map((l) => l.name),
      ["10.0.0.1_27017"],
    );
    assert.deepEqual(selectListeners(ls, { type: "HTTP", port: 27017 }), []);
  });
  it("MATCH and DESTINATION per filter chain, as istioctl words them (sorted by destination, descending)", () => {
    const rows = listenerRows(ls[1].resource);
    assert.deepEqual(rows, [
      ["127.0.3.1", "15006", "Trans: raw_buffer; App: HTTP; Addr: *:9080", "Route: inbound|9080||"],
      ["127.0.3.1", "15006", "Addr: 127.0.3.1/32", "Non-HTTP/Non-TCP"],
      ["127.0.3.1", "15006", "Trans: tls; App: TCP TLS; Addr: *:9080", "Cluster: inbound|9080||"],
    ]);
    assert.equal(chainMatch(undefined), "ALL");
    assert.equal(chainMatch({ serverNames: ["a.com", "b.com"], applicationProtocols: ["h2"] }), "SNI: a.com,b.com; App: h2");
    assert.equal(chainDestination({ filters: [TCP("PassthroughCluster")] }), "PassthroughCluster");
    const inline = { filters: [{ name: "envoy.filters.network.http_connection_manager", typedConfig: { routeConfig: { virtualHosts: [{ domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "inbound|8080||" } }] }] } } }] };
    assert.equal(chainDestination(inline), "Cluster: inbound|8080||");
  });
});

describe("proxy-config route", () => {
  it("a row per route (passthrough left out), the VirtualService, 404 for a host without routes", () => {
    assert.deepEqual(routeRows(dumpedRoutes(dump)[0].resource), [
      ["9080", "reviews.default.svc.cluster.local:9080", "reviews, reviews.default", "/*", "reviews.default"],
      ["9080", "empty", "*", "/*", "404"],
    ]);
  });
  const domains: Array<[string[], string]> = [
    [[], ""],
    [["*"], "*"],
    [["a.com", "a.com:80"], "a.com"],
    [["reviews.default.svc.cluster.local", "reviews.default", "reviews"], "reviews.default, reviews"],
    [["reviews.default.svc.cluster.local", "reviews"], "reviews.default.svc.cluster.local, reviews"],
    [["a", "b", "c", "d"], "a, b + 2 more..."],
  ];
  for (const [d, want] of domains) it(`domains ${JSON.stringify(d)} → ${JSON.stringify(want)}`, () => assert.equal(describeDomains(d), want));
});

describe("proxy-config endpoint", () => {
  const clusters = {
    cluster_statuses: [
      { name: "outbound|9080|v1|reviews.default.svc.cluster.local", host_statuses: [{ address: { socket_address: { address: "127.0.3.1", port_value: 9080 } }, health_status: { eds_health_status: "HEALTHY" } }] },
      {
        name: "outbound|9080||reviews.default.svc.cluster.local",
        host_statuses: [
          { address: { socket_address: { address: "127.0.3.2", port_value: 9080 } }, health_status: { eds_health_status: "UNHEALTHY", failed_outlier_check: true } },
          { address: { socket_address: { address: "127.0.3.1", port_value: 9080 } }, health_status: { eds_health_status: 1 } },
        ],
      },
    ],
  };
  const table: Array<[Parameters<typeof endpointRows>[1], string[][]]> = [
    [
      {},
      [
        ["127.0.3.1:9080", "HEALTHY", "OK", "outbound|9080|v1|reviews.default.svc.cluster.local"],
        ["127.0.3.1:9080", "HEALTHY", "OK", "outbound|9080||reviews.default.svc.cluster.local"],
        ["127.0.3.2:9080", "UNHEALTHY", "FAILED", "outbound|9080||reviews.default.svc.cluster.local"],
      ],
    ],
    [{ status: "unhealthy" }, [["127.0.3.2:9080", "UNHEALTHY", "FAILED", "outbound|9080||reviews.default.svc.cluster.local"]]],
    [{ cluster: "outbound|9080|v1|reviews.default.svc.cluster.local" }, [["127.0.3.1:9080", "HEALTHY", "OK", "outbound|9080|v1|reviews.default.svc.cluster.local"]]],
    [{ address: "127.0.3.2", port: 9080 }, [["127.0.3.2:9080", "UNHEALTHY", "FAILED", "outbound|9080||reviews.default.svc.cluster.local"]]],
    [{ port: 9081 }, []],
  ];
  for (const [f, want] of table) it(`endpoints ${JSON.stringify(f)}`, () => assert.deepEqual(endpointRows(clusters, f).map(endpointCells), want));
});
