// Istio's mesh config (MeshConfig) as users give it: the YAML of `--mesh-config FILE` (istiod's
// --meshConfig) or the `istio` ConfigMap's data.mesh in istio-system. A table of parsing cases, the
// ConfigMap in a watched folder (valid, not an unknown kind; others ignored), and the control plane:
// a ConfigMap change is a full push that flips the sidecars' catch-all to BlackHoleCluster, a bad
// edit keeps the last good mesh config, and the file wins over the ConfigMap (as in istiod).
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it, test } from "node:test";
import { DirectorySource, type FileReport } from "../../src/config/directory.js";
import { validateFile } from "../../src/config/files.js";
import { ConfigStore, type ChangeBatch } from "../../src/config/store.js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { MeshConfigError, meshFrom, parseMeshConfig, readMeshConfigFile } from "../../src/controlplane/mesh-config.js";
import { configDump } from "../../src/controlplane/monitoring.js";
import type { MeshConfig } from "../../src/model/push-context.js";
import { parseProxy } from "../../src/model/proxy.js";
import { DEFAULT_TELEMETRY_MESH } from "../../src/model/telemetry.js";
import { eventually } from "../helpers/eventually.js";

const cases: Array<{ name: string; yaml: string; want?: Partial<MeshConfig>; error?: RegExp }> = [
  {
    name: "a good file: every field tsmesh uses",
    yaml: "rootNamespace: mesh-root\ntrustDomain: example.org\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY\nconnectTimeout: 2.5s\nlocalityLbSetting:\n  enabled: false\nenableAutoMtls: false\n",
    want: { rootNamespace: "mesh-root", trustDomain: "example.org", outboundTrafficPolicy: "REGISTRY_ONLY", connectTimeoutMs: 2500, localityLbEnabled: false, enableAutoMtls: false },
  },
  { name: "an empty file keeps every default", yaml: "# nothing here\n", want: {} },
  { name: "ALLOW_ANY", yaml: "outboundTrafficPolicy: {mode: ALLOW_ANY}", want: { outboundTrafficPolicy: "ALLOW_ANY" } },
  { name: "protojson's enum numbers (0 = REGISTRY_ONLY)", yaml: "outboundTrafficPolicy: {mode: 0}", want: { outboundTrafficPolicy: "REGISTRY_ONLY" } },
  { name: "proto (snake_case) field names", yaml: "outbound_traffic_policy: {mode: REGISTRY_ONLY}\nconnect_timeout: 1s", want: { outboundTrafficPolicy: "REGISTRY_ONLY", connectTimeoutMs: 1000 } },
  {
    name: "unknown fields and Istio's many others are ignored (defaultConfig…); telemetry fields and providers read",
    yaml: [
      "accessLogFile: /dev/stdout",
      "enableTracing: true",
      "defaultConfig:",
      "  discoveryAddress: istiod.istio-system.svc:15012",
      "  proxyMetadata: {ISTIO_META_DNS_CAPTURE: \"true\"}",
      "  holdApplicationUntilProxyStarts: true",
      "extensionProviders:",
      "- name: otel",
      "  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}",
      "notAMeshField: [1, 2]",
      "outboundTrafficPolicy: {mode: REGISTRY_ONLY, egressProxy: {host: x}}",
    ].join("\n"),
    want: {
      outboundTrafficPolicy: "REGISTRY_ONLY",
      extensionProviders: [{ name: "otel", kind: "opentelemetry", opentelemetry: { service: "otel.observability.svc.cluster.local", port: 4317, maxTagLength: 0 } }],
      telemetry: { ...DEFAULT_TELEMETRY_MESH, accessLogFile: "/dev/stdout", tracing: { ...DEFAULT_TELEMETRY_MESH.tracing }, defaultProviders: { ...DEFAULT_TELEMETRY_MESH.defaultProviders } },
    },
  },
  {
    name: "an envoyExtAuthzHttp provider with every field",
    yaml: [
      "extensionProviders:",
      "- name: sample-ext-authz-http",
      "  envoyExtAuthzHttp:",
      "    service: foo/ext-authz.foo.svc.cluster.local",
      "    port: \"8000\"",
      "    timeout: 0.5s",
      "    pathPrefix: /check",
      "    failOpen: true",
      "    statusOnError: \"503\"",
      "    includeRequestHeadersInCheck: [x-ext-authz]",
      "    include_headers_in_check: [x-old]",
      "    includeAdditionalHeadersInCheck: {x-added: v}",
      "    headersToUpstreamOnAllow: [authorization, x-up-*]",
      "    headersToDownstreamOnAllow: [set-cookie]",
      "    headersToDownstreamOnDeny: [\"*-reason\"]",
      "    includeRequestBodyInCheck: {maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true}",
    ].join("\n"),
    want: {
      extensionProviders: [
        {
          name: "sample-ext-authz-http",
          kind: "envoyExtAuthzHttp",
          envoyExtAuthzHttp: {
            service: "foo/ext-authz.foo.svc.cluster.local",
            port: 8000,
            timeoutMs: 500,
            pathPrefix: "/check",
            failOpen: true,
            statusOnError: "503",
            includeRequestHeadersInCheck: ["x-ext-authz"],
            includeHeadersInCheck: ["x-old"],
            includeAdditionalHeadersInCheck: { "x-added": "v" },
            headersToUpstreamOnAllow: ["authorization", "x-up-*"],
            headersToDownstreamOnAllow: ["set-cookie"],
            headersToDownstreamOnDeny: ["*-reason"],
            includeRequestBodyInCheck: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true },
          },
        },
      ],
    },
  },
  {
    name: "an envoyExtAuthzGrpc provider and trust domain aliases",
    yaml: "trustDomainAliases: [old-td, other.example]\nextensionProviders:\n- name: grpc-authz\n  envoyExtAuthzGrpc: {service: ext-authz.foo.svc.cluster.local, port: 9000}\n",
    want: {
      trustDomainAliases: ["old-td", "other.example"],
      extensionProviders: [{ name: "grpc-authz", kind: "envoyExtAuthzGrpc", envoyExtAuthzGrpc: { service: "ext-authz.foo.svc.cluster.local", port: 9000, failOpen: false, statusOnError: "" } }],
    },
  },
  { name: "extensionProviders not a list", yaml: "extensionProviders: {name: x}", error: /extensionProviders: must be a list of providers/ },
  { name: "a provider without a name", yaml: "extensionProviders:\n- envoyExtAuthzGrpc: {service: a.b, port: 1}", error: /extensionProviders\[0\]\.name: empty extension provider name/ },
  {
    name: "two providers with one name",
    yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1}}\n- {name: a, zipkin: {service: z, port: 9411}}",
    error: /extensionProviders\[1\]\.name: duplicate extension provider name a/,
  },
  { name: "a provider with no kind", yaml: "extensionProviders:\n- name: a", error: /extensionProviders\[0\]: needs one provider kind/ },
  {
    name: "a provider with two kinds",
    yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1}, zipkin: {service: z, port: 1}}",
    error: /extensionProviders\[0\]: has 2 provider kinds \(envoyExtAuthzGrpc, zipkin\)/,
  },
  { name: "an unknown provider kind", yaml: "extensionProviders:\n- {name: a, envoyExtAuthz: {service: a.b, port: 1}}", error: /extensionProviders\[0\]\.envoyExtAuthz: unknown provider kind/ },
  { name: "an ext_authz port of 0", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b}}", error: /extensionProviders\[0\]\.envoyExtAuthzGrpc\.port: port number 0 must be in the range 1\.\.65535/ },
  { name: "an empty service", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzHttp: {port: 80}}", error: /envoyExtAuthzHttp\.service: service must not be empty/ },
  { name: "a bad service", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzHttp: {service: \"a b\", port: 80}}", error: /envoyExtAuthzHttp\.service: invalid service "a b"/ },
  { name: "a statusOnError Envoy does not know", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1, statusOnError: \"999\"}}", error: /statusOnError: unsupported statusOnError value 999/ },
  { name: "a statusOnError that is not a number", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1, statusOnError: forbidden}}", error: /statusOnError: invalid statusOnError value "forbidden"/ },
  { name: "a pathPrefix without a slash", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzHttp: {service: a.b, port: 1, pathPrefix: check}}", error: /envoyExtAuthzHttp\.pathPrefix: should begin with `\/`/ },
  { name: "an unknown ext_authz field", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1, pathPrefix: /x}}", error: /envoyExtAuthzGrpc\.pathPrefix: unknown field/ },
  { name: "a Go duration for the timeout", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1, timeout: 250ms}}", error: /envoyExtAuthzGrpc\.timeout: invalid duration "250ms"/ },
  { name: "a header list that is not a list", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzHttp: {service: a.b, port: 1, headersToUpstreamOnAllow: x}}", error: /headersToUpstreamOnAllow: must be a list of strings/ },
  { name: "additional headers that are not a map", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzHttp: {service: a.b, port: 1, includeAdditionalHeadersInCheck: [x]}}", error: /includeAdditionalHeadersInCheck: must be a map/ },
  { name: "a request body setting that is not an object", yaml: "extensionProviders:\n- {name: a, envoyExtAuthzGrpc: {service: a.b, port: 1, includeRequestBodyInCheck: true}}", error: /includeRequestBodyInCheck: must be an object/ },
  { name: "trust domain aliases that are not a list", yaml: "trustDomainAliases: old-td", error: /trustDomainAliases: must be a list of trust domain names/ },
  { name: "a bad mode", yaml: "outboundTrafficPolicy:\n  mode: DENY_ALL\n", error: /^mesh\.yaml: outboundTrafficPolicy\.mode: must be ALLOW_ANY or REGISTRY_ONLY, not "DENY_ALL"$/ },
  { name: "a lowercase mode (enums are case-sensitive)", yaml: "outboundTrafficPolicy: {mode: registry_only}", error: /outboundTrafficPolicy\.mode: must be ALLOW_ANY or REGISTRY_ONLY/ },
  { name: "a malformed duration", yaml: "connectTimeout: ten seconds", error: /^mesh\.yaml: connectTimeout: invalid duration "ten seconds"/ },
  { name: "a Go duration (mesh config durations are protobuf's)", yaml: "connectTimeout: 250ms", error: /connectTimeout: invalid duration "250ms" \(mesh config durations are protobuf durations, in seconds/ },
  { name: "a duration under 1 ms", yaml: "connectTimeout: 0s", error: /connectTimeout: duration must be greater than 1ms/ },
  { name: "a number for a duration", yaml: "connectTimeout: 10", error: /connectTimeout: must be a duration string such as "10s", not 10/ },
  { name: "a non-boolean enableAutoMtls", yaml: "enableAutoMtls: \"off\"", error: /enableAutoMtls: must be true or false, not "off"/ },
  { name: "a non-boolean enabled", yaml: "localityLbSetting: {enabled: \"no\"}", error: /localityLbSetting\.enabled: must be true or false, not "no"/ },
  { name: "outboundTrafficPolicy as a string", yaml: "outboundTrafficPolicy: REGISTRY_ONLY", error: /outboundTrafficPolicy: must be an object such as \{mode: REGISTRY_ONLY\}/ },
  { name: "a bad root namespace", yaml: "rootNamespace: Istio_System", error: /rootNamespace: "Istio_System" is not a valid namespace name/ },
  { name: "a list, not a mapping", yaml: "- outboundTrafficPolicy: {mode: REGISTRY_ONLY}", error: /mesh\.yaml: mesh config must be a YAML mapping of MeshConfig fields, not a list/ },
  { name: "malformed YAML", yaml: "outboundTrafficPolicy: {mode: REGISTRY_ONLY\n", error: /^mesh\.yaml: invalid YAML: line \d+/ },
];

