// Table tests for Istio's semantic rules on EnvoyFilter, WasmPlugin, ProxyConfig and TrafficExtension.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertError, assertValid, assertWarning, diagnose, resource } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: unknown;
  path: string;
  contains?: string | RegExp;
}

function table(kind: string, valid: { name: string; spec: unknown }[], errors: Case[], warnings: Case[]): void {
  describe(`${kind}: valid`, () => {
    for (const c of valid)
      test(c.name, () => {
        assertValid(resource(kind, c.spec));
      });
  });
  describe(`${kind}: errors`, () => {
    for (const c of errors)
      test(c.name, () => {
        const d = assertError(resource(kind, c.spec), c.path, c.contains);
        assert.ok(!d.some((x) => x.code.startsWith("TSMESH_SCHEMA")), `unexpected schema error: ${JSON.stringify(d)}`);
      });
  });
  describe(`${kind}: warnings`, () => {
    for (const c of warnings)
      test(c.name, () => {
        assertWarning(resource(kind, c.spec), c.path, c.contains);
      });
  });
}

const HCM = "envoy.filters.network.http_connection_manager";
const LUA = { name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", inlineCode: "function envoy_on_request(h) end" } };
const patch = (p: object) => ({ configPatches: [p] });
const httpFilter = (operation: string, value: object | undefined, match: object = { context: "SIDECAR_INBOUND", listener: { filterChain: { filter: { name: HCM, subFilter: { name: "envoy.filters.http.router" } } } } }) =>
  patch({ applyTo: "HTTP_FILTER", match, patch: value === undefined ? { operation } : { operation, value } });

table(
  "EnvoyFilter",
  [
    { name: "insert a Lua filter before the router", spec: httpFilter("INSERT_BEFORE", LUA) },
    { name: "remove a filter (no value)", spec: httpFilter("REMOVE", undefined) },
    { name: "add a cluster", spec: patch({ applyTo: "CLUSTER", match: { context: "SIDECAR_OUTBOUND", cluster: { service: "a.b.svc.cluster.local" } }, patch: { operation: "ADD", value: { name: "c", connect_timeout: "1s" } } }) },
    { name: "merge into a virtual host", spec: patch({ applyTo: "VIRTUAL_HOST", match: { context: "GATEWAY", routeConfiguration: { vhost: { name: "a:80" } } }, patch: { operation: "MERGE", value: { rate_limits: [] } } }) },
    { name: "merge the bootstrap", spec: patch({ applyTo: "BOOTSTRAP", patch: { operation: "MERGE", value: { stats_config: {} } } }) },
    { name: "proxy version regex", spec: httpFilter("INSERT_FIRST", LUA, { proxy: { proxyVersion: "^1\\.2[0-9].*" }, listener: { filterChain: { filter: { name: HCM } } } }) },
    { name: "waypoint cluster match", spec: patch({ applyTo: "CLUSTER", match: { context: "WAYPOINT", waypoint: {} }, patch: { operation: "REMOVE" } }) },
    { name: "workload selector with labels", spec: { workloadSelector: { labels: { app: "a" } }, configPatches: [{ applyTo: "LISTENER", patch: { operation: "MERGE", value: { per_connection_buffer_limit_bytes: 1024 } } }] } },
  ],
  [
    { name: "missing applyTo", spec: patch({ patch: { operation: "MERGE", value: {} } }), path: "spec.configPatches[0].applyTo", contains: "applyTo is required" },
    { name: "applyTo INVALID", spec: patch({ applyTo: "INVALID", patch: { operation: "MERGE", value: {} } }), path: "spec.configPatches[0].applyTo" },
    { name: "missing patch", spec: patch({ applyTo: "CLUSTER" }), path: "spec.configPatches[0].patch", contains: "patch is required" },
    { name: "missing operation", spec: patch({ applyTo: "CLUSTER", patch: { value: {} } }), path: "spec.configPatches[0].patch.operation", contains: "operation is required" },
    { name: "MERGE without value", spec: patch({ applyTo: "CLUSTER", patch: { operation: "MERGE" } }), path: "spec.configPatches[0].patch.value", contains: "only REMOVE" },
    { name: "ADD without value", spec: patch({ applyTo: "LISTENER", patch: { operation: "ADD" } }), path: "spec.configPatches[0].patch.value" },
    { name: "bad proxyVersion regex", spec: httpFilter("INSERT_FIRST", LUA, { proxy: { proxyVersion: "^1\\.(?=2)" } }), path: "spec.configPatches[0].match.proxy.proxyVersion", contains: "RE2" },
    { name: "HTTP_FILTER with a cluster match", spec: httpFilter("REMOVE", undefined, { cluster: { name: "c" } }), path: "spec.configPatches[0].match", contains: "listener match" },
    { name: "CLUSTER with a listener match", spec: patch({ applyTo: "CLUSTER", match: { listener: { portNumber: 80 } }, patch: { operation: "REMOVE" } }), path: "spec.configPatches[0].match", contains: "cluster match" },
    { name: "HTTP_ROUTE with a cluster match", spec: patch({ applyTo: "HTTP_ROUTE", match: { cluster: { name: "c" } }, patch: { operation: "MERGE", value: {} } }), path: "spec.configPatches[0].match", contains: "routeConfiguration match" },
    { name: "filter match without a name", spec: httpFilter("REMOVE", undefined, { listener: { filterChain: { filter: {} } } }), path: "spec.configPatches[0].match.listener.filterChain.filter.name", contains: "needs a name" },
    { name: "subFilter with NETWORK_FILTER", spec: patch({ applyTo: "NETWORK_FILTER", match: { listener: { filterChain: { filter: { name: HCM, subFilter: { name: "x" } } } } }, patch: { operation: "REMOVE" } }), path: "spec.configPatches[0].match.listener.filterChain.filter.subFilter", contains: "HTTP_FILTER" },
    { name: "subFilter under a non-HCM filter", spec: httpFilter("REMOVE", undefined, { listener: { filterChain: { filter: { name: "envoy.filters.network.tcp_proxy", subFilter: { name: "x" } } } } }), path: "spec.configPatches[0].match.listener.filterChain.filter.name", contains: HCM },
    { name: "subFilter without a name", spec: httpFilter("REMOVE", undefined, { listener: { filterChain: { filter: { name: HCM, subFilter: {} } } } }), path: "spec.configPatches[0].match.listener.filterChain.filter.subFilter.name" },
    { name: "v2 type URL", spec: httpFilter("INSERT_BEFORE", { name: "lua", typed_config: { "@type": "type.googleapis.com/envoy.config.filter.http.lua.v2.Lua" } }), path: "spec.configPatches[0].patch.value.typed_config.@type", contains: "v3" },
    { name: "empty type URL", spec: httpFilter("INSERT_BEFORE", { name: "lua", typed_config: { "@type": "" } }), path: "spec.configPatches[0].patch.value.typed_config.@type" },
  ],
  [
    { name: "every EnvoyFilter", spec: httpFilter("INSERT_BEFORE", LUA), path: "spec", contains: "implementation details" },
    { name: "workload selector without labels", spec: { workloadSelector: {}, ...httpFilter("INSERT_BEFORE", LUA) }, path: "spec.workloadSelector", contains: "every workload" },
    { name: "deprecated filter match name", spec: httpFilter("REMOVE", undefined, { listener: { filterChain: { filter: { name: "envoy.http_connection_manager", subFilter: { name: "envoy.router" } } } } }), path: "spec.configPatches[0].match.listener.filterChain.filter.subFilter.name", contains: "envoy.filters.http.router" },
    { name: "filter match with applyTo LISTENER", spec: patch({ applyTo: "LISTENER", match: { listener: { filterChain: { filter: { name: HCM } } } }, patch: { operation: "REMOVE" } }), path: "spec.configPatches[0].match.listener.filterChain.filter", contains: "no effect" },
    { name: "REPLACE on a cluster", spec: patch({ applyTo: "CLUSTER", patch: { operation: "REPLACE", value: { name: "c" } } }), path: "spec.configPatches[0].patch.operation", contains: "REPLACE only applies" },
    { name: "ADD to ROUTE_CONFIGURATION", spec: patch({ applyTo: "ROUTE_CONFIGURATION", patch: { operation: "ADD", value: { name: "r" } } }), path: "spec.configPatches[0].patch.operation", contains: "MERGE" },
    { name: "REMOVE an HTTP_ROUTE", spec: patch({ applyTo: "HTTP_ROUTE", patch: { operation: "REMOVE" } }), path: "spec.configPatches[0].patch.operation", contains: "ignored" },
    { name: "INSERT_FIRST a cluster", spec: patch({ applyTo: "CLUSTER", patch: { operation: "INSERT_FIRST", value: { name: "c" } } }), path: "spec.configPatches[0].patch.operation", contains: "use ADD" },
    { name: "ADD to BOOTSTRAP", spec: patch({ applyTo: "BOOTSTRAP", patch: { operation: "ADD", value: {} } }), path: "spec.configPatches[0].patch.operation", contains: "BOOTSTRAP only supports MERGE" },
    { name: "MERGE an EXTENSION_CONFIG", spec: patch({ applyTo: "EXTENSION_CONFIG", patch: { operation: "MERGE", value: {} } }), path: "spec.configPatches[0].patch.operation", contains: "only supports ADD" },
    { name: "gateway route match in a sidecar context", spec: patch({ applyTo: "VIRTUAL_HOST", match: { context: "SIDECAR_OUTBOUND", routeConfiguration: { gateway: "ns/gw" } }, patch: { operation: "MERGE", value: {} } }), path: "spec.configPatches[0].match.routeConfiguration.gateway", contains: "GATEWAY" },
    { name: "transportProtocol outside SIDECAR_INBOUND", spec: patch({ applyTo: "NETWORK_FILTER", match: { context: "GATEWAY", listener: { filterChain: { transportProtocol: "tls" } } }, patch: { operation: "MERGE", value: {} } }), path: "spec.configPatches[0].match.listener.filterChain.transportProtocol", contains: "SIDECAR_INBOUND" },
    { name: "listener port above 65535", spec: patch({ applyTo: "LISTENER", match: { listener: { portNumber: 70000 } }, patch: { operation: "REMOVE" } }), path: "spec.configPatches[0].match.listener.portNumber", contains: "never applies" },
    { name: "filter added without typed_config", spec: httpFilter("INSERT_BEFORE", { name: "envoy.filters.http.cors" }), path: "spec.configPatches[0].patch.value", contains: "typed_config" },
    { name: "type URL without prefix", spec: httpFilter("INSERT_BEFORE", { name: "lua", typed_config: { "@type": "envoy.extensions.filters.http.lua.v3.Lua" } }), path: "spec.configPatches[0].patch.value.typed_config.@type", contains: "type.googleapis.com/" },
  ],
);

const SHA = "1ef0c9a92b0420cf25f7fe5d481b231464bc88f486ca3b9c83ed5cc21d2f6210";

table(
  "WasmPlugin",
  [
    { name: "OCI image with secret", spec: { url: "oci://ghcr.io/a/b:1", imagePullSecret: "pull", phase: "AUTHN", pluginConfig: { a: 1 } } },
    { name: "bare image reference", spec: { url: "ghcr.io/a/b:1", imagePullSecret: "pull" } },
    { name: "file url with sha256", spec: { url: "file:///opt/f.wasm", sha256: SHA, selector: { matchLabels: { app: "a" } } } },
    { name: "targetRefs to a Gateway", spec: { url: "oci://a/b", targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }], match: [{ mode: "SERVER", ports: [{ number: 8080 }] }] } },
  ],
  [
    { name: "targetRef to a Deployment", spec: { url: "oci://a/b", targetRef: { group: "apps", kind: "Deployment", name: "d" } }, path: "spec.targetRef.kind", contains: "not supported" },
    { name: "targetRefs to an HTTPRoute", spec: { url: "oci://a/b", targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "r" }] }, path: "spec.targetRefs[0].kind" },
  ],
  [
    { name: "imagePullSecret with an https url", spec: { url: "https://example.com/f.wasm", imagePullSecret: "pull" }, path: "spec.imagePullSecret", contains: "only used to pull OCI" },
    { name: "imagePullPolicy with a file url", spec: { url: "file:///f.wasm", imagePullPolicy: "Always" }, path: "spec.imagePullPolicy", contains: "no effect" },
    { name: "selector without labels", spec: { url: "oci://a/b", selector: {} }, path: "spec.selector" },
  ],
);

