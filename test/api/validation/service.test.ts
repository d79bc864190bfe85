// Table tests for a Kubernetes Service's validation (the API server's ValidateService, for what the
// mesh reads), its schema, and its name (a DNS-1035 label). What is not enforced: test/api/enforcement.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkIanaPortName } from "../../../src/api/validation/service.js";
import { assertError, assertValid, assertWarning, kindTables, type TableCase } from "../../helpers/validate.js";

const HTTP = { name: "http", port: 9080 };
const ports = (...p: object[]) => ({ ports: p, selector: { app: "reviews" } });

const invalid: TableCase[] = [
  { name: "no ports", spec: { selector: { app: "reviews" } }, path: "spec.ports", contains: "Required value" },
  { name: "port 0", spec: ports({ port: 0 }), path: "spec.ports[0].port", contains: "must be between 1 and 65535, inclusive" },
  { name: "port above 65535", spec: ports({ port: 65536 }), path: "spec.ports[0].port", contains: "must be between 1 and 65535" },
  { name: "second port without a name", spec: ports(HTTP, { port: 9090 }), path: "spec.ports[1].name", contains: "Required value" },
  { name: "duplicate port names", spec: ports(HTTP, { name: "http", port: 9090 }), path: "spec.ports[1].name", contains: 'Duplicate value: "http"' },
  { name: "port name not a DNS label", spec: ports({ name: "Http_1", port: 80 }), path: "spec.ports[0].name", contains: "RFC 1123 label" },
  { name: "protocol not TCP/UDP/SCTP", spec: ports({ port: 80, protocol: "HTTP" }), path: "spec.ports[0].protocol", contains: 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"' },
  { name: "targetPort out of range", spec: ports({ port: 80, targetPort: 70000 }), path: "spec.ports[0].targetPort", contains: "must be between 1 and 65535" },
  { name: "targetPort name with capitals", spec: ports({ port: 80, targetPort: "Http" }), path: "spec.ports[0].targetPort", contains: "alpha-numeric characters (a-z, 0-9)" },
  { name: "targetPort name too long", spec: ports({ port: 80, targetPort: "a-very-long-port-name" }), path: "spec.ports[0].targetPort", contains: "no more than 15 characters" },
  { name: "targetPort a float", spec: ports({ port: 80, targetPort: 1.5 }), path: "spec.ports[0].targetPort", contains: "integer or string" },
  { name: "appProtocol not a qualified name", spec: ports({ port: 80, appProtocol: "not valid" }), path: "spec.ports[0].appProtocol" },
  { name: "same port and protocol twice", spec: ports(HTTP, { name: "other", port: 9080 }), path: "spec.ports[1]", contains: "Duplicate value: 9080/TCP" },
  { name: "nodePort on a ClusterIP Service", spec: ports({ port: 80, nodePort: 30080 }), path: "spec.ports[0].nodePort", contains: "may not be used when `type` is 'ClusterIP'" },
  { name: "unknown type", spec: { ...ports(HTTP), type: "Internal" }, path: "spec.type", contains: "Unsupported value" },
  { name: "ExternalName without a name", spec: { type: "ExternalName" }, path: "spec.externalName", contains: "Required value" },
  { name: "ExternalName not a DNS name", spec: { type: "ExternalName", externalName: "Bad_Name" }, path: "spec.externalName", contains: "RFC 1123 subdomain" },
  { name: "ExternalName with a clusterIP", spec: { type: "ExternalName", externalName: "example.com", clusterIP: "10.0.0.1" }, path: "spec.clusterIP", contains: "must be empty for ExternalName" },
  { name: "clusterIP not an IP", spec: { ...ports(HTTP), clusterIP: "10.0.0" }, path: "spec.clusterIP", contains: "must be empty, 'None', or a valid IP address" },
  { name: "headless LoadBalancer", spec: { ...ports(HTTP), type: "LoadBalancer", clusterIP: "None" }, path: "spec.clusterIP", contains: "may not be set to 'None' for LoadBalancer" },
  { name: "selector value invalid", spec: { ports: [HTTP], selector: { app: "re views" } }, path: "spec.selector[app]", contains: "label value" },
  { name: "session affinity config without ClientIP", spec: { ...ports(HTTP), sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } } }, path: "spec.sessionAffinityConfig", contains: "must not be set" },
  { name: "unknown field", spec: { ...ports(HTTP), selectors: { app: "x" } }, path: "spec.selectors", contains: 'did you mean "selector"' },
  { name: "externalIP not an IP", spec: { ...ports(HTTP), type: "NodePort", externalIPs: ["nope"] }, path: "spec.externalIPs[0]", contains: "valid IP address" },
  { name: "externalTrafficPolicy on ClusterIP", spec: { ...ports(HTTP), externalTrafficPolicy: "Local" }, path: "spec.externalTrafficPolicy" },
];