for (const c of cases) {
  test(`mesh config: ${c.name}`, () => {
    if (c.error) {
      assert.throws(() => parseMeshConfig(c.yaml, "mesh.yaml"), (e: unknown) => {
        assert.ok(e instanceof MeshConfigError);
        assert.match(e.message, c.error!);
        return true;
      });
      return;
    }
    assert.deepEqual(parseMeshConfig(c.yaml, "mesh.yaml"), c.want);
  });
}

test("mesh config: every problem is reported, each naming the file and the field", () => {
  assert.throws(
    () => parseMeshConfig("outboundTrafficPolicy: {mode: NOPE}\nconnectTimeout: 5\n", "mesh.yaml"),
    (e: unknown) => e instanceof MeshConfigError && e.problems.length === 2 && e.message.split("\n").every((l) => l.startsWith("mesh.yaml: ")),
  );
});

test("mesh config: fields given override the defaults, the rest keep them", () => {
  const mesh = meshFrom({ connectTimeoutMs: 1000 }, parseMeshConfig("outboundTrafficPolicy: {mode: REGISTRY_ONLY}", "m"));
  assert.equal(mesh.outboundTrafficPolicy, "REGISTRY_ONLY");
  assert.equal(mesh.connectTimeoutMs, 1000);
  assert.equal(mesh.rootNamespace, "istio-system");
  assert.equal(mesh.localityLbEnabled, true);
  assert.equal(mesh.trustDomain, "cluster.local");
  assert.equal(mesh.enableAutoMtls, true, "auto mTLS is on by default, as in Istio");
});

