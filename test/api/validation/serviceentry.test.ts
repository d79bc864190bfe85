// Table tests for ServiceEntry's semantic validation (Istio's ValidateServiceEntry).
import { it } from "node:test";
import { assertWarning, resource, kindTables } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: object;
  path: string;
  contains?: string | RegExp;
}

const HTTP = [{ name: "http", number: 80, protocol: "HTTP" }];
const HTTPS = [{ name: "https", number: 443, protocol: "HTTPS" }];
const se = (spec: object) => ({ hosts: ["api.example.com"], ports: HTTP, ...spec });

const invalid: Case[] = [
  // hosts and addresses
  { name: "host with invalid characters", spec: se({ hosts: ["bad_host.example.com"] }), path: "spec.hosts[0]", contains: "invalid" },
  { name: "wildcard not in first label", spec: se({ hosts: ["api.*.example.com"] }), path: "spec.hosts[0]", contains: "label" },
  { name: "second host invalid", spec: se({ hosts: ["a.example.com", "b..example.com"] }), path: "spec.hosts[1]" },
  { name: "CIDR prefix too long", spec: se({ addresses: ["1.2.3.4/99"] }), path: "spec.addresses[0]", contains: "CIDR" },
  { name: "address not an IP", spec: se({ addresses: ["example.com"] }), path: "spec.addresses[0]", contains: "not a valid IP" },
  // ports
  { name: "port name not a DNS label", spec: se({ ports: [{ name: "Bad_Name", number: 80, protocol: "HTTP" }] }), path: "spec.ports[0].name", contains: "invalid port name" },
  { name: "unknown protocol", spec: se({ ports: [{ name: "p", number: 80, protocol: "FTP" }] }), path: "spec.ports[0].protocol", contains: "unsupported protocol" },
  {
    name: "several hosts with a TCP port",
    spec: { hosts: ["a.example.com", "b.example.com"], ports: [{ name: "tcp", number: 9000, protocol: "TCP" }], resolution: "DNS" },
    path: "spec.ports[0].protocol",
    contains: "HTTP or TLS",
  },
  {
    name: "several hosts with an unset protocol",
    spec: { hosts: ["a.example.com", "b.example.com"], ports: [...HTTPS, { name: "db", number: 5432 }], resolution: "STATIC", endpoints: [{ address: "10.0.0.1" }] },
    path: "spec.ports[1].protocol",
  },
  // STATIC endpoints
  { name: "STATIC endpoint hostname", spec: se({ resolution: "STATIC", endpoints: [{ address: "db.example.com" }] }), path: "spec.endpoints[0].address", contains: "not a valid IP" },
  {
    name: "STATIC endpoint port not declared",
    spec: se({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1", ports: { grpc: 9090 } }] }),
    path: "spec.endpoints[0].ports[grpc]",
    contains: "not a port name of the service entry",
  },
  {
    name: "STATIC endpoint label invalid",
    spec: se({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1", labels: { version: "v 1" } }] }),
    path: "spec.endpoints[0].labels",
    contains: "label value",
  },
  {
    name: "STATIC unix endpoint with two service ports",
    spec: se({ resolution: "STATIC", ports: [...HTTP, ...HTTPS], endpoints: [{ address: "unix:///var/run/app.sock" }] }),
    path: "spec.endpoints[0].address",
    contains: "exactly one service port",
  },
  { name: "STATIC endpoint with empty address", spec: se({ resolution: "STATIC", endpoints: [{ address: "" }] }), path: "spec.endpoints[0].address", contains: "address is required" },
  // DNS
  { name: "DNS wildcard host without endpoints", spec: se({ hosts: ["*.example.com"], resolution: "DNS" }), path: "spec.hosts[0]", contains: "must be FQDNs" },
  { name: "DNS_ROUND_ROBIN wildcard host", spec: se({ hosts: ["*.example.com"], resolution: "DNS_ROUND_ROBIN" }), path: "spec.hosts[0]", contains: "DNS_ROUND_ROBIN" },
  { name: "DNS endpoint invalid hostname", spec: se({ resolution: "DNS", endpoints: [{ address: "bad_host!" }] }), path: "spec.endpoints[0].address", contains: "FQDN or IP" },
  { name: "DNS endpoint unix socket", spec: se({ resolution: "DNS", endpoints: [{ address: "unix:///var/run/a.sock" }] }), path: "spec.endpoints[0].address", contains: "STATIC" },
  { name: "DNS endpoint port not declared", spec: se({ resolution: "DNS", endpoints: [{ address: "a.example.com", ports: { admin: 9000 } }] }), path: "spec.endpoints[0].ports[admin]" },
  // selector and exportTo
  { name: "selector key with wildcard", spec: se({ location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: { labels: { "app*": "x" } } }), path: "spec.workloadSelector.labels[app*]", contains: "wildcard" },
  { name: "selector key invalid", spec: se({ location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: { labels: { "bad key": "x" } } }), path: "spec.workloadSelector.labels[bad key]", contains: "label key" },
  { name: "exportTo duplicate", spec: se({ exportTo: ["a", "a"] }), path: "spec.exportTo[1]", contains: "duplicate" },
  { name: "exportTo ~ with others", spec: se({ exportTo: ["~", "."] }), path: "spec.exportTo", contains: "nobody" },
  { name: "exportTo * with others", spec: se({ exportTo: ["*", "."] }), path: "spec.exportTo", contains: "everyone" },
  { name: "exportTo invalid namespace", spec: se({ exportTo: ["-bad"] }), path: "spec.exportTo[0]" },
];

const warnings: Case[] = [
  { name: "partial wildcard host", spec: se({ hosts: ["*x"] }), path: "spec.hosts[0]", contains: "partial wildcard" },
  { name: "selector with resolution NONE", spec: se({ location: "MESH_INTERNAL", workloadSelector: { labels: { app: "a" } } }), path: "spec.workloadSelector", contains: "resolution NONE" },
  { name: "selector on external service", spec: se({ location: "MESH_EXTERNAL", resolution: "STATIC", workloadSelector: { labels: { app: "a" } } }), path: "spec.workloadSelector", contains: "MESH_INTERNAL" },
  { name: "selector without labels", spec: se({ location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: {} }), path: "spec.workloadSelector.labels", contains: "no labels" },
  { name: "STATIC without endpoints", spec: se({ resolution: "STATIC" }), path: "spec.endpoints", contains: "no endpoints" },
  {
    name: "addresses, TLS port and several hosts",
    spec: { hosts: ["a.example.com", "b.example.com"], addresses: ["10.0.0.1"], ports: HTTPS, resolution: "DNS" },
    path: "spec.ports[0]",
    contains: "single host",
  },
  { name: "DYNAMIC_DNS with endpoints", spec: se({ hosts: ["*.example.com"], resolution: "DYNAMIC_DNS", endpoints: [{ address: "a.example.com" }] }), path: "spec.endpoints", contains: "ignored" },
  { name: "empty subject alt name", spec: se({ subjectAltNames: [""] }), path: "spec.subjectAltNames[0]", contains: "empty" },
  { name: "unset network address", spec: se({ resolution: "STATIC", endpoints: [{ network: "net2" }] }), path: "spec.endpoints[0].address", contains: "net2" },
  { name: "endpoint locality malformed", spec: se({ resolution: "STATIC", endpoints: [{ address: "10.0.0.1", locality: "us-east//a" }] }), path: "spec.endpoints[0].locality", contains: "empty" },
];

const valid: { name: string; spec: object }[] = [
  { name: "external HTTPS API", spec: { hosts: ["api.example.com"], ports: HTTPS, location: "MESH_EXTERNAL", resolution: "DNS" } },
  { name: "wildcard host with NONE", spec: { hosts: ["*.example.com"], ports: HTTPS, resolution: "NONE" } },
  { name: "CIDR with NONE", spec: { hosts: ["db.internal"], addresses: ["10.0.0.0/16", "2001:db8::/32"], ports: [{ name: "tcp", number: 5432, protocol: "TCP" }] } },
  {
    name: "STATIC endpoints with matching ports",
    spec: se({ resolution: "STATIC", ports: [...HTTP, ...HTTPS], endpoints: [{ address: "10.0.0.1", ports: { http: 8080 }, labels: { version: "v1" } }, { address: "2001:db8::1" }] }),
  },
  { name: "STATIC unix endpoint", spec: se({ resolution: "STATIC", endpoints: [{ address: "unix:///var/run/app.sock" }] }) },
  { name: "STATIC abstract unix endpoint", spec: se({ resolution: "STATIC", endpoints: [{ address: "unix://@app" }] }) },
  { name: "DNS endpoints by hostname", spec: se({ resolution: "DNS", endpoints: [{ address: "a.example.com", ports: { http: 8080 } }, { address: "10.0.0.2" }] }) },
  { name: "DNS_ROUND_ROBIN single endpoint", spec: se({ resolution: "DNS_ROUND_ROBIN", endpoints: [{ address: "a.example.com" }] }) },
  { name: "DYNAMIC_DNS wildcard", spec: { hosts: ["*.wikipedia.org"], ports: HTTPS, resolution: "DYNAMIC_DNS", location: "MESH_EXTERNAL" } },
  { name: "several hosts with HTTP and TLS ports", spec: { hosts: ["a.example.com", "b.example.com"], ports: [...HTTP, ...HTTPS, { name: "grpc", number: 9090, protocol: "GRPC" }], resolution: "DNS" } },
  { name: "several hosts with TCP and resolution NONE", spec: { hosts: ["a.example.com", "b.example.com"], ports: [{ name: "tcp", number: 9000, protocol: "TCP" }] } },
  { name: "mesh-internal workloads by selector", spec: se({ location: "MESH_INTERNAL", resolution: "STATIC", workloadSelector: { labels: { app: "vm-app" } } }) },
  { name: "exported to nobody", spec: se({ exportTo: ["~"] }) },
  { name: "exported to namespaces", spec: se({ exportTo: [".", "istio-system"] }) },
  { name: "subject alt names", spec: se({ subjectAltNames: ["spiffe://cluster.local/ns/default/sa/api"] }) },
  { name: "lower-case protocol", spec: se({ ports: [{ name: "http", number: 80, protocol: "http" }] }) },
];

kindTables("ServiceEntry", { invalid, warnings, valid }, () => {
  it("TCP port without addresses when auto-allocation is off", () => {
    const r = resource("ServiceEntry", { hosts: ["db.example.com"], ports: [{ name: "tcp", number: 5432, protocol: "TCP" }], resolution: "DNS" }) as {
      metadata: Record<string, unknown>;
    };
    r.metadata.labels = { "networking.istio.io/enable-autoallocate-ip": "false" };
    assertWarning(r, "spec.ports[0]", "auto-allocation");
  });
});
