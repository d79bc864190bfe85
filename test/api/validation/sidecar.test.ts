// Table tests for Sidecar's semantic validation (Istio's ValidateSidecar and its helpers).
import { kindTables } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: object;
  path: string;
  contains?: string | RegExp;
}

const HTTP_PORT = { number: 9080, protocol: "HTTP", name: "http" };
const HTTPS_PORT = { number: 8443, protocol: "HTTPS", name: "https" };
const ingress = (...listeners: object[]) => ({ ingress: listeners });
const egress = (...listeners: object[]) => ({ egress: listeners });
const tlsIngress = (tls: object, port: object = HTTPS_PORT) => ingress({ port, defaultEndpoint: "127.0.0.1:8443", tls });
const CERTS = { serverCertificate: "/etc/certs/cert.pem", privateKey: "/etc/certs/key.pem" };
const proxy = (outboundTrafficPolicy: object) => ({ outboundTrafficPolicy });

const invalid: Case[] = [
  { name: "empty sidecar", spec: {}, path: "spec", contains: "empty Sidecar" },
  // ingress
  { name: "ingress port without number", spec: ingress({ port: { protocol: "HTTP", name: "http" } }), path: "spec.ingress[0].port.number", contains: "1..65535" },
  { name: "ingress port out of range", spec: ingress({ port: { number: 70000, protocol: "HTTP" } }), path: "spec.ingress[0].port.number", contains: "1..65535" },
  { name: "ingress duplicate ports", spec: ingress({ port: HTTP_PORT }, { port: { number: 9080, protocol: "TCP" } }), path: "spec.ingress[1].port.number", contains: "unique" },
  { name: "ingress port name invalid", spec: ingress({ port: { number: 80, name: "Bad_Name" } }), path: "spec.ingress[0].port.name", contains: "invalid port name" },
  { name: "ingress protocol unknown", spec: ingress({ port: { number: 80, protocol: "SMTP" } }), path: "spec.ingress[0].port.protocol", contains: "unsupported protocol" },
  { name: "ingress targetPort", spec: ingress({ port: { ...HTTP_PORT, targetPort: 8080 } }), path: "spec.ingress[0].port.targetPort", contains: "no effect" },
  { name: "ingress bind not an IP", spec: ingress({ port: HTTP_PORT, bind: "localhost" }), path: "spec.ingress[0].bind", contains: "not a valid IP" },
  { name: "defaultEndpoint to another host", spec: ingress({ port: HTTP_PORT, defaultEndpoint: "10.0.0.1:8080" }), path: "spec.ingress[0].defaultEndpoint", contains: "127.0.0.1:<port>" },
  { name: "defaultEndpoint without port", spec: ingress({ port: HTTP_PORT, defaultEndpoint: "127.0.0.1" }), path: "spec.ingress[0].defaultEndpoint", contains: "missing port" },
  { name: "defaultEndpoint port not a number", spec: ingress({ port: HTTP_PORT, defaultEndpoint: "127.0.0.1:http" }), path: "spec.ingress[0].defaultEndpoint", contains: "not a number" },
  { name: "defaultEndpoint port out of range", spec: ingress({ port: HTTP_PORT, defaultEndpoint: "0.0.0.0:99999" }), path: "spec.ingress[0].defaultEndpoint", contains: "1..65535" },
  { name: "defaultEndpoint unbracketed IPv6", spec: ingress({ port: HTTP_PORT, defaultEndpoint: "::1:8080" }), path: "spec.ingress[0].defaultEndpoint", contains: "brackets" },
  { name: "defaultEndpoint relative unix path", spec: ingress({ port: HTTP_PORT, defaultEndpoint: "unix://app.sock" }), path: "spec.ingress[0].defaultEndpoint", contains: "absolute path" },
  // ingress TLS
  { name: "TLS on an HTTP port", spec: tlsIngress({ mode: "SIMPLE", ...CERTS }, HTTP_PORT), path: "spec.ingress[0].tls", contains: "HTTPS or TLS port" },
  { name: "TLS mode ISTIO_MUTUAL", spec: tlsIngress({ mode: "ISTIO_MUTUAL" }), path: "spec.ingress[0].tls.mode", contains: "not allowed" },
  { name: "TLS credentialName", spec: tlsIngress({ mode: "SIMPLE", credentialName: "cert" }), path: "spec.ingress[0].tls.credentialName", contains: "not supported" },
  { name: "TLS subjectAltNames", spec: tlsIngress({ mode: "SIMPLE", ...CERTS, subjectAltNames: ["a"] }), path: "spec.ingress[0].tls.subjectAltNames" },
  { name: "TLS httpsRedirect", spec: tlsIngress({ mode: "SIMPLE", ...CERTS, httpsRedirect: true }), path: "spec.ingress[0].tls.httpsRedirect" },
  { name: "SIMPLE TLS without key", spec: tlsIngress({ mode: "SIMPLE", serverCertificate: "/c.pem" }), path: "spec.ingress[0].tls.privateKey", contains: "private key" },
  { name: "SIMPLE TLS without certificate", spec: tlsIngress({ mode: "SIMPLE", privateKey: "/k.pem" }), path: "spec.ingress[0].tls.serverCertificate", contains: "server certificate" },
  { name: "MUTUAL TLS without CA", spec: tlsIngress({ mode: "MUTUAL", ...CERTS }), path: "spec.ingress[0].tls.caCertificates", contains: "client CA bundle" },
  { name: "CRL with SIMPLE TLS", spec: tlsIngress({ mode: "SIMPLE", ...CERTS, caCrl: "/crl.pem" }), path: "spec.ingress[0].tls.caCrl", contains: "SIMPLE" },
  // connection pools
  { name: "ingress empty connection pool", spec: ingress({ port: HTTP_PORT, connectionPool: {} }), path: "spec.ingress[0].connectionPool", contains: "at least one" },
  { name: "inbound pool negative retries", spec: { inboundConnectionPool: { http: { maxRetries: -1 } } }, path: "spec.inboundConnectionPool.http.maxRetries", contains: "non-negative" },
  { name: "inbound pool sub-ms timeout", spec: { inboundConnectionPool: { tcp: { connectTimeout: "1.5ms" } } }, path: "spec.inboundConnectionPool.tcp.connectTimeout", contains: "ms precision" },
  // egress
  { name: "catch-all egress not last", spec: egress({ hosts: ["./*"] }, { port: HTTP_PORT, hosts: ["./*"] }), path: "spec.egress[0].port", contains: "last egress listener" },
  { name: "two catch-all egress listeners", spec: egress({ hosts: ["./*"] }, { hosts: ["istio-system/*"] }), path: "spec.egress[0].port" },
  { name: "egress without hosts", spec: egress({ hosts: [] }), path: "spec.egress[0].hosts", contains: "at least one host" },
  { name: "egress host without namespace", spec: egress({ hosts: ["reviews.default.svc.cluster.local"] }), path: "spec.egress[0].hosts[0]", contains: "namespace/dnsName" },
  { name: "egress short name", spec: egress({ hosts: ["./reviews"] }), path: "spec.egress[0].hosts[0]", contains: "short name" },
  { name: "egress invalid namespace", spec: egress({ hosts: ["Bad_NS/*"] }), path: "spec.egress[0].hosts[0]", contains: "invalid namespace" },
  { name: "egress empty namespace", spec: egress({ hosts: ["/*.example.com"] }), path: "spec.egress[0].hosts[0]", contains: "cannot be empty" },
  { name: "egress partial wildcard", spec: egress({ hosts: ["*/foo*.example.com"] }), path: "spec.egress[0].hosts[0]", contains: "partial wildcard" },
  { name: "egress invalid hostname", spec: egress({ hosts: ["./bad_host.example.com"] }), path: "spec.egress[0].hosts[0]", contains: "invalid" },
  { name: "egress port 0 without unix bind", spec: egress({ port: { protocol: "HTTP", name: "http" }, hosts: ["./*"] }), path: "spec.egress[0].port.number", contains: "unix domain socket" },
  { name: "egress unix socket with IPTABLES", spec: egress({ port: { protocol: "HTTP" }, bind: "unix:///var/run/out.sock", captureMode: "IPTABLES", hosts: ["./*"] }), path: "spec.egress[0].captureMode", contains: "DEFAULT or NONE" },
  { name: "egress relative unix socket", spec: egress({ port: { protocol: "HTTP" }, bind: "unix://out.sock", hosts: ["./*"] }), path: "spec.egress[0].bind", contains: "absolute path" },
  {
    name: "egress duplicate unix sockets",
    spec: egress({ port: { protocol: "HTTP" }, bind: "unix:///a.sock", hosts: ["./*"] }, { port: { protocol: "TCP" }, bind: "unix:///a.sock", hosts: ["./*"] }),
    path: "spec.egress[1].bind",
    contains: "already used",
  },
  { name: "egress duplicate ports", spec: egress({ port: HTTP_PORT, hosts: ["./*"] }, { port: HTTP_PORT, hosts: ["istio-system/*"] }), path: "spec.egress[1].port.number", contains: "unique" },
  { name: "egress port out of range", spec: egress({ port: { number: 65536 }, hosts: ["./*"] }), path: "spec.egress[0].port.number", contains: "1..65535" },
  { name: "egress bind not an IP", spec: egress({ port: HTTP_PORT, bind: "my-host", hosts: ["./*"] }), path: "spec.egress[0].bind", contains: "not a valid IP" },
  { name: "egress targetPort", spec: egress({ port: { ...HTTP_PORT, targetPort: 1 }, hosts: ["./*"] }), path: "spec.egress[0].port.targetPort" },
  { name: "egress protocol unknown", spec: egress({ port: { number: 80, protocol: "FTP" }, hosts: ["./*"] }), path: "spec.egress[0].port.protocol" },
  // outbound traffic policy
  { name: "egressProxy with REGISTRY_ONLY", spec: proxy({ mode: "REGISTRY_ONLY", egressProxy: { host: "proxy.example.com", port: { number: 3128 } } }), path: "spec.outboundTrafficPolicy.egressProxy", contains: "ALLOW_ANY" },
  { name: "egressProxy with unset mode", spec: proxy({ egressProxy: { host: "proxy.example.com", port: { number: 3128 } } }), path: "spec.outboundTrafficPolicy.egressProxy", contains: "ALLOW_ANY" },
  { name: "egressProxy invalid host", spec: proxy({ mode: "ALLOW_ANY", egressProxy: { host: "bad_host.example.com", port: { number: 3128 } } }), path: "spec.outboundTrafficPolicy.egressProxy.host" },
  { name: "egressProxy wildcard host", spec: proxy({ mode: "ALLOW_ANY", egressProxy: { host: "*.example.com", port: { number: 3128 } } }), path: "spec.outboundTrafficPolicy.egressProxy.host" },
  { name: "egressProxy without port", spec: proxy({ mode: "ALLOW_ANY", egressProxy: { host: "proxy.example.com" } }), path: "spec.outboundTrafficPolicy.egressProxy.port", contains: "required" },
  { name: "egressProxy port without number", spec: proxy({ mode: "ALLOW_ANY", egressProxy: { host: "proxy.example.com", port: {} } }), path: "spec.outboundTrafficPolicy.egressProxy.port.number" },
  { name: "egressProxy subset invalid", spec: proxy({ mode: "ALLOW_ANY", egressProxy: { host: "proxy.example.com", subset: "v_1", port: { number: 3128 } } }), path: "spec.outboundTrafficPolicy.egressProxy.subset" },
  // selector
  { name: "selector key invalid", spec: { workloadSelector: { labels: { "bad key": "a" } }, ...egress({ hosts: ["./*"] }) }, path: "spec.workloadSelector.labels[bad key]", contains: "label key" },
  { name: "selector key wildcard", spec: { workloadSelector: { labels: { "app*": "a" } }, ...egress({ hosts: ["./*"] }) }, path: "spec.workloadSelector.labels[app*]", contains: "wildcard" },
];

