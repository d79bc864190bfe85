// Table tests for WorkloadEntry and WorkloadGroup semantic validation (Istio's ValidateWorkloadEntry,
// ValidateWorkloadGroup).
import { describe, it } from "node:test";
import { assertError, assertValid, assertWarning, resource } from "../../helpers/validate.js";

interface Case {
  kind: "WorkloadEntry" | "WorkloadGroup";
  name: string;
  spec: object;
  path: string;
  contains?: string | RegExp;
}

const we = (spec: object) => ({ address: "10.0.0.1", ...spec });
const wg = (spec: object) => ({ template: { serviceAccount: "vm", network: "vm-net" }, ...spec });

const invalid: Case[] = [
  // WorkloadEntry
  { kind: "WorkloadEntry", name: "empty address without network", spec: { address: "" }, path: "spec.address", contains: "address is required" },
  { kind: "WorkloadEntry", name: "address neither IP nor hostname", spec: we({ address: "bad_host!" }), path: "spec.address", contains: "not a valid FQDN or IP" },
  { kind: "WorkloadEntry", name: "numeric top-level domain", spec: we({ address: "10.0.0.300" }), path: "spec.address", contains: "FQDN" },
  { kind: "WorkloadEntry", name: "hostname label too long", spec: we({ address: `${"a".repeat(64)}.example.com` }), path: "spec.address" },
  { kind: "WorkloadEntry", name: "label key invalid", spec: we({ labels: { "-app": "a" } }), path: "spec.labels", contains: "label key" },
  { kind: "WorkloadEntry", name: "label value invalid", spec: we({ labels: { app: "a b" } }), path: "spec.labels", contains: "label value" },
  // WorkloadGroup
  { kind: "WorkloadGroup", name: "metadata label invalid", spec: wg({ metadata: { labels: { app: "-x" } } }), path: "spec.metadata.labels", contains: "invalid labels" },
  { kind: "WorkloadGroup", name: "template label invalid", spec: wg({ template: { labels: { "a b": "x" } } }), path: "spec.template.labels", contains: "invalid labels" },
  { kind: "WorkloadGroup", name: "probe without a method", spec: wg({ probe: { periodSeconds: 5 } }), path: "spec.probe", contains: "health check method" },
  { kind: "WorkloadGroup", name: "exec probe without command", spec: wg({ probe: { exec: { command: [] } } }), path: "spec.probe.exec.command", contains: "exec.command is required" },
];

const warnings: Case[] = [
  { kind: "WorkloadEntry", name: "address unset with network", spec: { network: "vm-net" }, path: "spec.address", contains: "vm-net" },
  { kind: "WorkloadEntry", name: "locality with empty zone", spec: we({ locality: "us-east//rack1" }), path: "spec.locality", contains: "region/zone/subzone" },
  { kind: "WorkloadEntry", name: "locality too deep", spec: we({ locality: "a/b/c/d" }), path: "spec.locality", contains: "more than" },
  { kind: "WorkloadEntry", name: "service account not a k8s name", spec: we({ serviceAccount: "Bad_SA" }), path: "spec.serviceAccount", contains: "Kubernetes name" },
  { kind: "WorkloadGroup", name: "probe timeout longer than period", spec: wg({ probe: { tcpSocket: { port: 80 }, periodSeconds: 5, timeoutSeconds: 10 } }), path: "spec.probe.timeoutSeconds", contains: "periodSeconds" },
];

const valid: { kind: "WorkloadEntry" | "WorkloadGroup"; name: string; spec: object }[] = [
  { kind: "WorkloadEntry", name: "IPv4 address with ports and labels", spec: we({ ports: { http: 8080, "grpc-web": 9090 }, labels: { app: "vm", version: "v1" }, serviceAccount: "vm-sa", locality: "us-east/us-east-1a/rack1", weight: 10 }) },
  { kind: "WorkloadEntry", name: "IPv6 address", spec: { address: "2001:db8::10" } },
  { kind: "WorkloadEntry", name: "hostname address", spec: { address: "vm1.example.com" } },
  { kind: "WorkloadEntry", name: "unix socket", spec: { address: "unix:///var/run/app.sock" } },
  { kind: "WorkloadEntry", name: "abstract unix socket", spec: { address: "unix://@app" } },
  { kind: "WorkloadEntry", name: "region-only locality", spec: we({ locality: "us-east" }) },
  { kind: "WorkloadGroup", name: "template only", spec: wg({}) },
  { kind: "WorkloadGroup", name: "metadata and http probe", spec: wg({ metadata: { labels: { app: "vm" }, annotations: { a: "b" } }, probe: { httpGet: { port: 8080, path: "/ready", scheme: "HTTPS", httpHeaders: [{ name: "x-probe", value: "1" }] } } }) },
  { kind: "WorkloadGroup", name: "tcp probe", spec: wg({ probe: { tcpSocket: { port: 3306 }, periodSeconds: 10, timeoutSeconds: 2 } }) },
  { kind: "WorkloadGroup", name: "exec probe", spec: wg({ probe: { exec: { command: ["/bin/check", "--ready"] } } }) },
  { kind: "WorkloadGroup", name: "grpc probe", spec: wg({ probe: { grpc: { port: 9090, service: "health" } } }) },
];

describe("WorkloadEntry / WorkloadGroup semantic validation", () => {
  describe("rejects", () => {
    for (const c of invalid)
      it(`${c.kind}: ${c.name}`, () => {
        assertError(resource(c.kind, c.spec), c.path, c.contains);
      });
  });
  describe("warns", () => {
    for (const c of warnings)
      it(`${c.kind}: ${c.name}`, () => {
        assertWarning(resource(c.kind, c.spec), c.path, c.contains);
      });
  });
  describe("accepts", () => {
    for (const c of valid)
      it(`${c.kind}: ${c.name}`, () => {
        assertValid(resource(c.kind, c.spec));
      });
  });
});
