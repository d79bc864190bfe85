// Cross-resource analysis with Istio's codes, on small configurations that each show one problem.
import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import type { AuthzAnalysisMesh } from "../../src/analysis/authz.js";
import { analyze } from "../../src/analysis/analyze.js";
import { validateText } from "../../src/api/validate.js";

const codes = (yaml: string) => analyze(validateText(yaml, "in.yaml")).map((m) => `${m.code} ${m.resource}${m.path ? ` ${m.path}` : ""}`);

const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
`;
const vs = (name: string, extra: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
${extra}`;
const doc = (...d: string[]) => d.join("---\n");

test("a clean configuration has no messages", () => {
  assert.deepEqual(codes(doc(GATEWAY, DR, vs("r", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n"))), []);
});

test("IST0101: unknown gateway and unknown subset", () => {
  const got = codes(doc(DR, vs("r", "  hosts: [reviews]\n  gateways: [missing-gw, mesh]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v9}\n    mirror: {host: reviews.default.svc.cluster.local, subset: v1}\n")));
  assert.deepEqual(got, ["IST0101 VirtualService default/r spec.gateways[0]", "IST0101 VirtualService default/r spec.http[0].route[0].destination.subset"]);
  const msg = analyze(validateText(doc(DR, vs("r", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v9}\n")), "in.yaml"))[0];
  assert.equal(msg.message, 'Referenced host+subset in destinationrule not found: "reviews.default.svc.cluster.local+v9"');
  assert.equal(msg.level, "Error");
  assert.equal(msg.line, 16);
});

test("IST0109: two mesh VirtualServices for one host", () => {
  const got = codes(doc(vs("a", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"), vs("b", "  hosts: [reviews.default.svc.cluster.local]\n  http:\n  - route:\n    - destination: {host: reviews}\n")));
  assert.deepEqual(got, ["IST0109 VirtualService default/a spec.hosts[0]", "IST0109 VirtualService default/b spec.hosts[0]"]);
});

test("IST0104 and selector IST0101: gateway ports and workloads without Kubernetes", () => {
  const we = (labels: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ingress, namespace: istio-system}
spec:
  address: 127.0.1.1
  labels: {${labels}}
`;
  const se = (port: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ingress, namespace: istio-system}
spec:
  hosts: [istio-ingressgateway.istio-system.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, targetPort: ${port}, name: http, protocol: HTTP}]
  workloadSelector: {labels: {istio: ingressgateway}}
`;
  assert.deepEqual(codes(doc(GATEWAY, we("istio: ingressgateway"), se("8080"))), []);
  assert.deepEqual(codes(doc(GATEWAY, we("istio: ingressgateway"), se("9999"))), ["IST0104 Gateway default/gw spec.servers[0].port.number"]);
  assert.deepEqual(codes(doc(GATEWAY, we("istio: other"), se("8080"))), ["IST0101 Gateway default/gw spec.selector"]);
  // Istio's own install: the gateway's Kubernetes Service declares the port, as the ServiceEntry did.
  const svc = (port: string) => `apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  ports: [{port: 80, targetPort: ${port}, name: http2}]
  selector: {istio: ingressgateway}
`;
  assert.deepEqual(codes(doc(GATEWAY, we("istio: ingressgateway"), svc("8080"))), []);
  assert.deepEqual(codes(doc(GATEWAY, we("istio: ingressgateway"), svc("9999"))), ["IST0104 Gateway default/gw spec.servers[0].port.number"]);
});

test("IST0128 / IST0129: TLS origination without server verification", () => {
  const got = codes(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE}
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}
    - port: {number: 8443}
      tls: {mode: SIMPLE, caCertificates: /ca.pem}
`);
  assert.deepEqual(got, ["IST0128 DestinationRule default/ext spec.trafficPolicy.tls", "IST0129 DestinationRule default/ext spec.trafficPolicy.portLevelSettings[0].tls"]);
});

test("IST0130 / IST0131: unreachable rule and ineffective match", () => {
  const got = codes(vs("r", "  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: reviews}}]\n  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: reviews}}]\n  - route: [{destination: {host: reviews}}]\n  - route: [{destination: {host: ratings}}]\n"));
  // Rule 1's only match repeats rule 0's, so the match (IST0131) and with it the whole rule (IST0130) are dead.
  assert.deepEqual(got, ["IST0131 VirtualService default/r spec.http[1].match[0]", "IST0130 VirtualService default/r spec.http[1]", "IST0130 VirtualService default/r spec.http[3]"]);
});

test("IST0132: VirtualService host the gateway does not serve", () => {
  assert.deepEqual(codes(doc(GATEWAY, vs("r", "  hosts: [shop.example.com, other.test]\n  gateways: [gw]\n  http:\n  - route: [{destination: {host: reviews}}]\n"))), ["IST0132 VirtualService default/r spec.gateways[0]"]);
});

test("invalid resources become IST0106 SchemaValidationError", () => {
  const got = analyze(validateText(DR.replace("host: reviews", "host: 5"), "in.yaml"));
  assert.equal(got[0].code, "IST0106");
  assert.match(got[0].message, /spec\.host/);
});

describe("AuthorizationPolicy analyzers", () => {
  const we = (name: string, ns: string, labels: string, sa: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${ns}}
spec: {address: 127.0.9.${name.length}, labels: {${labels}}, serviceAccount: ${sa}}
`;
  const ap = (name: string, ns: string, spec: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec.replace(/^/gm, "  ")}
`;
  const pa = (mode: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec: {mtls: {mode: ${mode}}}
`;
  const WORKLOADS = [we("httpbin", "foo", "app: httpbin", "httpbin"), we("sleep", "bar", "app: sleep", "sleep")];
  const run = (docs: string[], mesh?: AuthzAnalysisMesh) =>
    analyze(validateText(doc(...WORKLOADS, ...docs), "in.yaml"), { mesh }).map((m) => `${m.code} ${m.resource}${m.path ? ` ${m.path}` : ""}`);

  it("IST0127: a selector no workload matches (in the policy's namespace; any namespace from the root)", () => {
    assert.deepEqual(
      run([
        ap("ok", "foo", "selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules: [{}]"),
        ap("elsewhere", "bar", "selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules: [{}]"),
        ap("root", "istio-system", "selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules: [{}]"),
        ap("empty-ns", "baz", "action: DENY\nrules: [{}]"),
      ]),
      ["IST0127 AuthorizationPolicy bar/elsewhere spec.selector", "IST0127 AuthorizationPolicy baz/empty-ns"],
    );
  });

  it("TSM0002: principals and serviceAccounts naming a service account no workload runs as", () => {
    const got = run([ap("sa", "foo", "selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules:\n- from: [{source: {principals: [cluster.local/ns/bar/sa/sleep, cluster.local/ns/bar/sa/ghost, \"*/sa/any\"]}}]\n- from: [{source: {serviceAccounts: [httpbin, bar/nobody]}}]")]);
    assert.deepEqual(got, ["TSM0002 AuthorizationPolicy foo/sa spec.rules[0].from[0].source.principals[1]", "TSM0002 AuthorizationPolicy foo/sa spec.rules[1].from[0].source.serviceAccounts[1]"]);
  });

  it("TSM0003 / TSM0004: ALLOW on peer identity where peers are plaintext (DISABLE) or may be (PERMISSIVE, the default)", () => {
    const policy = ap("ns-only", "foo", "selector: {matchLabels: {app: httpbin}}\nrules: [{from: [{source: {namespaces: [bar]}}]}]");
    assert.deepEqual(run([policy, pa("DISABLE")]), ["TSM0003 AuthorizationPolicy foo/ns-only spec.rules[0]"]);
    assert.deepEqual(run([policy]), ["TSM0004 AuthorizationPolicy foo/ns-only spec.rules[0]"]);
    assert.deepEqual(run([policy, pa("STRICT")]), []);
    // DENY on identity is not weakened by plaintext peers in the same way: not reported.
    assert.deepEqual(run([ap("deny", "foo", "selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules: [{from: [{source: {notNamespaces: [bar]}}]}]")]), []);
    const msg = analyze(validateText(doc(...WORKLOADS, policy, pa("DISABLE")), "in.yaml")).find((m) => m.code === "TSM0003")!;
    assert.match(msg.message, /namespaces match the peer's mTLS identity, but PeerAuthentication DISABLE makes peers of foo\/httpbin plaintext/);
  });

  it("TSM0005: CUSTOM naming a provider the mesh config lacks, or one that is not ext_authz", () => {
    const custom = (name: string) => ap(`c-${name}`, "foo", `selector: {matchLabels: {app: httpbin}}\naction: CUSTOM\nprovider: {name: ${name}}\nrules: [{}]`);
    const mesh = {
      rootNamespace: "istio-system",
      extensionProviders: [
        { name: "authz", kind: "envoyExtAuthzGrpc" as const, envoyExtAuthzGrpc: { service: "a.b", port: 9000, failOpen: false, statusOnError: "" } },
        { name: "otel", kind: "opentelemetry" as const, opentelemetry: { service: "otel.o.svc.cluster.local", port: 4317, maxTagLength: 0 } },
      ],
    };
    assert.deepEqual(run([custom("authz"), custom("otel"), custom("missing")], mesh), ["TSM0005 AuthorizationPolicy foo/c-otel spec.provider.name", "TSM0005 AuthorizationPolicy foo/c-missing spec.provider.name"]);
    // Without a mesh config, providers are not checked.
    assert.deepEqual(run([custom("missing")]), []);
  });
});