const warnings: Case[] = [
  { name: "selector without labels", spec: { workloadSelector: {}, ...egress({ hosts: ["./*"] }) }, path: "spec.workloadSelector.labels", contains: "no labels" },
  { name: "duplicate egress host", spec: egress({ hosts: ["./reviews.default.svc.cluster.local", "default/reviews.default.svc.cluster.local"] }), path: "spec.egress[0].hosts[1]", contains: "duplicate" },
  { name: "host after namespace wildcard", spec: egress({ hosts: ["istio-system/*", "istio-system/istiod.istio-system.svc.cluster.local"] }), path: "spec.egress[0].hosts[1]", contains: "duplicate" },
  { name: "*/* with other hosts", spec: egress({ hosts: ["*/*", "./*"] }), path: "spec.egress[0].hosts", contains: "*/*" },
  { name: "HTTP pool on a TCP port", spec: ingress({ port: { number: 3306, protocol: "TCP" }, connectionPool: { http: { maxRetries: 3 } } }), path: "spec.ingress[0].connectionPool.http", contains: "only the TCP settings" },
  { name: "old TLS without ciphers", spec: tlsIngress({ mode: "SIMPLE", ...CERTS, minProtocolVersion: "TLSV1_0" }), path: "spec.ingress[0].tls.minProtocolVersion", contains: "cipherSuites" },
  { name: "PASSTHROUGH with certificates", spec: tlsIngress({ mode: "PASSTHROUGH", ...CERTS }), path: "spec.ingress[0].tls", contains: "ignored" },
];

