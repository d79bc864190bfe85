// Table tests for DestinationRule's semantic validation (Istio's ValidateDestinationRule and friends).
import { kindTables } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: object;
  path: string;
  contains?: string | RegExp;
}

const HOST = "reviews.default.svc.cluster.local";
const tp = (trafficPolicy: object) => ({ host: HOST, trafficPolicy });
const lb = (loadBalancer: object, extra: object = {}) => tp({ loadBalancer, ...extra });
const locality = (localityLbSetting: object, extra: object = {}) => lb({ localityLbSetting }, extra);
const OUTLIER = { outlierDetection: { consecutive5xxErrors: 5 } };
const LB = "spec.trafficPolicy.loadBalancer";
const LOC = `${LB}.localityLbSetting`;
const POOL = "spec.trafficPolicy.connectionPool";

const invalid: Case[] = [
  // host
  { name: "host with an empty label", spec: { host: "reviews..svc" }, path: "spec.host", contains: "invalid" },
  { name: "wildcard not in first label", spec: { host: "reviews.*.svc" }, path: "spec.host", contains: "label" },
  { name: "all-numeric top-level domain", spec: { host: "reviews.123" }, path: "spec.host", contains: "all-numeric" },
  // subsets
  { name: "duplicate subset names", spec: { host: HOST, subsets: [{ name: "v1" }, { name: "v1" }] }, path: "spec.subsets[1].name", contains: "duplicate subset name" },
  { name: "subset name not a DNS label", spec: { host: HOST, subsets: [{ name: "v_1" }] }, path: "spec.subsets[0].name", contains: "DNS-1123" },
  { name: "empty subset name", spec: { host: HOST, subsets: [{ name: "" }] }, path: "spec.subsets[0].name", contains: "must not be empty" },
  { name: "subset label key invalid", spec: { host: HOST, subsets: [{ name: "v1", labels: { "-bad": "x" } }] }, path: "spec.subsets[0].labels", contains: "label key" },
  { name: "subset label value invalid", spec: { host: HOST, subsets: [{ name: "v1", labels: { version: "v 1" } }] }, path: "spec.subsets[0].labels", contains: "label value" },
  {
    name: "subset traffic policy checked",
    spec: { host: HOST, subsets: [{ name: "v1", trafficPolicy: { connectionPool: { http: { maxRetries: -1 } } } }] },
    path: "spec.subsets[0].trafficPolicy.connectionPool.http.maxRetries",
    contains: "non-negative",
  },
  // traffic policy
  { name: "empty traffic policy", spec: tp({}), path: "spec.trafficPolicy", contains: "at least one field" },
  { name: "tunnel with proxyProtocol", spec: tp({ tunnel: { targetHost: "example.com", targetPort: 443 }, proxyProtocol: { version: "V1" } }), path: "spec.trafficPolicy", contains: "tunnel and proxyProtocol" },
  { name: "tunnel protocol unknown", spec: tp({ tunnel: { protocol: "GET", targetHost: "example.com", targetPort: 443 } }), path: "spec.trafficPolicy.tunnel.protocol", contains: "CONNECT" },
  { name: "tunnel target host invalid", spec: tp({ tunnel: { targetHost: "bad_host", targetPort: 443 } }), path: "spec.trafficPolicy.tunnel.targetHost", contains: "FQDN or an IP" },
  { name: "tunnel target port out of range", spec: tp({ tunnel: { targetHost: "10.0.0.1", targetPort: 70000 } }), path: "spec.trafficPolicy.tunnel.targetPort", contains: "1..65535" },
  { name: "retry budget interval malformed", spec: tp({ retryBudget: { budgetInterval: "soon" } }), path: "spec.trafficPolicy.retryBudget.budgetInterval", contains: "invalid duration" },
  // connection pool
  { name: "empty connection pool", spec: tp({ connectionPool: {} }), path: POOL, contains: "at least one of http or tcp" },
  { name: "negative pending requests", spec: tp({ connectionPool: { http: { http1MaxPendingRequests: -1 } } }), path: `${POOL}.http.http1MaxPendingRequests`, contains: "non-negative" },
  { name: "negative http2 max requests", spec: tp({ connectionPool: { http: { http2MaxRequests: -5 } } }), path: `${POOL}.http.http2MaxRequests` },
  { name: "negative requests per connection", spec: tp({ connectionPool: { http: { maxRequestsPerConnection: -1 } } }), path: `${POOL}.http.maxRequestsPerConnection` },
  { name: "negative concurrent streams", spec: tp({ connectionPool: { http: { maxConcurrentStreams: -1 } } }), path: `${POOL}.http.maxConcurrentStreams` },
  { name: "negative max connections", spec: tp({ connectionPool: { tcp: { maxConnections: -1 } } }), path: `${POOL}.tcp.maxConnections`, contains: "non-negative" },
  {
    name: "UPGRADE with useClientProtocol",
    spec: tp({ connectionPool: { http: { h2UpgradePolicy: "UPGRADE", useClientProtocol: true } } }),
    path: `${POOL}.http.useClientProtocol`,
    contains: "h2UpgradePolicy",
  },
  { name: "connect timeout below ms precision", spec: tp({ connectionPool: { tcp: { connectTimeout: "1500us" } } }), path: `${POOL}.tcp.connectTimeout`, contains: "ms precision" },
  { name: "tcp idle timeout malformed", spec: tp({ connectionPool: { tcp: { idleTimeout: "forever" } } }), path: `${POOL}.tcp.idleTimeout`, contains: "invalid duration" },
  { name: "tcp idle timeout sub-ms", spec: tp({ connectionPool: { tcp: { idleTimeout: "500us" } } }), path: `${POOL}.tcp.idleTimeout`, contains: "greater than 1ms" },
  // outlier detection
  { name: "max ejection percent above 100", spec: tp({ outlierDetection: { maxEjectionPercent: 150 } }), path: "spec.trafficPolicy.outlierDetection.maxEjectionPercent", contains: "0..100" },
  { name: "negative min health percent", spec: tp({ outlierDetection: { minHealthPercent: -1 } }), path: "spec.trafficPolicy.outlierDetection.minHealthPercent", contains: "0..100" },
  {
    name: "local origin failures without split",
    spec: tp({ outlierDetection: { consecutiveLocalOriginFailures: 5 } }),
    path: "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
    contains: "splitExternalLocalOriginErrors",
  },
  { name: "outlier interval sub-ms precision", spec: tp({ outlierDetection: { interval: "1.5ms" } }), path: "spec.trafficPolicy.outlierDetection.interval", contains: "ms precision" },
  // load balancer
  { name: "maglev table size not prime", spec: lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 1000 } } }), path: `${LB}.consistentHash.maglev.tableSize`, contains: "prime" },
  { name: "maglev table size missing", spec: lb({ consistentHash: { useSourceIp: true, maglev: {} } }), path: `${LB}.consistentHash.maglev.tableSize`, contains: "must be set" },
  { name: "maglev table size too large", spec: lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 5000011 } } }), path: `${LB}.consistentHash.maglev.tableSize`, contains: "less than 5000011" },
  {
    name: "deprecated minimumRingSize with ringHash",
    spec: lb({ consistentHash: { httpHeaderName: "x-user", minimumRingSize: 1024, ringHash: { minimumRingSize: 1024 } } }),
    path: `${LB}.consistentHash.minimumRingSize`,
    contains: "cannot be combined",
  },
  { name: "empty hash header name", spec: lb({ consistentHash: { httpHeaderName: "" } }), path: `${LB}.consistentHash.httpHeaderName`, contains: "must not be empty" },
  { name: "empty hash query parameter", spec: lb({ consistentHash: { httpQueryParameterName: "" } }), path: `${LB}.consistentHash.httpQueryParameterName` },
  { name: "empty cookie name", spec: lb({ consistentHash: { httpCookie: { name: "", ttl: "0s" } } }), path: `${LB}.consistentHash.httpCookie.name`, contains: "name is required" },
  { name: "warmup aggression below 1", spec: lb({ warmup: { duration: "60s", aggression: 0.5 } }), path: `${LB}.warmup.aggression`, contains: "at least 1" },
  // locality load balancing
  {
    name: "distribute with failover",
    spec: locality({ distribute: [{ from: "r1/*", to: { "r1/*": 100 } }], failover: [{ from: "r1", to: "r2" }] }, OUTLIER),
    path: LOC,
    contains: "distribute and failover",
  },
  { name: "distribute weights not 100", spec: locality({ distribute: [{ from: "r1/z1/*", to: { "r1/z1/*": 60, "r2/z2/*": 30 } }] }), path: `${LOC}.distribute[0].to`, contains: "add up to 90" },
  {
    name: "second distribute entry weights",
    spec: locality({ distribute: [{ from: "r1/*", to: { "r1/*": 100 } }, { from: "r2/*", to: { "r2/*": 10 } }] }),
    path: `${LOC}.distribute[1].to`,
    contains: "must add up to 100",
  },
  { name: "distribute weight zero", spec: locality({ distribute: [{ from: "r1/*", to: { "r1/*": 0, "r2/*": 100 } }] }), path: `${LOC}.distribute[0].to[r1/*]`, contains: "[1, 100]" },
  { name: "distribute overlapping destinations", spec: locality({ distribute: [{ from: "r1/*", to: { "r1/*": 50, "r1/z1/*": 50 } }] }), path: `${LOC}.distribute[0].to`, contains: "overlaps" },
  { name: "distribute wildcard in the middle", spec: locality({ distribute: [{ from: "r1/*/sz", to: { "r1/*": 100 } }] }), path: `${LOC}.distribute`, contains: "only once, at the end" },
  { name: "distribute empty zone", spec: locality({ distribute: [{ from: "r1//sz", to: { "r1/*": 100 } }] }), path: `${LOC}.distribute`, contains: "empty region/zone/subzone" },
  { name: "distribute overlapping sources", spec: locality({ distribute: [{ from: "r1/*", to: { "r1/*": 100 } }, { from: "r1/z1", to: { "r1/*": 100 } }] }), path: `${LOC}.distribute`, contains: "overlaps" },
  { name: "failover to itself", spec: locality({ failover: [{ from: "us-east", to: "us-east" }] }, OUTLIER), path: `${LOC}.failover[0]`, contains: "different regions" },
  { name: "failover with zone", spec: locality({ failover: [{ from: "us-east/z1", to: "us-west" }] }, OUTLIER), path: `${LOC}.failover[0]`, contains: "must be regions" },
  { name: "failover with wildcard", spec: locality({ failover: [{ from: "us-east", to: "*" }] }, OUTLIER), path: `${LOC}.failover[0]`, contains: "'*' wildcard" },
  {
    name: "failover with topology failoverPriority",
    spec: locality({ failover: [{ from: "us-east", to: "us-west" }], failoverPriority: ["my-label", "topology.kubernetes.io/zone"] }, OUTLIER),
    path: `${LOC}.failoverPriority[1]`,
    contains: "topology label",
  },
  // TLS
  { name: "MUTUAL without client certificate", spec: tp({ tls: { mode: "MUTUAL", privateKey: "/k.pem" } }), path: "spec.trafficPolicy.tls.clientCertificate", contains: "required for MUTUAL" },
  { name: "MUTUAL without private key", spec: tp({ tls: { mode: "MUTUAL", clientCertificate: "/c.pem" } }), path: "spec.trafficPolicy.tls.privateKey", contains: "required for MUTUAL" },
  { name: "credentialName with CA file", spec: tp({ tls: { mode: "SIMPLE", credentialName: "cred", caCertificates: "/ca.pem" } }), path: "spec.trafficPolicy.tls.credentialName", contains: "cannot be combined" },
  { name: "credentialName with CRL", spec: tp({ tls: { mode: "MUTUAL", credentialName: "cred", caCrl: "/crl.pem" } }), path: "spec.trafficPolicy.tls.credentialName" },
  {
    name: "insecureSkipVerify with CA (SIMPLE)",
    spec: tp({ tls: { mode: "SIMPLE", insecureSkipVerify: true, caCertificates: "/ca.pem" } }),
    path: "spec.trafficPolicy.tls.insecureSkipVerify",
    contains: "insecureSkipVerify",
  },
  {
    name: "insecureSkipVerify with SANs (MUTUAL)",
    spec: tp({ tls: { mode: "MUTUAL", insecureSkipVerify: true, subjectAltNames: ["a"], clientCertificate: "/c", privateKey: "/k" } }),
    path: "spec.trafficPolicy.tls.insecureSkipVerify",
  },
  { name: "configmap credential in another namespace", spec: tp({ tls: { mode: "SIMPLE", credentialName: "configmap://other/ca" } }), path: "spec.trafficPolicy.tls.credentialName", contains: "namespace" },
  { name: "configmap credential malformed", spec: tp({ tls: { mode: "SIMPLE", credentialName: "configmap://a/b/c" } }), path: "spec.trafficPolicy.tls.credentialName", contains: "invalid configmap" },
  // port level settings
  { name: "port-level policy without port", spec: tp({ portLevelSettings: [{ loadBalancer: { simple: "RANDOM" } }] }), path: "spec.trafficPolicy.portLevelSettings[0].port", contains: "port.number" },
  { name: "port-level policy with empty port", spec: tp({ portLevelSettings: [{ port: {}, loadBalancer: { simple: "RANDOM" } }] }), path: "spec.trafficPolicy.portLevelSettings[0].port" },
  { name: "port-level port out of range", spec: tp({ portLevelSettings: [{ port: { number: 70000 }, loadBalancer: { simple: "RANDOM" } }] }), path: "spec.trafficPolicy.portLevelSettings[0].port.number", contains: "1..65535" },
  { name: "port-level policy without settings", spec: tp({ portLevelSettings: [{ port: { number: 80 } }] }), path: "spec.trafficPolicy.portLevelSettings[0]", contains: "at least one of" },
  {
    name: "port-level load balancer checked",
    spec: tp({ portLevelSettings: [{ port: { number: 80 }, loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 4 } } } }] }),
    path: "spec.trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash.maglev.tableSize",
    contains: "prime",
  },
  {
    name: "port-level TLS checked",
    spec: tp({ portLevelSettings: [{ port: { number: 443 }, tls: { mode: "MUTUAL" } }] }),
    path: "spec.trafficPolicy.portLevelSettings[0].tls.clientCertificate",
  },
  // exportTo and workloadSelector
  { name: "exportTo . and own namespace", spec: { host: HOST, exportTo: [".", "default"] }, path: "spec.exportTo[1]", contains: "current namespace" },
  { name: "exportTo duplicate", spec: { host: HOST, exportTo: ["a", "a"] }, path: "spec.exportTo[1]", contains: "duplicate" },
  { name: "exportTo ~ on a DestinationRule", spec: { host: HOST, exportTo: ["~"] }, path: "spec.exportTo[0]", contains: "only allowed on ServiceEntry" },
  { name: "exportTo invalid namespace", spec: { host: HOST, exportTo: ["Bad_NS"] }, path: "spec.exportTo[0]", contains: "namespace name" },
  { name: "exportTo * with others", spec: { host: HOST, exportTo: ["*", "a"] }, path: "spec.exportTo", contains: "cannot be combined" },
  { name: "selector with public exportTo", spec: { host: HOST, exportTo: ["*"], workloadSelector: { matchLabels: { app: "a" } } }, path: "spec.exportTo", contains: "beyond its own namespace" },
  { name: "selector with several exportTo", spec: { host: HOST, exportTo: [".", "other"], workloadSelector: { matchLabels: { app: "a" } } }, path: "spec.exportTo", contains: "only be exported to its own namespace" },
  { name: "selector label key invalid", spec: { host: HOST, workloadSelector: { matchLabels: { "bad key": "a" } } }, path: "spec.workloadSelector.matchLabels[bad key]", contains: "label key" },
];