test("mesh config: defaultConfig.gatewayTopology.numTrustedProxies is read (gateways' trusted hops); a bad one names its field", () => {
  assert.equal(parseMeshConfig("defaultConfig:\n  gatewayTopology: {numTrustedProxies: 2}\n  concurrency: 2\n", "m").defaultNumTrustedProxies, 2);
  assert.equal(parseMeshConfig("default_config: {gateway_topology: {num_trusted_proxies: 1}}\n", "m").defaultNumTrustedProxies, 1);
  assert.equal(parseMeshConfig("defaultConfig: {concurrency: 2}\n", "m").defaultNumTrustedProxies, undefined);
  for (const [yaml, field] of [
    ["defaultConfig: {gatewayTopology: {numTrustedProxies: -1}}", "defaultConfig.gatewayTopology.numTrustedProxies"],
    ["defaultConfig: {gatewayTopology: 3}", "defaultConfig.gatewayTopology"],
    ["defaultConfig: [1]", "defaultConfig"],
  ]) {
    assert.throws(() => parseMeshConfig(yaml, "mesh.yaml"), (e: unknown) => e instanceof MeshConfigError && e.message.startsWith(`mesh.yaml: ${field}: `), yaml);
  }
});

test("mesh config: a missing file is an error naming it", () => {
  assert.throws(
    () => readMeshConfigFile("/nonexistent/mesh.yaml"),
    (e: unknown) => e instanceof MeshConfigError && e.message === "/nonexistent/mesh.yaml: cannot read the mesh config: no such file",
  );
});

