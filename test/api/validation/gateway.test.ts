// Gateway semantic validation (Istio's ValidateGateway / validateServer / validateTLSOptions), as table tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertError, assertValid, assertWarning, resource } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: Record<string, unknown>;
  path: string;
  contains?: string | RegExp;
  /** Overrides metadata.name (default "test"). */
  metadataName?: string;
}

type Server = Record<string, unknown>;
const http = (extra: Server = {}): Server => ({ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"], ...extra });
const https = (tls: Record<string, unknown> | undefined, extra: Server = {}): Server => ({
  port: { number: 443, name: "https", protocol: "HTTPS" },
  hosts: ["app.example.com"],
  ...(tls ? { tls } : {}),
  ...extra,
});
const gw = (...servers: Server[]) => ({ selector: { istio: "ingressgateway" }, servers });
const withHosts = (...hosts: string[]) => gw(http({ hosts }));
const withPort = (port: Record<string, unknown>, extra: Server = {}) => gw({ port: { number: 80, name: "http", protocol: "HTTP", ...port }, hosts: ["*"], ...extra });

const invalid: Case[] = [
  { name: "gateway name with dots", spec: gw(http()), metadataName: "my.gateway", path: "metadata.name", contains: "no dots" },
  { name: "no servers", spec: { selector: { istio: "ingressgateway" }, servers: [] }, path: "spec.servers", contains: "at least one server" },
  { name: "servers missing", spec: { selector: { istio: "ingressgateway" } }, path: "spec.servers" },
  // hosts
  { name: "no hosts", spec: withHosts(), path: "spec.servers[0].hosts", contains: "at least one host" },
  { name: "short host name", spec: withHosts("foo"), path: "spec.servers[0].hosts[0]", contains: "short name" },
  { name: "short host name in namespace form", spec: withHosts("ns/foo"), path: "spec.servers[0].hosts[0]", contains: "short name" },
  { name: "invalid namespace", spec: withHosts("Bad_ns/foo.com"), path: "spec.servers[0].hosts[0]", contains: "invalid namespace" },
  { name: "tilde namespace", spec: withHosts("~/foo.com"), path: "spec.servers[0].hosts[0]", contains: "invalid namespace" },
  { name: "empty namespace", spec: withHosts("/foo.com"), path: "spec.servers[0].hosts[0]", contains: "cannot be empty" },
  { name: "empty dnsName", spec: withHosts("ns/"), path: "spec.servers[0].hosts[0]", contains: "cannot be empty" },
  { name: "partial wildcard", spec: withHosts("*foo.example.com"), path: "spec.servers[0].hosts[0]", contains: "partial wildcard" },
  { name: "wildcard in the middle", spec: withHosts("ns/foo.*.com"), path: "spec.servers[0].hosts[0]" },
  { name: "invalid domain", spec: withHosts("ns/foo..example.com"), path: "spec.servers[0].hosts[0]" },
  { name: "bad host among good ones", spec: withHosts("a.example.com", "b_c.example.com"), path: "spec.servers[0].hosts[1]" },
  // ports
  { name: "unknown protocol", spec: withPort({ protocol: "FOO" }), path: "spec.servers[0].port.protocol", contains: "unsupported protocol" },
  { name: "port zero", spec: withPort({ number: 0 }), path: "spec.servers[0].port.number", contains: "1..65535" },
  { name: "port too large", spec: withPort({ number: 70000 }), path: "spec.servers[0].port.number" },
  { name: "targetPort", spec: withPort({ targetPort: 8080 }), path: "spec.servers[0].port.targetPort", contains: "no effect" },
  { name: "empty port name", spec: withPort({ name: "" }), path: "spec.servers[0].port.name", contains: "must be set" },
  { name: "duplicate port names", spec: gw(http(), http({ port: { number: 8080, name: "http", protocol: "HTTP" } })), path: "spec.servers[1].port.name", contains: "unique" },
  // bind
  { name: "bind not an IP", spec: gw(http({ bind: "localhost" })), path: "spec.servers[0].bind", contains: "not a valid IP" },
  { name: "bind unix relative path", spec: withPort({ number: 0 }, { bind: "unix://var/run/gw.sock" }), path: "spec.servers[0].bind", contains: "absolute path" },
  { name: "bind unix directory", spec: withPort({ number: 0 }, { bind: "unix:///var/run/" }), path: "spec.servers[0].bind" },
  { name: "bind unix empty", spec: withPort({ number: 0 }, { bind: "unix://" }), path: "spec.servers[0].bind", contains: "empty" },
  { name: "bind unix with port", spec: withPort({ number: 80 }, { bind: "unix:///var/run/gw.sock" }), path: "spec.servers[0].port.number", contains: "must be 0" },
  // protocol vs tls
  { name: "HTTPS without tls", spec: gw(https(undefined)), path: "spec.servers[0].tls", contains: "needs tls settings" },
  { name: "TLS without tls", spec: gw({ port: { number: 443, name: "tls", protocol: "TLS" }, hosts: ["a.example.com"] }), path: "spec.servers[0].tls" },
  { name: "HTTP with SIMPLE tls", spec: gw(http({ tls: { mode: "SIMPLE", credentialName: "cert" } })), path: "spec.servers[0].tls", contains: "plain-text" },
  { name: "HTTP with certificate", spec: gw(http({ tls: { httpsRedirect: true, serverCertificate: "/c.pem" } })), path: "spec.servers[0].tls" },
  { name: "TCP with tls", spec: gw({ port: { number: 31400, name: "tcp", protocol: "TCP" }, hosts: ["*"], tls: { mode: "PASSTHROUGH" } }), path: "spec.servers[0].tls", contains: "protocol TLS or HTTPS" },
  // TLS options
  { name: "SIMPLE without certificate", spec: gw(https({ mode: "SIMPLE" })), path: "spec.servers[0].tls.serverCertificate", contains: "server certificate" },
  { name: "SIMPLE without private key", spec: gw(https({ mode: "SIMPLE", serverCertificate: "/c.pem" })), path: "spec.servers[0].tls.privateKey", contains: "private key" },
  { name: "MUTUAL without CA", spec: gw(https({ mode: "MUTUAL", serverCertificate: "/c.pem", privateKey: "/k.pem" })), path: "spec.servers[0].tls.caCertificates", contains: "client CA" },
  { name: "OPTIONAL_MUTUAL without CA", spec: gw(https({ mode: "OPTIONAL_MUTUAL", serverCertificate: "/c.pem", privateKey: "/k.pem" })), path: "spec.servers[0].tls.caCertificates" },
  { name: "MUTUAL without certificate", spec: gw(https({ mode: "MUTUAL", caCertificates: "/ca.pem" })), path: "spec.servers[0].tls.serverCertificate" },
  { name: "tlsCertificates entry without key", spec: gw(https({ mode: "SIMPLE", tlsCertificates: [{ serverCertificate: "/a.pem", privateKey: "/a.key" }, { serverCertificate: "/b.pem" }] })), path: "spec.servers[0].tls.tlsCertificates[1].privateKey" },
  { name: "two certificate sources", spec: gw(https({ mode: "SIMPLE", credentialName: "cert", serverCertificate: "/c.pem", privateKey: "/k.pem" })), path: "spec.servers[0].tls", contains: "only one certificate source" },
  { name: "ISTIO_MUTUAL with credentialName", spec: gw(https({ mode: "ISTIO_MUTUAL", credentialName: "cert" })), path: "spec.servers[0].tls.credentialName", contains: "ISTIO_MUTUAL" },
  { name: "ISTIO_MUTUAL with certificate", spec: gw(https({ mode: "ISTIO_MUTUAL", serverCertificate: "/c.pem" })), path: "spec.servers[0].tls.serverCertificate" },
  { name: "ISTIO_MUTUAL with CA", spec: gw(https({ mode: "ISTIO_MUTUAL", caCertificates: "/ca.pem" })), path: "spec.servers[0].tls.caCertificates" },
  { name: "ISTIO_MUTUAL with credentialNames", spec: gw(https({ mode: "ISTIO_MUTUAL", credentialNames: ["a"] })), path: "spec.servers[0].tls.credentialNames" },
  { name: "CRL with SIMPLE", spec: gw(https({ mode: "SIMPLE", serverCertificate: "/c.pem", privateKey: "/k.pem", caCrl: "/crl.pem" })), path: "spec.servers[0].tls.caCrl", contains: "SIMPLE" },
  { name: "CRL with credentialName", spec: gw(https({ mode: "PASSTHROUGH", credentialName: "cert", caCrl: "/crl.pem" })), path: "spec.servers[0].tls.caCrl", contains: "credentialName" },
];

const valid: Array<{ name: string; spec: Record<string, unknown> }> = [
  { name: "plain HTTP", spec: gw(http()) },
  { name: "no selector", spec: { servers: [http()] } },
  { name: "host forms", spec: withHosts("*", "*/*", "./a.example.com", "ns/*.example.com", "b.example.com", "*.c.example.com", "1.2.3.4") },
  { name: "protocol in lower case", spec: withPort({ protocol: "http2" }) },
  { name: "HTTPS with credentialName", spec: gw(https({ mode: "SIMPLE", credentialName: "app-cert" })) },
  { name: "HTTPS with credentialNames", spec: gw(https({ mode: "SIMPLE", credentialNames: ["rsa-cert", "ecdsa-cert"] })) },
  { name: "HTTPS with files", spec: gw(https({ mode: "SIMPLE", serverCertificate: "/etc/certs/c.pem", privateKey: "/etc/certs/k.pem" })) },
  { name: "HTTPS with tlsCertificates", spec: gw(https({ mode: "SIMPLE", tlsCertificates: [{ serverCertificate: "/a.pem", privateKey: "/a.key" }, { serverCertificate: "/b.pem", privateKey: "/b.key" }] })) },
  { name: "MUTUAL with credentialName", spec: gw(https({ mode: "MUTUAL", credentialName: "app-cert" })) },
  { name: "MUTUAL with files", spec: gw(https({ mode: "MUTUAL", serverCertificate: "/c.pem", privateKey: "/k.pem", caCertificates: "/ca.pem", caCrl: "/crl.pem" })) },
  { name: "OPTIONAL_MUTUAL with credentialName", spec: gw(https({ mode: "OPTIONAL_MUTUAL", credentialName: "app-cert" })) },
  { name: "ISTIO_MUTUAL", spec: gw({ port: { number: 15443, name: "tls", protocol: "TLS" }, hosts: ["*.local"], tls: { mode: "ISTIO_MUTUAL" } }) },
  { name: "PASSTHROUGH", spec: gw({ port: { number: 443, name: "tls", protocol: "TLS" }, hosts: ["a.example.com"], tls: { mode: "PASSTHROUGH" } }) },
  { name: "AUTO_PASSTHROUGH", spec: gw({ port: { number: 15443, name: "tls", protocol: "TLS" }, hosts: ["*.local"], tls: { mode: "AUTO_PASSTHROUGH" } }) },
  { name: "HTTPS tls without mode (passthrough)", spec: gw(https({})) },
  { name: "HTTP with httpsRedirect", spec: gw(http({ tls: { httpsRedirect: true } }), https({ mode: "SIMPLE", credentialName: "c" })) },
  { name: "TCP server", spec: gw({ port: { number: 31400, name: "tcp", protocol: "TCP" }, hosts: ["*"] }) },
  { name: "bind to IP", spec: gw(http({ bind: "0.0.0.0" }), http({ bind: "::1", port: { number: 80, name: "http6", protocol: "HTTP" } })) },
  { name: "bind to unix socket", spec: withPort({ number: 0 }, { bind: "unix:///var/run/gw.sock" }) },
  { name: "bind to abstract unix socket", spec: withPort({ number: 0 }, { bind: "unix://@gw" }) },
  { name: "ciphers and versions", spec: gw(https({ mode: "SIMPLE", credentialName: "c", minProtocolVersion: "TLSV1_2", maxProtocolVersion: "TLSV1_3", cipherSuites: ["ECDHE-RSA-AES128-GCM-SHA256", "-AES128-SHA", "ALL"] })) },
  { name: "old TLS with ciphers", spec: gw(https({ mode: "SIMPLE", credentialName: "c", minProtocolVersion: "TLSV1_0", cipherSuites: ["AES128-SHA"] })) },
  { name: "distinct server names", spec: gw(http({ name: "a" }), http({ name: "b", port: { number: 81, name: "http-81", protocol: "HTTP" } })) },
];

const warnings: Case[] = [
  { name: "httpsRedirect on HTTPS", spec: gw(https({ mode: "SIMPLE", credentialName: "c", httpsRedirect: true })), path: "spec.servers[0].tls.httpsRedirect", contains: "HTTP servers" },
  { name: "certificates with PASSTHROUGH", spec: gw(https({ mode: "PASSTHROUGH", credentialName: "c" })), path: "spec.servers[0].tls", contains: "ignored" },
  { name: "certificates with AUTO_PASSTHROUGH", spec: gw({ port: { number: 15443, name: "tls", protocol: "TLS" }, hosts: ["*.local"], tls: { mode: "AUTO_PASSTHROUGH", caCrl: "/crl.pem" } }), path: "spec.servers[0].tls" },
  { name: "unknown cipher", spec: gw(https({ mode: "SIMPLE", credentialName: "c", cipherSuites: ["TLS_FOO"] })), path: "spec.servers[0].tls.cipherSuites[0]", contains: "unknown cipher" },
  { name: "duplicate cipher", spec: gw(https({ mode: "SIMPLE", credentialName: "c", cipherSuites: ["AES128-SHA", "AES128-SHA"] })), path: "spec.servers[0].tls.cipherSuites[1]", contains: "duplicate" },
  { name: "old TLS without ciphers", spec: gw(https({ mode: "SIMPLE", credentialName: "c", minProtocolVersion: "TLSV1_1" })), path: "spec.servers[0].tls.minProtocolVersion", contains: "cipherSuites" },
  { name: "min above max", spec: gw(https({ mode: "SIMPLE", credentialName: "c", minProtocolVersion: "TLSV1_3", maxProtocolVersion: "TLSV1_2" })), path: "spec.servers[0].tls.minProtocolVersion", contains: "above" },
  { name: "duplicate server names", spec: gw(http({ name: "a" }), http({ name: "a", port: { number: 81, name: "http-81", protocol: "HTTP" } })), path: "spec.servers[1].name", contains: "unique" },
  { name: "CRL ignored with credentialName", spec: gw(https({ mode: "MUTUAL", credentialName: "cert", caCrl: "/crl.pem" })), path: "spec.servers[0].tls.caCrl", contains: "ignored" },
  { name: "selector label that cannot match", spec: { selector: { "bad key!": "x" }, servers: [http()] }, path: "spec.selector[bad key!]", contains: "never match" },
];

function gatewayResource(c: { spec: Record<string, unknown>; metadataName?: string }): object {
  const r = resource("Gateway", c.spec) as { metadata: Record<string, unknown> };
  if (c.metadataName !== undefined) r.metadata = { ...r.metadata, name: c.metadataName };
  return r;
}

for (const c of invalid) {
  test(`Gateway invalid: ${c.name}`, () => {
    const d = assertError(gatewayResource(c), c.path, c.contains);
    assert.ok(
      d.some((x) => x.path === c.path && x.severity === "error" && !x.code.startsWith("TSMESH_SCHEMA")),
      `expected Istio's semantic rules (not the CRD schema) to report ${c.path}`,
    );
  });
}

for (const c of valid) {
  test(`Gateway valid: ${c.name}`, () => {
    const d = assertValid(gatewayResource(c));
    assert.deepEqual(d, [], "expected no warnings either");
  });
}

for (const c of warnings) {
  test(`Gateway warning: ${c.name}`, () => {
    assertWarning(gatewayResource(c), c.path, c.contains);
  });
}