const valid: TableCase[] = [
  { name: "bookinfo-versions' reviews-v1", spec: { ports: [HTTP], selector: { app: "reviews", version: "v1" } } },
  { name: "one unnamed port", spec: ports({ port: 80 }) },
  { name: "named and numeric target ports", spec: ports({ name: "http", port: 80, targetPort: "http-web" }, { name: "grpc", port: 90, targetPort: 9090, appProtocol: "grpc" }) },
  { name: "same port over TCP and UDP", spec: ports({ name: "dns-tcp", port: 53 }, { name: "dns", port: 53, protocol: "UDP" }) },
  { name: "no selector (endpoints elsewhere)", spec: { ports: [HTTP] } },
  { name: "headless without ports", spec: { clusterIP: "None", selector: { app: "db" } } },
  { name: "a clusterIP", spec: { ...ports(HTTP), clusterIP: "10.96.0.12" } },
  { name: "targetPort 0 means the port", spec: ports({ port: 80, targetPort: 0 }) },
  { name: "Kubernetes appProtocol names", spec: ports({ name: "web", port: 80, appProtocol: "kubernetes.io/h2c" }) },
];

kindTables("Service", { invalid, warnings: [], valid });


describe("Service metadata", () => {
  const svc = (name: string) => ({ apiVersion: "v1", kind: "Service", metadata: { name }, spec: { ports: [HTTP] } });
  for (const name of ["1reviews", "Reviews", "reviews.v1", "reviews-"]) {
    it(`${JSON.stringify(name)} is not a DNS-1035 label`, () => void assertError(svc(name), "metadata.name", "DNS-1035 label"));
  }
  it("a Service at another apiVersion is refused naming v1", () => void assertError({ ...svc("reviews"), apiVersion: "v2" }, "apiVersion", "served versions: v1"));
  for (const k of ["alpha.istio.io/kubernetes-serviceaccounts", "alpha.istio.io/canonical-serviceaccounts"]) {
    it(`Istio's ${k} annotation is reported as not enforced`, () => {
      const doc = { ...svc("reviews"), metadata: { name: "reviews", annotations: { [k]: "other-sa" } } };
      assertWarning(doc, `metadata.annotations[${k}]`, "not enforced yet");
    });
  }
  it("other annotations are not reported", () => void assertValid({ ...svc("reviews"), metadata: { name: "reviews", annotations: { "networking.istio.io/exportTo": "." } } }));
});

describe("IANA port names (a named targetPort)", () => {
  const cases: Array<[string, string | undefined]> = [
    ["http", undefined],
    ["http-alt", undefined],
    ["h2c", undefined],
    ["8080", "must contain at least one letter (a-z)"],
    ["http--x", "must not contain consecutive hyphens"],
    ["-http", "must not begin or end with a hyphen"],
    ["http_x", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"],
    ["abcdefghijklmnop", "must be no more than 15 characters"],
  ];
  for (const [name, want] of cases) it(`${name} → ${want ?? "valid"}`, () => assert.equal(checkIanaPortName(name), want));
});
