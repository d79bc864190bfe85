// Istio's "Mutual TLS Migration" task replayed against the generated config, with no proxy running
// (Istio's pilot/pkg/simulation habit): httpbin and sleep with sidecars in foo and bar, sleep without
// one in legacy; after each step of the task (its own PeerAuthentication YAML, from istio.io's
// snippets) every `curl` of the task is decided from the client's cluster and endpoint metadata
// (mTLS or plaintext) and the server's inbound listener, through the proxy's own filter-chain match,
// and compared with the codes the task prints.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { LISTENER_TYPE, decodeMessage, encodeMessage, fromStruct } from "../../../src/envoy/protos.js";
import type { Listener } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import { listenerSpec, selectFilterChain } from "../../../src/proxy/listener-spec.js";
import { buildClusters } from "../../../src/xds/gen/clusters.js";
import { EndpointsBuilder } from "../../../src/xds/gen/endpoints.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import { pushContext, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const snips = readFileSync(join(packageRoot(), "test", "fixtures", "istio", "tasks", "security", "authentication-mtls-migration.snips.sh"), "utf8");

/** The YAML a snippet applies (`kubectl apply -n NS -f - <<EOF`), with its namespace. */
function applied(snip: string): string {
  const m = new RegExp(`^${snip}\\(\\) \\{\\nkubectl apply -n (\\S+) -f - <<EOF\\n([\\s\\S]*?)\\nEOF$`, "m").exec(snips);
  assert.ok(m, `snippet ${snip}`);
  return m[2].replace(/^metadata:\n/m, `metadata:\n  namespace: ${m[1]}\n`);
}

/** The `sleep.X to httpbin.Y: CODE` lines a snippet's output holds. */
function expected(snip: string): Map<string, string> {
  const m = new RegExp(`^! IFS= read -r -d '' ${snip}_out <<\\\\ENDSNIP\\n([\\s\\S]*?)\\nENDSNIP$`, "m").exec(snips);
  assert.ok(m, `output of ${snip}`);
  const out = new Map<string, string>();
  for (const line of m[1].split("\n")) {
    const r = /^sleep\.(\w+) to httpbin\.(\w+): (\d+)$/.exec(line);
    if (r) out.set(`${r[1]}->${r[2]}`, r[3]);
  }
  return out;
}

const NAMESPACES = { foo: 8, bar: 9, legacy: 10 } as const;
type Ns = keyof typeof NAMESPACES;

/** The task's workloads: httpbin (service port 8000, container port 8080) and sleep; legacy's sleep has no sidecar (no service account). */
function mesh(): string {
  const docs: string[] = [];
  for (const [ns, octet] of Object.entries(NAMESPACES)) {
    const sidecar = ns !== "legacy";
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: ${ns}}
spec:
  hosts: [httpbin.${ns}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP, targetPort: 8080}]
  workloadSelector: {labels: {app: httpbin}}
`);
    if (sidecar) docs.push(`apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: httpbin, namespace: ${ns}}\nspec: {address: 127.0.${octet}.1, serviceAccount: httpbin, labels: {app: httpbin}}\n`);
    docs.push(`apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: sleep, namespace: ${ns}}\nspec: {address: 127.0.${octet}.2, ${sidecar ? "serviceAccount: sleep, " : ""}labels: {app: sleep}}\n`);
  }
  return docs.join("---\n");
}

const proxyOf = (app: string, ns: Ns) => testProxy({ ip: `127.0.${NAMESPACES[ns]}.${app === "httpbin" ? 1 : 2}`, name: app, namespace: ns, labels: { app }, metadata: { INTERCEPTION_MODE: "NONE" } });

/** Does sleep.FROM's sidecar send to httpbin.TO with Istio mTLS? (Its cluster, then the endpoint's metadata.) */
function clientUsesMtls(push: PushContext, from: Ns, to: Ns): boolean {
  if (from === "legacy") return false; // no sidecar: the app's plaintext goes out as it is
  const proxy = proxyOf("sleep", from);
  const name = `outbound|8000||httpbin.${to}.svc.cluster.local`;
  const c = buildClusters(proxy, push).find((x) => x.name === name);
  assert.ok(c, name);
  if (c.transportSocket) return true;
  if (!c.transportSocketMatches) return false;
  const eds = new EndpointsBuilder();
  eds.beginPush(push, { full: true });
  const ep = eds.build(proxy, push, name)?.endpoints?.[0]?.lbEndpoints?.[0];
  const md = ep?.metadata?.filterMetadata?.["envoy.transport_socket_match"];
  return c.transportSocketMatches.some((m) => m.transportSocket?.name === "envoy.transport_sockets.tls" && md !== undefined && fromStruct(md).tlsMode === fromStruct(m.match).tlsMode);
}

/** The HTTP code `curl` gets: 200 when httpbin.TO's sidecar has a filter chain for the connection, else 000. */
function curl(push: PushContext, from: Ns, to: Ns): string {
  if (to === "legacy") return "200";
  const l = buildListeners(proxyOf("httpbin", to), push).find((x) => x.name === `127.0.${NAMESPACES[to]}.1_8080`);
  assert.ok(l, `httpbin.${to}'s inbound listener`);
  const spec = listenerSpec(decodeMessage(LISTENER_TYPE, encodeMessage(LISTENER_TYPE, l)) as Listener);
  const mtls = clientUsesMtls(push, from, to);
  const fc = selectFilterChain(spec, {
    localAddress: `127.0.${NAMESPACES[to]}.1`,
    localPort: 8080,
    remoteAddress: `127.0.${NAMESPACES[from]}.2`,
    transport: mtls ? "tls" : "raw_buffer",
    alpn: mtls ? ["istio-peer-exchange", "istio"] : ["http/1.1"],
  });
  return fc ? "200" : "000";
}

function results(push: PushContext, keys: Iterable<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const [from, to] = k.split("->") as [Ns, Ns];
    out.set(k, curl(push, from, to));
  }
  return out;
}

describe("Istio's mTLS migration task, step by step", () => {
  it("set up: no PeerAuthentication — every client gets 200 (meshed ones over mTLS)", () => {
    const push = pushContext(resourcesFromYaml(mesh()));
    const want = expected("snip_set_up_the_cluster_3");
    assert.equal(want.size, 6);
    assert.deepEqual(results(push, want.keys()), want);
    assert.equal(clientUsesMtls(push, "foo", "bar"), true, "auto mTLS between sidecars");
  });

  it("lock down foo (namespace STRICT): sleep.legacy to httpbin.foo fails, everything else 200", () => {
    const push = pushContext(resourcesFromYaml([mesh(), applied("snip_lock_down_to_mutual_tls_by_namespace_1")].join("\n---\n")));
    const want = expected("snip_lock_down_to_mutual_tls_by_namespace_2");
    assert.equal(want.get("legacy->foo"), "000");
    assert.deepEqual(results(push, want.keys()), want);
  });

  it("lock down the mesh (root namespace STRICT): the legacy client fails against both (the task's text)", () => {
    const push = pushContext(
      resourcesFromYaml([mesh(), applied("snip_lock_down_to_mutual_tls_by_namespace_1"), applied("snip_lock_down_mutual_tls_for_the_entire_mesh_1")].join("\n---\n")),
    );
    const keys = expected("snip_set_up_the_cluster_3").keys();
    const got = results(push, keys);
    assert.deepEqual(
      [...got].filter(([, code]) => code !== "200").map(([k]) => k),
      ["legacy->foo", "legacy->bar"],
    );
  });
});