table(
  "TrafficExtension",
  [
    { name: "lua filter", spec: { lua: { inlineCode: "function envoy_on_response(h)\n  h:headers():add('x', '1')\nend" } } },
    { name: "wasm filter", spec: { wasm: { url: "oci://ghcr.io/a/b:1", imagePullSecret: "pull" }, phase: "AUTHZ" } },
    { name: "targetRefs to a Service", spec: { targetRefs: [{ kind: "Service", name: "s" }], lua: { inlineCode: "function envoy_on_request(h) end" } } },
  ],
  [{ name: "targetRefs to a Deployment", spec: { targetRefs: [{ group: "apps", kind: "Deployment", name: "d" }], lua: { inlineCode: "function envoy_on_request(h) end" } }, path: "spec.targetRefs[0].kind", contains: "not supported" }],
  [
    { name: "lua without entry point", spec: { lua: { inlineCode: "local x = 1" } }, path: "spec.lua.inlineCode", contains: "envoy_on_request" },
    { name: "wasm imagePullSecret with http url", spec: { wasm: { url: "http://example.com/f.wasm", imagePullSecret: "s" } }, path: "spec.wasm.imagePullSecret" },
    { name: "selector without labels", spec: { selector: {}, lua: { inlineCode: "function envoy_on_request(h) end" } }, path: "spec.selector" },
  ],
);

table(
  "ProxyConfig",
  [
    { name: "empty spec", spec: {} },
    { name: "full", spec: { concurrency: 0, selector: { matchLabels: { app: "a" } }, environmentVariables: { ISTIO_META_X: "1" }, image: { imageType: "distroless" } } },
  ],
  [
    { name: "empty env var name", spec: { environmentVariables: { "": "x" } }, path: "spec.environmentVariables[]", contains: "must not be empty" },
    { name: "env var name with =", spec: { environmentVariables: { "A=B": "x" } }, path: "spec.environmentVariables[A=B]", contains: '"="' },
  ],
  [
    { name: "imageType with a slash", spec: { image: { imageType: "debug/x" } }, path: "spec.image.imageType", contains: "image tag" },
    { name: "selector without labels", spec: { selector: { matchLabels: {} } }, path: "spec.selector" },
  ],
);

describe("EnvoyFilter: the only warning on a clean filter is the generic one", () => {
  test("Lua insert", () => {
    const d = diagnose(resource("EnvoyFilter", httpFilter("INSERT_BEFORE", LUA)));
    assert.deepEqual(
      d.map((x) => x.path),
      ["spec"],
    );
  });
});