const warnings: Case[] = [
  { name: "deprecated consecutiveErrors", spec: tp({ outlierDetection: { consecutiveErrors: 5 } }), path: "spec.trafficPolicy.outlierDetection.consecutiveErrors", contains: "deprecated" },
  { name: "deprecated minimumRingSize", spec: lb({ consistentHash: { useSourceIp: true, minimumRingSize: 1024 } }), path: `${LB}.consistentHash.minimumRingSize`, contains: "ringHash" },
  { name: "deprecated warmupDurationSecs", spec: lb({ simple: "ROUND_ROBIN", warmupDurationSecs: "60s" }), path: `${LB}.warmupDurationSecs`, contains: "warmup.duration" },
  { name: "failover without outlier detection", spec: locality({ failover: [{ from: "us-east", to: "us-west" }] }), path: LOC, contains: "outlierDetection" },
  { name: "failoverPriority without outlier detection", spec: locality({ failoverPriority: ["topology.istio.io/network"] }), path: LOC },
  {
    name: "duplicate port-level settings",
    spec: tp({ portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "RANDOM" } }, { port: { number: 80 }, loadBalancer: { simple: "LEAST_REQUEST" } }] }),
    path: "spec.trafficPolicy.portLevelSettings[1].port.number",
    contains: "already has settings",
  },
  { name: "selector without labels", spec: { host: HOST, workloadSelector: {} }, path: "spec.workloadSelector.matchLabels", contains: "no labels" },
];

