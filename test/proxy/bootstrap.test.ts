// Envoy bootstrap parsing: proto3 JSON names in every spelling Envoy accepts, and the settings the
// proxy takes from a bootstrap besides static resources (ADS source, node, admin address).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bootstrapSettings, BootstrapError, parseBootstrap } from "../../src/proxy/bootstrap.js";
// Registers Istio's peer metadata TypedStruct type, as a running proxy has it.
import "../../src/proxy/observability/peer-metadata-filter.js";

describe("Envoy bootstrap parsing", () => {
  it("accepts snake_case, proto3 JSON and protobufjs names, digits included (consecutive_5xx)", () => {
    const b = parseBootstrap(
      `static_resources:
  clusters:
  - name: a
    type: STATIC
    connect_timeout: 0.5s
    outlier_detection: {consecutive_5xx: 3, enforcing_consecutive_5xx: 100, base_ejection_time: 10s}
  - name: b
    type: STATIC
    outlierDetection: {consecutive5xx: 4, consecutiveGatewayFailure: 2}
    per_connection_buffer_limit_bytes: 1000
`,
      "b.yaml",
    );
    const [a, c] = (b.staticResources as { clusters: Array<Record<string, unknown>> }).clusters;
    assert.deepEqual(a.outlierDetection, { consecutive_5xx: { value: 3 }, enforcingConsecutive_5xx: { value: 100 }, baseEjectionTime: { seconds: 10 } });
    assert.deepEqual(a.connectTimeout, { nanos: 500_000_000 });
    assert.deepEqual(c.outlierDetection, { consecutive_5xx: { value: 4 }, consecutiveGatewayFailure: { value: 2 } });
    assert.deepEqual(c.perConnectionBufferLimitBytes, { value: 1000 });
  });

  it("still names an unknown field with its path", () => {
    assert.throws(() => parseBootstrap("static_resources:\n  clusters:\n  - name: a\n    consecutive_6xx: 1\n", "b.yaml"), /b\.yaml\.static_resources\.clusters\[0\]\.consecutive_6xx: unknown field/);
  });

  it("Istio's own filters in TypedStructs (no descriptor) arrive as their JSON fields, as over xDS; other unknown types are refused with their path", () => {
    const withFilter = (typeUrl: string) => `static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 8080}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: x
          http_filters:
          - name: istio.metadata_exchange
            typed_config:
              "@type": type.googleapis.com/udpa.type.v1.TypedStruct
              type_url: ${typeUrl}
              value: {downstream_discovery: [{istio_headers: {}}], downstream_propagation: [{istio_headers: {}}]}
`;
    const b = parseBootstrap(withFilter("type.googleapis.com/io.istio.http.peer_metadata.Config"), "mx.yaml");
    const hcm = (b.staticResources as { listeners: Array<{ filterChains: Array<{ filters: Array<{ typedConfig: { httpFilters: Array<{ typedConfig: unknown }> } }> }> }> }).listeners[0].filterChains[0].filters[0].typedConfig;
    assert.deepEqual(hcm.httpFilters[0].typedConfig, {
      "@type": "type.googleapis.com/io.istio.http.peer_metadata.Config",
      downstream_discovery: [{ istio_headers: {} }],
      downstream_propagation: [{ istio_headers: {} }],
    });
    assert.throws(() => parseBootstrap(withFilter("type.googleapis.com/example.NotAType"), "bad.yaml"), (e: Error) => e instanceof BootstrapError && /http_filters\[0\]\.typed_config\.value: unknown type type\.googleapis\.com\/example\.NotAType/.test(e.message));
  });

  it("reads dynamic_resources, node and admin (table)", () => {
    const xds = `static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    load_assignment: {cluster_name: xds-grpc, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.9, port_value: 15010}}}}]}]}
`;
    const cases: Array<[string, string, Record<string, unknown> | RegExp]> = [
      ["delta through envoy_grpc", `${xds}dynamic_resources: {ads_config: {api_type: DELTA_GRPC, grpc_services: [{envoy_grpc: {cluster_name: xds-grpc}}]}, cds_config: {ads: {}}, lds_config: {ads: {}}}`, { address: "127.0.0.9:15010", protocol: "delta" }],
      ["SotW through google_grpc", `dynamic_resources: {ads_config: {api_type: GRPC, grpc_services: [{google_grpc: {target_uri: "dns:///istiod.local:15012", stat_prefix: x}}]}}`, { address: "istiod.local:15012", protocol: "sotw" }],
      ["REST is refused", `dynamic_resources: {ads_config: {api_type: REST}}`, /ads_config\.api_type: REST is not supported/],
      ["a missing cluster", `dynamic_resources: {ads_config: {api_type: GRPC, grpc_services: [{envoy_grpc: {cluster_name: nope}}]}}`, /no static cluster named "nope"/],
      ["ads sources without ads_config", `dynamic_resources: {cds_config: {ads: {}}}`, /dynamic_resources\.ads_config: lds_config\/cds_config say ads/],
    ];
    for (const [name, yaml, want] of cases) {
      if (want instanceof RegExp) assert.throws(() => bootstrapSettings(parseBootstrap(yaml, "b.yaml"), "b.yaml"), want, name);
      else assert.deepEqual(bootstrapSettings(parseBootstrap(yaml, "b.yaml"), "b.yaml").ads, want, name);
    }
    const s = bootstrapSettings(parseBootstrap("node: {id: n1, cluster: c1}\nadmin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}\n", "b.yaml"), "b.yaml");
    assert.deepEqual(s.node, { id: "n1", cluster: "c1" });
    assert.deepEqual(s.admin, { address: "127.0.0.1", port: 9901 });
    assert.equal(s.ads, undefined);
  });

  it("admin.address: IP and port as Envoy takes them; other forms refused with their path (table)", () => {
    const cases: Array<[string, string, { address: string; port: number } | undefined | RegExp]> = [
      ["loopback", "admin: {address: {socket_address: {address: 127.0.77.1, port_value: 19000}}}", { address: "127.0.77.1", port: 19000 }],
      ["every interface (Envoy's envoy-demo.yaml)", "admin: {address: {socket_address: {address: 0.0.0.0, port_value: 9901}}}", { address: "0.0.0.0", port: 9901 }],
      ["IPv6", 'admin: {address: {socket_address: {address: "::1", port_value: 9901}}}', { address: "::1", port: 9901 }],
      ["no port: an ephemeral one", "admin: {address: {socket_address: {address: 127.0.0.1}}}", { address: "127.0.0.1", port: 0 }],
      ["admin without an address: none", "admin: {access_log_path: /dev/null}", undefined],
      ["no admin: none", "node: {id: n1}", undefined],
      ["a pipe", "admin: {address: {pipe: {path: /var/run/admin.sock}}}", /b\.yaml\.admin\.address: only socket_address is supported \(pipe\)/],
      ["a host name", "admin: {address: {socket_address: {address: localhost, port_value: 9901}}}", /b\.yaml\.admin\.address\.socket_address\.address: "localhost" is not an IP address/],
      ["UDP", "admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901, protocol: UDP}}}", /socket_address\.protocol: the admin listens on TCP, not UDP/],
      ["a named port", "admin: {address: {socket_address: {address: 127.0.0.1, named_port: admin}}}", /socket_address\.named_port: not supported/],
    ];
    for (const [name, yaml, want] of cases) {
      if (want instanceof RegExp) assert.throws(() => bootstrapSettings(parseBootstrap(yaml, "b.yaml"), "b.yaml"), want, name);
      else assert.deepEqual(bootstrapSettings(parseBootstrap(yaml, "b.yaml"), "b.yaml").admin, want, name);
    }
  });
});