const istioConfigMap = (mesh: string, name = "istio", namespace = "istio-system") =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  mesh: |-\n${mesh
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}\n`;

describe("ConfigMaps in a watched folder", () => {
  let dir: string;
  let source: DirectorySource | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "tsmesh-configmap-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => source?.close());

  it("is a valid document (not an unknown kind), kept beside the Istio resources; a malformed one is reported", () => {
    const file = join(dir, "mesh.yaml");
    writeFileSync(
      file,
      istioConfigMap("outboundTrafficPolicy:\n  mode: REGISTRY_ONLY") +
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: something-else}\ndata: {a: b}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec: {host: reviews}\n",
    );
    const store = new ConfigStore();
    const batches: ChangeBatch[] = [];
    store.subscribe((b) => batches.push(b));
    const reports: FileReport[] = [];
    source = new DirectorySource(dir, store, { pollMs: 0, onReport: (r) => reports.push(r) });
    assert.deepEqual(source.load(), []);
    assert.equal(store.size, 1, "only the DestinationRule is an Istio resource");
    assert.deepEqual(
      store.listConfigMaps().map((m) => `${m.metadata.namespace}/${m.metadata.name}`),
      ["default/something-else", "istio-system/istio"],
    );
    assert.equal(store.getConfigMap("istio-system", "istio")?.data.mesh, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY");
    assert.equal(batches.length, 1);
    assert.equal(batches[0].configMaps?.length, 2);
    // `tsmesh validate` agrees.
    assert.ok(validateFile(file).every((r) => r.valid));

    writeFileSync(join(dir, "bad.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\ndata: {n: 5}\n");
    const problems = source.load();
    assert.equal(problems.length, 1);
    const codes = problems[0].results[0].diagnostics.map((d) => `${d.path} ${d.code}`);
    assert.deepEqual(codes, ["metadata.name TSMESH_METADATA_INVALID", "data[n] TSMESH_SCHEMA_TYPE"]);
  });
});

describe("the control plane's mesh config", () => {
  let dir: string;
  let discovery: Discovery | undefined;
  const logs: string[] = [];
  const write = (file: string, text: string) => {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  };
  const sidecar = parseProxy({ id: "sidecar~127.0.0.9~curl.default~default.svc.cluster.local" });
  /** The cluster of the sidecar's virtualOutbound catch-all chain, as generated now. */
  const catchAll = (d: Discovery): string => {
    const find = (v: unknown, pred: (o: Record<string, unknown>) => boolean): Record<string, unknown> | undefined => {
      if (typeof v !== "object" || v === null) return undefined;
      if (!Array.isArray(v) && pred(v as Record<string, unknown>)) return v as Record<string, unknown>;
      for (const x of Object.values(v)) {
        const f = find(x, pred);
        if (f) return f;
      }
      return undefined;
    };
    const listener = find(configDump(d, sidecar, d.pushContext), (o) => o.name === "virtualOutbound" && "filterChains" in o);
    const chain = find(listener, (o) => o.name === "virtualOutbound-catchall-tcp");
    const tcp = find(chain, (o) => typeof o.cluster === "string");
    return String(tcp?.cluster);
  };
  const fullPushes = async (d: Discovery) => Number(/^pilot_push_full (\d+)/m.exec(d.metrics.render())?.[1] ?? 0);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "tsmesh-meshcfg-"));
    write("se.yaml", "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: httpbin}\nspec:\n  hosts: [httpbin.default.svc.cluster.local]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports: [{number: 8000, name: http, protocol: HTTP}]\n  endpoints: [{address: 127.0.0.20}]\n");
  });
  afterEach(async () => {
    await discovery?.close();
    discovery = undefined;
    logs.length = 0;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a change to the istio ConfigMap is a full push; a bad edit keeps the last good; removing it restores the defaults", async () => {
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
    await discovery.start();
    const d = discovery;
    assert.equal(d.mesh.outboundTrafficPolicy, "ALLOW_ANY");
    assert.equal(catchAll(d), "PassthroughCluster");
    const before = await fullPushes(d);

    write("istio.yaml", istioConfigMap("outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\nconnectTimeout: 3s\ndefaultConfig:\n  concurrency: 2"));
    await eventually("the push with REGISTRY_ONLY", () => d.pushContext.mesh.outboundTrafficPolicy === "REGISTRY_ONLY");
    assert.ok((await fullPushes(d)) > before, "a full push");
    assert.equal(d.pushContext.mesh.connectTimeoutMs, 3000);
    assert.equal(catchAll(d), "BlackHoleCluster");
    assert.match(d.meshSource, /istio\.yaml: ConfigMap istio-system\/istio$/);
    assert.ok(logs.some((l) => /^discovery: mesh config from .*istio\.yaml: ConfigMap istio-system\/istio: outboundTrafficPolicy REGISTRY_ONLY/.test(l)), logs.join("\n"));

    const pushes = await fullPushes(d);
    write("istio.yaml", istioConfigMap("outboundTrafficPolicy:\n  mode: DENY"));
    await eventually("the error logged", () => logs.some((l) => l.includes("data.mesh: outboundTrafficPolicy.mode: must be ALLOW_ANY or REGISTRY_ONLY")));
    const line = logs.find((l) => l.includes("outboundTrafficPolicy.mode"))!;
    assert.match(line, /^discovery: .*istio\.yaml: ConfigMap istio-system\/istio: data\.mesh: outboundTrafficPolicy\.mode: .* \(last good mesh config kept\)$/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(d.pushContext.mesh.outboundTrafficPolicy, "REGISTRY_ONLY", "the last good mesh config serves");
    assert.equal(await fullPushes(d), pushes, "no push for a rejected mesh config");

    // Other ConfigMaps change nothing.
    write("other.yaml", istioConfigMap("outboundTrafficPolicy: {mode: ALLOW_ANY}", "istio-canary"));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(d.pushContext.mesh.outboundTrafficPolicy, "REGISTRY_ONLY");

    rmSync(join(dir, "istio.yaml"));
    rmSync(join(dir, "other.yaml"));
    await eventually("the defaults back", () => d.pushContext.mesh.outboundTrafficPolicy === "ALLOW_ANY");
    assert.equal(d.pushContext.mesh.connectTimeoutMs, 10_000);
    assert.equal(catchAll(d), "PassthroughCluster");
  });

  it("--mesh-config: the file is the mesh config, watched; the ConfigMap is then ignored (istiod's rule)", async () => {
    const meshFile = join(dir, "..", `${dir.split("/").at(-1)}-mesh.yaml`);
    writeFileSync(meshFile, "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n");
    write("istio.yaml", istioConfigMap("outboundTrafficPolicy:\n  mode: ALLOW_ANY\nconnectTimeout: 1s"));
    try {
      discovery = new Discovery({ configPaths: [dir], meshConfigFile: meshFile, meshConfigPollMs: 50, xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
      await discovery.start();
      const d = discovery;
      assert.equal(d.mesh.outboundTrafficPolicy, "REGISTRY_ONLY");
      assert.equal(d.mesh.connectTimeoutMs, 10_000, "nothing from the ConfigMap");
      assert.ok(logs.some((l) => /ConfigMap istio-system\/istio is ignored: the mesh config comes from --mesh-config/.test(l)), logs.join("\n"));
      writeFileSync(meshFile, "outboundTrafficPolicy: {mode: ALLOW_ANY}\nconnectTimeout: 7s\n");
      await eventually("the file's edit live", () => d.pushContext.mesh.outboundTrafficPolicy === "ALLOW_ANY" && d.pushContext.mesh.connectTimeoutMs === 7000);
      writeFileSync(meshFile, "connectTimeout: 7\n# a bad edit, longer than before\n");
      await eventually("the file's error logged", () => logs.some((l) => /-mesh\.yaml: connectTimeout: must be a duration string .*\(last good mesh config kept\)$/.test(l)));
      assert.equal(d.pushContext.mesh.connectTimeoutMs, 7000);
    } finally {
      rmSync(meshFile, { force: true });
      rmSync(join(dir, "istio.yaml"), { force: true });
    }
  });

  it("--mesh-config with a bad file fails to start, naming the file and field", async () => {
    const meshFile = join(dir, "..", `${dir.split("/").at(-1)}-bad-mesh.yaml`);
    writeFileSync(meshFile, "outboundTrafficPolicy:\n  mode: BLOCK\n");
    try {
      const d = new Discovery({ configPaths: [dir], meshConfigFile: meshFile, xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: (l) => logs.push(l) });
      await assert.rejects(d.start(), /bad-mesh\.yaml: outboundTrafficPolicy\.mode: must be ALLOW_ANY or REGISTRY_ONLY, not "BLOCK"/);
      await d.close();
    } finally {
      rmSync(meshFile, { force: true });
    }
  });
});
