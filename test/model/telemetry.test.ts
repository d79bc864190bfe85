// Telemetry merged per proxy as istiod merges it (pilot/pkg/model/telemetry.go): scopes, selectors
// and targetRefs, metric overrides per provider and mode, access-log providers and filters per
// mode, tracing providers and settings per mode, and the mesh's default providers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_EXTENSION_PROVIDERS, type ExtensionProvider } from "../../src/model/extension-providers.js";
import { Telemetries, type DefaultProviders, type Telemetry } from "../../src/model/telemetry.js";
import { resourcesFromYaml } from "../helpers/xds.js";

const ZIPKIN: ExtensionProvider = { name: "zipkin", kind: "zipkin", zipkin: { service: "zipkin.istio-system.svc.cluster.local", port: 9411, maxTagLength: 0, enable64bitTraceId: false, path: "/api/v2/spans" } };
const OTEL: ExtensionProvider = { name: "otel", kind: "opentelemetry", opentelemetry: { service: "otel.o.svc.cluster.local", port: 4317, maxTagLength: 0 } };
const PROVIDERS = [...DEFAULT_EXTENSION_PROVIDERS, ZIPKIN, OTEL, { name: "log2", kind: "envoyFileAccessLog", envoyFileAccessLog: { path: "/dev/stdout", omitEmptyValues: false } } as ExtensionProvider];
const ISTIO_DEFAULTS: DefaultProviders = { metrics: ["prometheus"], accessLogging: [], tracing: [] };

