// tsmesh describe's content (istioctl x describe's): subsets a workload matches, routes that reach it,
// the effective PeerAuthentication, and the common mistakes it explains — from resources parsed as
// `tsmesh validate` parses them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { AnyResource } from "../../src/api/resource.js";
import { describeService, describeWorkload, effectivePeerAuthentication, proxyView, type DescribeInput, type DescribeWorkload } from "../../src/cli/describe-model.js";

function resources(yaml: string): AnyResource[] {
  return parseAllDocuments(yaml).map((d) => {
    const r = d.toJS() as AnyResource;
    r.metadata.namespace ??= "default";
    return r;
  });
}

const SERVICE = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: reviews}}
`;
const DR = (extra = "") => `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
${extra}`;
const VS = (routes: string) => `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
${routes}`;

const v1: DescribeWorkload = { name: "reviews-v1", namespace: "default", role: "sidecar", address: "127.0.3.1", labels: { app: "reviews", version: "v1" } };
const v3: DescribeWorkload = { ...v1, name: "reviews-v3", address: "127.0.3.3", labels: { app: "reviews", version: "v3" } };
const input = (yaml: string, workloads = [v1, v3]): DescribeInput => ({ resources: resources(yaml), workloads, rootNamespace: "istio-system" });
const has = (lines: string[], want: string) => assert.ok(lines.includes(want), `${JSON.stringify(want)} in\n${lines.join("\n")}`);

describe("describe pod", () => {
  it("matching and non-matching subsets, the weighted route and its match", () => {
    const lines = describeWorkload(v1, input(SERVICE + DR() + VS(`  - match: [{headers: {end-user: {exact: jason}}}]\n    route: [{destination: {host: reviews, subset: v1}, weight: 100}]\n  - route: [{destination: {host: reviews, subset: v2}}]`)));
    has(lines, "   Matching subsets: v1");
    has(lines, "      (Non-matching subsets v2)");
    has(lines, '   Route to host "reviews" subset "v1" with weight 100%');
    // istioctl's renderMatch leaves two spaces when there is no URI.
    has(lines, "   Match:  when headers are end-user=jason");
    has(lines, "   1 additional destination(s) that will not reach this pod");
  });

  it("a workload no subset matches, and the routes that skip it", () => {
    const lines = describeWorkload(v3, input(SERVICE + DR() + VS(`  - route: [{destination: {host: reviews, subset: v1}}]`)));
    has(lines, "   WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets v1,v2)");
    has(lines, "   WARNING: No destinations match pod subsets (checked 1 HTTP routes)");
    has(lines, "      Route to non-matching subset v1 for (everything)");
  });

  it("a route to a subset no DestinationRule defines", () => {
    const noDr = describeWorkload(v1, input(SERVICE + VS(`  - route: [{destination: {host: reviews, subset: v1}}]`)));
    has(noDr, "      Warning: Route to subset v1 but NO DESTINATION RULE defining subsets!");
    const unknown = describeWorkload(v1, input(SERVICE + DR() + VS(`  - route: [{destination: {host: reviews, subset: v9}}]`)));
    has(unknown, "      Warning: Route to UNKNOWN subset v9; check DestinationRule reviews");
  });

  it("TLS modes that contradict the workload's mTLS mode", () => {
    const strict = `\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n`;
    const disable = describeWorkload(v1, input(SERVICE + DR("  trafficPolicy: {tls: {mode: DISABLE}}") + strict));
    has(disable, "   Traffic Policy TLS Mode: DISABLE");
    has(disable, "   WARNING: TLS mode DISABLE, but port 9080 accepts only mutual TLS (PeerAuthentication STRICT): its clients' requests will be refused");
    has(disable, "   Workload mTLS mode: STRICT");
    has(disable, "Applied PeerAuthentication:");
    const simple = describeWorkload(v1, input(SERVICE + DR("  trafficPolicy: {tls: {mode: SIMPLE}, connectionPool: {tcp: {maxConnections: 1}}}")));
    has(simple, "   Policies: connection pool");
    assert.ok(simple.some((l) => l.startsWith("   WARNING: TLS mode SIMPLE")), simple.join("\n"));
  });

  it("missing telemetry labels and a workload no service selects", () => {
    const bare: DescribeWorkload = { ...v1, name: "lonely", labels: {} };
    const lines = describeWorkload(bare, input(SERVICE));
    has(lines, "Suggestion: add required service name label for Istio telemetry. Use 'app' or 'app.kubernetes.io/name'.");
    has(lines, "Suggestion: add required service revision label for Istio telemetry. Use 'version' or 'app.kubernetes.io/version'.");
    assert.ok(lines.some((l) => l.startsWith("WARNING: no ServiceEntry in default selects lonely")));
  });
});

describe("effective PeerAuthentication: workload over namespace over mesh; UNSET inherits", () => {
  const pa = (name: string, ns: string, mode: string, selector = "") => `\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {${selector}mtls: {mode: ${mode}}}\n`;
  const table: Array<[string, string, string]> = [
    ["none", "", "PERMISSIVE"],
    ["mesh STRICT", pa("m", "istio-system", "STRICT"), "STRICT"],
    ["namespace DISABLE over mesh STRICT", pa("m", "istio-system", "STRICT") + pa("n", "default", "DISABLE"), "DISABLE"],
    ["workload STRICT over namespace PERMISSIVE", pa("n", "default", "PERMISSIVE") + pa("w", "default", "STRICT", "selector: {matchLabels: {app: reviews}}, "), "STRICT"],
    ["workload UNSET inherits namespace", pa("n", "default", "STRICT") + pa("w", "default", "UNSET", "selector: {matchLabels: {app: reviews}}, "), "STRICT"],
    ["another workload's selector does not apply", pa("w", "default", "STRICT", "selector: {matchLabels: {app: ratings}}, "), "PERMISSIVE"],
    ["another namespace does not apply", pa("n", "other", "STRICT"), "PERMISSIVE"],
  ];
  for (const [what, yaml, want] of table) it(`${what} → ${want}`, () => assert.equal(effectivePeerAuthentication(v1, input(SERVICE + yaml)).mode, want));
});

describe("describe service", () => {
  it("subsets matched by any of its workloads, every route, its workloads", () => {
    const se = resources(SERVICE)[0] as Extract<AnyResource, { kind: "ServiceEntry" }>;
    const lines = describeService(se, input(SERVICE + DR() + VS(`  - route: [{destination: {host: reviews, subset: v1}, weight: 80}, {destination: {host: reviews, subset: v2}, weight: 20}]`)));
    has(lines, "   Matching subsets: v1");
    has(lines, "      (Non-matching subsets v2)");
    has(lines, '   Route to host "reviews" subset "v1" with weight 80%');
    assert.ok(lines.some((l) => l.startsWith("Workloads: reviews-v1 (127.0.3.1, app=reviews,version=v1), reviews-v3")), lines.join("\n"));
  });
});

describe("describe pod with the proxy's config dump", () => {
  const rbac = { name: "envoy.filters.http.rbac", typed_config: { rules: { policies: { "ns[default]-policy[viewer]-rule[0]": {} } }, shadow_rules: { policies: { "ns[default]-policy[dry]-rule[0]": {} } } } };
  const dump = {
    configs: [
      { "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", dynamic_active_clusters: [{ cluster: { name: "outbound|9080||reviews.default.svc.cluster.local" } }] },
      {
        "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
        dynamic_listeners: [
          { name: "127.0.3.1_9080", active_state: { listener: { name: "127.0.3.1_9080", address: { socket_address: { address: "127.0.3.1", port_value: 9080 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: { http_filters: [rbac, { name: "envoy.filters.http.router" }] } }] }] } } },
          { name: "0.0.0.0_9080", active_state: { listener: { name: "0.0.0.0_9080", address: { socket_address: { address: "0.0.0.0", port_value: 9080 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: { http_filters: [{ name: "envoy.filters.http.rbac", typed_config: { rules: { policies: { outbound: {} } } } }] } }] }] } } },
        ],
      },
    ],
  };
  it("RBAC policies of the inbound listener only (enforced and shadow), and a missing inbound cluster", () => {
    const view = proxyView(dump, "127.0.3.1");
    assert.deepEqual(view.rbacPolicies.get(9080), ["ns[default]-policy[dry]-rule[0]", "ns[default]-policy[viewer]-rule[0]"]);
    const lines = describeWorkload(v1, input(SERVICE), view);
    has(lines, "RBAC policies: ns[default]-policy[dry]-rule[0], ns[default]-policy[viewer]-rule[0]");
    has(lines, "WARNING: the proxy has no inbound cluster for port 9080 (inbound|9080||): its config has not arrived (see tsmesh proxy-status reviews-v1)");
  });
});

describe("describe a gateway pod", () => {
  const gw: DescribeWorkload = { name: "istio-ingressgateway", namespace: "istio-system", role: "router", address: "127.0.1.1", labels: { istio: "ingressgateway" } };
  const GW = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
`;
  const BOUND = `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http: [{match: [{uri: {exact: /productpage}}], route: [{destination: {host: productpage, port: {number: 9080}}}]}]
`;
  it("the Gateways selecting it, their servers and the routes bound to them", () => {
    const lines = describeWorkload(gw, input(GW + BOUND, [gw]));
    has(lines, "Gateway: bookinfo-gateway");
    has(lines, "   Server: http 8080/HTTP hosts *");
    has(lines, "   VirtualService: bookinfo (hosts *)");
    has(lines, "      Match: /productpage → productpage");
  });
  it("a Gateway with nothing bound, and a gateway workload no Gateway selects", () => {
    has(describeWorkload(gw, input(GW, [gw])), "   WARNING: no VirtualService is bound to this Gateway: it accepts connections and routes nothing (404)");
    const other = { ...gw, labels: { istio: "egressgateway" } };
    has(describeWorkload(other, input(GW, [other])), 'WARNING: no Gateway selects istio-ingressgateway (labels {"istio":"egressgateway"}): it serves nothing');
  });
});