const valid: { name: string; spec: object }[] = [
  { name: "namespace default egress", spec: egress({ hosts: ["./*", "istio-system/*"] }) },
  { name: "any-namespace wildcard", spec: egress({ hosts: ["*/*.example.com", "~/*"] }) },
  {
    name: "ingress listeners",
    spec: ingress(
      { port: HTTP_PORT, defaultEndpoint: "127.0.0.1:8080" },
      { port: { number: 9090, protocol: "GRPC", name: "grpc" }, defaultEndpoint: "unix:///var/run/app.sock", captureMode: "NONE" },
      { port: { number: 9091, protocol: "TCP" }, defaultEndpoint: "[::1]:9091", bind: "0.0.0.0" },
      { port: { number: 9092, protocol: "HTTP" }, defaultEndpoint: ":9092" },
      { port: { number: 9093, protocol: "HTTP" }, defaultEndpoint: "0.0.0.0:9093", connectionPool: { http: { http1MaxPendingRequests: 100 }, tcp: { maxConnections: 10 } } },
    ),
  },
  {
    name: "egress with ports, unix socket and catch-all",
    spec: egress(
      { port: { number: 3306, protocol: "MYSQL", name: "mysql" }, bind: "127.0.0.1", captureMode: "NONE", hosts: ["*/mysql.foo.com"] },
      { port: { protocol: "HTTP", name: "uds" }, bind: "unix:///var/run/egress.sock", captureMode: "NONE", hosts: ["./*"] },
      { hosts: ["istio-system/*", "./*"] },
    ),
  },
  { name: "SIMPLE TLS ingress", spec: tlsIngress({ mode: "SIMPLE", ...CERTS }) },
  { name: "MUTUAL TLS ingress", spec: tlsIngress({ mode: "MUTUAL", ...CERTS, caCertificates: "/ca.pem", caCrl: "/crl.pem" }) },
  { name: "egress proxy", spec: proxy({ mode: "ALLOW_ANY", egressProxy: { host: "egress-proxy.istio-system.svc.cluster.local", subset: "v1", port: { number: 3128 } } }) },
  { name: "registry only", spec: proxy({ mode: "REGISTRY_ONLY" }) },
  { name: "inbound connection pool only", spec: { inboundConnectionPool: { http: { http1MaxPendingRequests: 1024, idleTimeout: "30s" }, tcp: { idleTimeout: "0s" } } } },
  { name: "selected workloads", spec: { workloadSelector: { labels: { app: "ratings" } }, ...egress({ hosts: ["./*"] }) } },
];

kindTables("Sidecar", { invalid, warnings, valid });