let created = 0;
function tel(name: string, ns: string, spec: string): Telemetry {
  const y = `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "2024-01-01T00:00:${String(created++).padStart(2, "0")}Z"}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
  return resourcesFromYaml(y)[0] as Telemetry;
}

const PRODUCTPAGE = { namespace: "default", labels: { app: "productpage", version: "v1" } };
const GATEWAY = { namespace: "default", labels: { "gateway.networking.k8s.io/gateway-name": "bookinfo-gw" } };

const telemetries = (ts: Telemetry[], defaults = ISTIO_DEFAULTS) => new Telemetries(ts, "istio-system", PROVIDERS, defaults);

describe("which Telemetries apply (root namespace → namespace → workload)", () => {
  const ts = [
    tel("root", "istio-system", "metrics: [{providers: [{name: prometheus}]}]"),
    tel("root-selected", "istio-system", "selector: {matchLabels: {app: productpage}}\nmetrics: [{}]"),
    tel("ns", "default", "metrics: [{}]"),
    tel("pp", "default", "selector: {matchLabels: {app: productpage}}\nmetrics: [{}]"),
    tel("reviews", "default", "selector: {matchLabels: {app: reviews}}\nmetrics: [{}]"),
    tel("gw", "default", "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: bookinfo-gw}]\nmetrics: [{}]"),
    tel("other-ns", "foo", "metrics: [{}]"),
  ];
  const cases: Array<[string, { namespace: string; labels: Record<string, string> }, string[]]> = [
    ["a selected sidecar: root's namespace-wide, its namespace's, its selector's (root selectors never apply elsewhere)", PRODUCTPAGE, ["root", "ns", "pp"]],
    ["a sidecar nothing selects", { namespace: "default", labels: { app: "ratings" } }, ["root", "ns"]],
    ["another namespace", { namespace: "foo", labels: { app: "productpage" } }, ["root", "other-ns"]],
    ["a namespace without Telemetry", { namespace: "bar", labels: {} }, ["root"]],
    ["a Gateway API gateway: targetRefs", GATEWAY, ["root", "ns", "gw"]],
  ];
  for (const [name, w, want] of cases) it(name, () => assert.deepEqual(telemetries(ts).applicable(w).map((t) => t.metadata.name), want));
});

describe("metrics (mergeMetrics)", () => {
  const cases: Array<{ name: string; ts: Telemetry[]; defaults?: DefaultProviders; want: unknown }> = [
    { name: "no Telemetry: the default provider with no overrides", ts: [], want: { prometheus: { client: { disabled: false, overrides: [] }, server: { disabled: false, overrides: [] } } } },
    { name: "no Telemetry and no default provider: no metrics", ts: [], defaults: { metrics: [], accessLogging: [], tracing: [] }, want: {} },
    {
      name: "Istio's metrics-telemetry-api: remove grpc_response_status from REQUEST_COUNT on both sides",
      ts: [tel("remove-tags", "istio-system", "metrics:\n- providers: [{name: prometheus}]\n  overrides:\n  - match: {mode: CLIENT_AND_SERVER, metric: REQUEST_COUNT}\n    tagOverrides: {grpc_response_status: {operation: REMOVE}}")],
      want: {
        prometheus: {
          client: { disabled: false, overrides: [{ name: "REQUEST_COUNT", disabled: false, tags: [{ name: "grpc_response_status", remove: true, value: "" }] }] },
          server: { disabled: false, overrides: [{ name: "REQUEST_COUNT", disabled: false, tags: [{ name: "grpc_response_status", remove: true, value: "" }] }] },
        },
      },
    },
    {
      name: "custom tags per mode, then a namespace-level override deep-merges into the root's",
      ts: [
        tel("custom-tags", "istio-system", "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT, mode: CLIENT}\n    tagOverrides: {destination_x: {value: \"upstream_peer.labels['app'].value\"}}\n  - match: {metric: REQUEST_COUNT, mode: SERVER}\n    tagOverrides: {source_x: {value: \"downstream_peer.labels['app'].value\"}}\n  providers: [{name: prometheus}]"),
        tel("ns", "default", "metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT, mode: CLIENT}\n    disabled: true\n    tagOverrides: {a: {operation: UPSERT, value: request.host}}"),
      ],
      want: {
        prometheus: {
          client: { disabled: false, overrides: [{ name: "REQUEST_COUNT", disabled: true, tags: [{ name: "a", remove: false, value: "request.host" }, { name: "destination_x", remove: false, value: "upstream_peer.labels['app'].value" }] }] },
          server: { disabled: false, overrides: [{ name: "REQUEST_COUNT", disabled: false, tags: [{ name: "source_x", remove: false, value: "downstream_peer.labels['app'].value" }] }] },
        },
      },
    },
    {
      name: "ALL_METRICS disabled at the root, re-enabled for SERVER by a namespace override",
      ts: [
        tel("off", "istio-system", "metrics:\n- providers: [{name: prometheus}]\n  overrides: [{disabled: true, match: {mode: CLIENT_AND_SERVER, metric: ALL_METRICS}}]"),
        tel("ns", "default", "metrics:\n- overrides: [{match: {mode: SERVER, metric: REQUEST_SIZE}, disabled: false}]"),
      ],
      want: { prometheus: { client: { disabled: true, overrides: [] }, server: { disabled: false, overrides: [{ name: "REQUEST_SIZE", disabled: false, tags: [] }] } } },
    },
    {
      name: "a lower level naming other providers takes the root's out of scope; reportingInterval kept",
      ts: [tel("root", "istio-system", "metrics: [{providers: [{name: prometheus}], reportingInterval: 10s}]"), tel("ns", "default", "metrics: [{providers: [{name: stackdriver}]}]")],
      want: { stackdriver: { client: { disabled: false, overrides: [] }, server: { disabled: false, overrides: [] } } },
    },
    {
      name: "ALL_METRICS override (not disabled) expands to every metric, sorted",
      ts: [tel("t", "default", "metrics:\n- providers: [{name: prometheus}]\n  reportingInterval: 5s\n  overrides: [{match: {mode: CLIENT}, tagOverrides: {x: {value: \"'1'\"}}}]")],
      want: {
        prometheus: {
          reportingIntervalMs: 5000,
          client: {
            disabled: false,
            overrides: ["GRPC_REQUEST_MESSAGES", "GRPC_RESPONSE_MESSAGES", "REQUEST_COUNT", "REQUEST_DURATION", "REQUEST_SIZE", "RESPONSE_SIZE", "TCP_CLOSED_CONNECTIONS", "TCP_OPENED_CONNECTIONS", "TCP_RECEIVED_BYTES", "TCP_SENT_BYTES"].map((name) => ({ name, disabled: false, tags: [{ name: "x", remove: false, value: "'1'" }] })),
          },
          server: { disabled: false, overrides: [] },
        },
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = Object.fromEntries(telemetries(c.ts, c.defaults).metrics(PRODUCTPAGE));
      assert.deepEqual(JSON.parse(JSON.stringify(got)), c.want);
    });
  }
});

describe("access logging (mergeLogs)", () => {
  const cases: Array<{ name: string; ts: Telemetry[]; defaults?: DefaultProviders; server: unknown; client: unknown }> = [
    { name: "nothing configured: undefined (mesh accessLogFile applies)", ts: [], server: undefined, client: undefined },
    { name: "a default provider without Telemetry", ts: [], defaults: { ...ISTIO_DEFAULTS, accessLogging: ["envoy"] }, server: { envoy: { disabled: false } }, client: { envoy: { disabled: false } } },
    { name: "Istio's logs-telemetry-api: mesh-wide envoy", ts: [tel("mesh-logging-default", "istio-system", "accessLogging: [{providers: [{name: envoy}]}]")], server: { envoy: { disabled: false } }, client: { envoy: { disabled: false } } },
    {
      name: "disabled for the selected workload",
      ts: [tel("mesh", "istio-system", "accessLogging: [{providers: [{name: envoy}]}]"), tel("off", "default", "selector: {matchLabels: {app: productpage}}\naccessLogging: [{providers: [{name: envoy}], disabled: true}]")],
      server: { envoy: { disabled: true } },
      client: { envoy: { disabled: true } },
    },
    {
      name: "a filter on the server side only (match mode SERVER)",
      ts: [tel("f", "default", "accessLogging:\n- providers: [{name: envoy}]\n  match: {mode: SERVER}\n  filter: {expression: 'response.code >= 400'}")],
      server: { envoy: { disabled: false, filter: "response.code >= 400" } },
      client: {},
    },
    {
      name: "a lower level naming another provider replaces the root's",
      ts: [tel("mesh", "istio-system", "accessLogging: [{providers: [{name: envoy}]}]"), tel("ns", "default", "accessLogging: [{providers: [{name: log2}]}]")],
      server: { log2: { disabled: false } },
      client: { log2: { disabled: false } },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = telemetries(c.ts, c.defaults);
      const plain = (m: Map<string, unknown> | undefined) => (m ? Object.fromEntries(m) : undefined);
      assert.deepEqual(plain(t.accessLogging(PRODUCTPAGE, "SERVER")), c.server);
      assert.deepEqual(plain(t.accessLogging(PRODUCTPAGE, "CLIENT")), c.client);
    });
  }
});

describe("tracing (Telemetries.Tracing)", () => {
  it("nothing configured: undefined (mesh enableTracing applies)", () => assert.equal(telemetries([]).tracing(PRODUCTPAGE), undefined));
  it("Istio's distributed-tracing-telemetry-api: zipkin at 100% with a literal tag, both modes", () => {
    const t = telemetries([tel("mesh-default", "istio-system", "tracing:\n- providers: [{name: zipkin}]\n  randomSamplingPercentage: 100\n  customTags: {provider: {literal: {value: zipkin}}}")]).tracing(PRODUCTPAGE)!;
    for (const s of [t.client, t.server]) {
      assert.equal(s.provider, ZIPKIN);
      assert.equal(s.disabled, false);
      assert.equal(s.randomSamplingPercentage, 100);
      assert.deepEqual(s.customTags, { provider: { literal: { value: "zipkin" } } });
      assert.equal(s.useRequestIdForTraceSampling, true);
    }
  });
  it("per mode: the first provider only; a workload disables span reporting on the server side", () => {
    const t = telemetries([
      tel("mesh", "istio-system", "tracing: [{providers: [{name: otel}, {name: zipkin}], randomSamplingPercentage: 10}]"),
      tel("pp", "default", "selector: {matchLabels: {app: productpage}}\ntracing: [{match: {mode: SERVER}, disableSpanReporting: true}]"),
    ]).tracing(PRODUCTPAGE)!;
    assert.equal(t.client.provider, OTEL);
    assert.equal(t.client.disabled, false);
    assert.equal(t.server.disabled, true);
    assert.equal(t.server.randomSamplingPercentage, 10);
  });
  it("a default tracing provider; an unknown provider name disables tracing and is named", () => {
    const d = telemetries([], { ...ISTIO_DEFAULTS, tracing: ["zipkin"] }).tracing(PRODUCTPAGE)!;
    assert.equal(d.client.provider, ZIPKIN);
    const u = telemetries([tel("t", "default", "tracing: [{providers: [{name: jaeger}]}]")]).tracing(PRODUCTPAGE)!;
    assert.deepEqual([u.client.disabled, u.client.missingProvider], [true, "jaeger"]);
  });
  it("providers are looked up case-insensitively (Istio's fetchProvider)", () => {
    assert.equal(telemetries([tel("t", "default", "tracing: [{providers: [{name: ZipKin}]}]")]).tracing(PRODUCTPAGE)!.server.provider, ZIPKIN);
  });
});