const valid: { name: string; spec: object }[] = [
  { name: "bookinfo reviews", spec: { host: "reviews", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] } },
  { name: "wildcard host", spec: { host: "*.example.com" } },
  { name: "bare wildcard host", spec: { host: "*" } },
  { name: "trailing dot host", spec: { host: "reviews.default.svc.cluster.local." } },
  {
    name: "full traffic policy",
    spec: tp({
      connectionPool: {
        tcp: { maxConnections: 100, connectTimeout: "30ms", idleTimeout: "0s", tcpKeepalive: { time: "7200s", interval: "75s" } },
        http: { http1MaxPendingRequests: 0, maxRequestsPerConnection: 10, h2UpgradePolicy: "UPGRADE", idleTimeout: "1h" },
      },
      outlierDetection: { consecutive5xxErrors: 7, interval: "5m", baseEjectionTime: "15m", maxEjectionPercent: 100, minHealthPercent: 0 },
      loadBalancer: { consistentHash: { httpCookie: { name: "user", ttl: "0s" }, maglev: { tableSize: 65537 } }, warmup: { duration: "60s", aggression: 1 } },
      tls: { mode: "ISTIO_MUTUAL" },
    }),
  },
  { name: "ring hash", spec: lb({ consistentHash: { httpHeaderName: "x-user", ringHash: { minimumRingSize: 1024 } } }) },
  { name: "locality distribute", spec: locality({ distribute: [{ from: "us-west/zone1/*", to: { "us-west/zone1/*": 80, "us-west/zone2/*": 20 } }, { from: "us-west/zone2/*", to: { "us-west/zone1/*": 20, "us-west/zone2/*": 80 } }] }) },
  { name: "locality failover", spec: locality({ enabled: true, failover: [{ from: "us-east", to: "eu-west" }, { from: "us-west", to: "us-east" }] }, OUTLIER) },
  { name: "failoverPriority with failover, non-topology labels", spec: locality({ failover: [{ from: "us-east", to: "us-west" }], failoverPriority: ["topology.istio.io/network"] }, OUTLIER) },
  { name: "simple TLS with credential", spec: tp({ tls: { mode: "SIMPLE", credentialName: "client-cred", sni: "reviews.example.com" } }) },
  { name: "mutual TLS with files", spec: tp({ tls: { mode: "MUTUAL", clientCertificate: "/c.pem", privateKey: "/k.pem", caCertificates: "/ca.pem" } }) },
  { name: "mutual TLS insecureSkipVerify with credential", spec: tp({ tls: { mode: "MUTUAL", credentialName: "cred", insecureSkipVerify: true } }) },
  { name: "configmap credential, same namespace", spec: tp({ tls: { mode: "SIMPLE", credentialName: "configmap://default/ca" } }) },
  { name: "configmap credential, implicit namespace", spec: tp({ tls: { mode: "SIMPLE", credentialName: "configmap://ca" } }) },
  { name: "tunnel to IP", spec: tp({ tunnel: { protocol: "CONNECT", targetHost: "10.1.2.3", targetPort: 8080 } }) },
  { name: "proxy protocol only", spec: tp({ proxyProtocol: { version: "V2" } }) },
  { name: "retry budget only", spec: tp({ retryBudget: { percent: 20, budgetInterval: "10s" } }) },
  { name: "port-level settings", spec: tp({ portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "LEAST_REQUEST" } }, { port: { number: 9080 }, tls: { mode: "DISABLE" } }] }) },
  { name: "exportTo list", spec: { host: HOST, exportTo: [".", "other", "istio-system"] } },
  { name: "selector exported to own namespace", spec: { host: HOST, exportTo: ["."], workloadSelector: { matchLabels: { app: "ratings" } } } },
  { name: "selector exported by name", spec: { host: HOST, exportTo: ["default"], workloadSelector: { matchLabels: { app: "ratings" } } } },
];

kindTables("DestinationRule", { invalid, warnings, valid });
