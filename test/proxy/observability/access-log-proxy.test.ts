// Access logs through a running proxy with real sockets, in Istio's formats: an HTTP request over
// HTTP/1.1 and over HTTP/2, a failed upstream connect (UF), a tcp_proxy connection and a TLS
// passthrough connection (SNI, no termination) each leave one line with the right upstream cluster,
// response flags and addresses; the trusted client address comes from X-Forwarded-For (port 0);
// proxy-wide stream sinks see every finished stream.
import { ISTIO_TEXT_LOG_FORMAT } from "../../../src/xds/gen/telemetry/access-log.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { struct } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import type { HttpStreamInfo, TcpStreamInfo } from "../../../src/proxy/stream-info.js";
import { TCP_PROXY_TYPE } from "../../../src/proxy/tcp.js";
import { eventually } from "../../helpers/eventually.js";
import { REFUSED_HOST } from "../../helpers/sockets.js";

const IP = "127.0.101.1";
const BACKEND = "127.0.101.2";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const ROUTER = { name: "router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const ISTIO_TEXT = ISTIO_TEXT_LOG_FORMAT;
const ISTIO_JSON = { upstream_cluster: "%UPSTREAM_CLUSTER_RAW%", response_flags: "%RESPONSE_FLAGS%", response_code: "%RESPONSE_CODE%", bytes_sent: "%BYTES_SENT%", requested_server_name: "%REQUESTED_SERVER_NAME%", upstream_host: "%UPSTREAM_HOST%", downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%" };

const HTTP_CLUSTER = "outbound|8000||httpbin.foo.svc.cluster.local";
const DEAD_CLUSTER = "outbound|8000||dead.foo.svc.cluster.local";
const TCP_CLUSTER = "outbound|9000||tcp-echo.foo.svc.cluster.local";
const TLS_CLUSTER = "outbound|443||passthrough.example.com";

function cluster(name: string, address: string, port: number): ProtoObject {
  return { name, type: "STATIC", connectTimeout: { seconds: 2 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } } }] }] } };
}

const textLog = (path: string): ProtoObject[] => [{ name: "envoy.access_loggers.file", typedConfig: { "@type": FILE_LOG, path, logFormat: { textFormatSource: { inlineString: ISTIO_TEXT } } } }];
const jsonLog = (path: string): ProtoObject[] => [{ name: "envoy.access_loggers.file", typedConfig: { "@type": FILE_LOG, path, logFormat: { jsonFormat: struct(ISTIO_JSON) } } }];
const tcpProxy = (statPrefix: string, clusterName: string, accessLog: ProtoObject[]): ProtoObject => ({ name: "tcp", typedConfig: { "@type": TCP_PROXY_TYPE, statPrefix, cluster: clusterName, accessLog } });

function grpcFrame(text: string): Buffer {
  const body = Buffer.from(text);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

function lines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

describe("access logs through the proxy, in Istio's formats", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-al-istio-"));
  const httpLog = join(dir, "http.log");
  const tcpLog = join(dir, "tcp.log");
  const tlsLog = join(dir, "tls.log");
  const P = { http: 18171, tcp: 18172, tls: 18173 };
  let httpServer: http.Server;
  let echo: net.Server;
  let tlsBackend: tls.Server;
  let backendPort = 0;
  let proxy: ProxyServer;
  const tapped: Array<HttpStreamInfo | TcpStreamInfo> = [];

  before(async () => {
    httpServer = http.createServer((req, res) => {
      req.resume();
      // A gRPC-framed answer: two messages, the second split over two writes.
      if (req.url?.startsWith("/grpc.")) {
        res.writeHead(200, { "content-type": "application/grpc" });
        res.write(Buffer.concat([grpcFrame("one"), grpcFrame("two").subarray(0, 3)]));
        res.end(grpcFrame("two").subarray(3));
        return;
      }
      res.end("ok");
    });
    await new Promise<void>((r) => httpServer.listen(0, BACKEND, () => r()));
    backendPort = (httpServer.address() as net.AddressInfo).port;
    echo = net.createServer((c) => {
      c.on("data", (d: Buffer) => c.end(d));
      c.on("error", () => {});
    });
    await new Promise<void>((r) => echo.listen(backendPort, "127.0.101.3", () => r()));
    const fixtures = join(packageRoot(), "test", "fixtures", "tls");
    tlsBackend = tls.createServer({ cert: readFileSync(join(fixtures, "server.crt")), key: readFileSync(join(fixtures, "server.key")) }, (s) => {
      s.on("data", (d: Buffer) => s.end(d));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => tlsBackend.listen(backendPort, "127.0.101.4", () => r()));
    const routes = {
      name: "r",
      virtualHosts: [
        {
          name: "httpbin",
          domains: ["*"],
          routes: [
            { name: "dead-route", match: { prefix: "/dead" }, route: { cluster: DEAD_CLUSTER } },
            { name: "default", match: { prefix: "/" }, route: { cluster: HTTP_CLUSTER } },
          ],
        },
      ],
    };
    const listeners: ProtoObject[] = [
          {
            name: "http",
            address: { socketAddress: { address: IP, portValue: P.http } },
            filterChains: [{ filters: [{ name: "hcm", typedConfig: { "@type": HCM_TYPE, statPrefix: "h", routeConfig: routes, httpFilters: [ROUTER], accessLog: textLog(httpLog) } }] }],
          },
          { name: "tcp", address: { socketAddress: { address: IP, portValue: P.tcp } }, filterChains: [{ filters: [tcpProxy("tcp", TCP_CLUSTER, jsonLog(tcpLog))] }] },
          {
            name: "passthrough",
            address: { socketAddress: { address: IP, portValue: P.tls } },
            filterChains: [{ filterChainMatch: { serverNames: ["passthrough.example.com"] }, filters: [tcpProxy("tls", TLS_CLUSTER, textLog(tlsLog))] }],
          },
    ];
    const clusters = [cluster(HTTP_CLUSTER, BACKEND, backendPort), cluster(DEAD_CLUSTER, REFUSED_HOST, 1), cluster(TCP_CLUSTER, "127.0.101.3", backendPort), cluster(TLS_CLUSTER, "127.0.101.4", backendPort)];
    proxy = new ProxyServer({ node: { id: "al-istio" }, ip: IP, log: () => {}, staticResources: { listeners, clusters } });
    await proxy.start();
    proxy.streamSinks.add({ onHttpStream: (i) => tapped.push(i), onTcpConnection: (i) => tapped.push(i) });
  });

  after(async () => {
    await proxy.close();
    await new Promise((r) => httpServer.close(r));
    await new Promise((r) => echo.close(r));
    await new Promise((r) => tlsBackend.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  function get(path: string, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: IP, port: P.http, path, headers: { "user-agent": "curl/8", "x-request-id": "rid-1", host: "httpbin:8000", ...headers }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
    });
  }

  it("HTTP/1.1: Istio's text line with the upstream cluster, route name, details and the XFF-trusted client", async () => {
    assert.equal(await get("/status/418", { "x-forwarded-for": "10.9.8.7" }), 200);
    const line = await eventually("the line", () => lines(httpLog).find((l) => l.includes("/status/418")), 10_000);
    const m = /^\[(\S+)\] "GET \/status\/418 HTTP\/1\.1" 200 - via_upstream - "-" 0 2 (\d+) (\d+) "10\.9\.8\.7" "curl\/8" "rid-1" "httpbin:8000" "127\.0\.101\.2:(\d+)" (\S+) (\S+) (\S+) (\S+) - default$/.exec(line);
    assert.ok(m, line);
    assert.match(m[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(Number(m[4]), backendPort);
    assert.equal(m[5], HTTP_CLUSTER);
    assert.match(m[6], /^127\.0\.0\.1:\d+$/, "the upstream connection's local address");
    assert.equal(m[7], `${IP}:${P.http}`);
    // Without use_remote_address, Envoy trusts the rightmost X-Forwarded-For entry; it has no port (:0).
    assert.equal(m[8], "10.9.8.7:0");
  });

  it("HTTP/2: the same line with HTTP/2 and the socket peer as the client", async () => {
    const client = http2.connect(`http://${IP}:${P.http}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const s = client.request({ ":path": "/h2", "user-agent": "h2c", ":authority": "httpbin:8000" });
        let code = 0;
        s.on("response", (h) => (code = Number(h[":status"])));
        s.on("end", () => resolve(code));
        s.on("error", reject);
        s.resume();
        s.end();
      });
      assert.equal(status, 200);
    } finally {
      client.close();
    }
    const line = await eventually("the h2 line", () => lines(httpLog).find((l) => l.includes(" /h2 ")), 10_000);
    assert.match(line, new RegExp(`"GET /h2 HTTP/2" 200 - via_upstream - "-" 0 2 \\d+ \\d+ "-" "h2c" "[0-9a-f-]{36}" "httpbin:8000" "127\\.0\\.101\\.2:\\d+" ${HTTP_CLUSTER.replace(/\|/g, "\\|")} 127\\.0\\.0\\.1:\\d+ ${IP}:${P.http} 127\\.0\\.0\\.1:\\d+ - default$`));
  });

  it("a failed upstream connect: UF, its details, the dead cluster and host, the route name", async () => {
    assert.equal(await get("/dead"), 503);
    const line = await eventually("the UF line", () => lines(httpLog).find((l) => l.includes("/dead")), 10_000);
    const m = / 503 UF upstream_reset_before_response_started\{remote_connection_failure,([^}]+)\} - "([^"]+)" /.exec(line);
    assert.ok(m, line);
    assert.equal(m[2], m[1], "UPSTREAM_TRANSPORT_FAILURE_REASON is the reason in the details");
    assert.ok(line.includes(`"${REFUSED_HOST}:1" ${DEAD_CLUSTER} `), line);
    assert.ok(line.endsWith(" dead-route"), line);
  });

  it("tcp_proxy: one JSON line per connection, typed, with the cluster and host", async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(P.tcp, IP, () => s.write("ping"));
      let out = "";
      s.on("data", (d: Buffer) => (out += d.toString()));
      s.on("close", () => resolve(out));
      s.on("error", reject);
    });
    assert.equal(got, "ping");
    const line = await eventually("the TCP line", () => lines(tcpLog)[0], 10_000);
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.equal(o.upstream_cluster, TCP_CLUSTER);
    assert.equal(o.response_flags, "-");
    assert.equal(o.response_code, 0);
    assert.equal(o.bytes_sent, 4);
    assert.equal(o.upstream_host, `127.0.101.3:${backendPort}`);
    assert.equal(o.requested_server_name, null);
    assert.match(String(o.downstream_remote_address), /^127\.0\.0\.1:\d+$/);
  });

  it("TLS passthrough: the SNI, the passthrough cluster, the bytes of the untouched TLS stream", async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: IP, port: P.tls, servername: "passthrough.example.com", rejectUnauthorized: false }, () => s.write("hello"));
      let out = "";
      s.on("data", (d: Buffer) => (out += d.toString()));
      s.on("close", () => resolve(out));
      s.on("error", reject);
    });
    assert.equal(got, "hello");
    const line = await eventually("the passthrough line", () => lines(tlsLog)[0], 10_000);
    const m = new RegExp(`^\\[\\S+\\] "- - -" 0 - - - "-" (\\d+) (\\d+) \\d+ - "-" "-" "-" "-" "127\\.0\\.101\\.4:${backendPort}" ${TLS_CLUSTER.replace(/\|/g, "\\|")} 127\\.0\\.0\\.1:\\d+ ${IP}:${P.tls} 127\\.0\\.0\\.1:\\d+ passthrough\\.example\\.com -$`).exec(line);
    assert.ok(m, line);
    assert.ok(Number(m[1]) > 100 && Number(m[2]) > 100, "the handshake's bytes both ways");
  });

  it("a gRPC stream's record: messages each way, header maps' sizes as Envoy's byteSize()", async () => {
    const body = Buffer.concat([grpcFrame("a"), grpcFrame(""), grpcFrame("ccc")]);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: IP, port: P.http, method: "POST", path: "/grpc.Echo/Say", headers: { host: "httpbin:8000", "content-type": "application/grpc", te: "trailers", "x-latin": "caf\u00e9" }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      // Split mid-prefix and mid-payload: the count follows the frames, not the chunks.
      req.write(body.subarray(0, 2));
      req.write(body.subarray(2, 8));
      req.end(body.subarray(8));
    });
    assert.equal(status, 200);
    const info = await eventually("the gRPC record", () => tapped.find((i): i is HttpStreamInfo => i.kind === "http" && i.path === "/grpc.Echo/Say"), 10_000);
    assert.equal(info.requestMessages, 3);
    assert.equal(info.responseMessages, 2);
    // Envoy's byteSize: names and values without separators, pseudo-headers included, Host as :authority.
    let want = ":method".length + 4 + ":path".length + info.path.length + ":authority".length + "httpbin:8000".length + ":scheme".length + info.scheme.length;
    for (const [k, v] of Object.entries(info.requestHeaders)) if (k !== "host" && v !== undefined) want += k.length + String(v).length;
    assert.equal(info.requestHeadersBytes, want);
    // A byte above 0x7f is one byte on the wire, as Envoy counts it (not its two-byte UTF-8 form).
    assert.equal(info.requestHeaders["x-latin"], "caf\u00e9");
    assert.ok(info.requestHeadersBytes > "content-type".length + "application/grpc".length);
    let resp = ":status".length + 3;
    for (const [k, v] of Object.entries(info.responseHeaders)) if (v !== undefined) resp += k.length + String(v).length;
    assert.equal(info.responseHeadersBytes, resp);
    // A plain HTTP stream counts no messages.
    const plain = tapped.find((i): i is HttpStreamInfo => i.kind === "http" && i.path === "/status/418")!;
    assert.deepEqual([plain.requestMessages, plain.responseMessages], [0, 0]);
  });

  it("proxy-wide stream sinks saw the streams and connections", () => {
    const h = tapped.filter((i): i is HttpStreamInfo => i.kind === "http");
    const t = tapped.filter((i): i is TcpStreamInfo => i.kind === "tcp");
    assert.ok(h.some((i) => i.path === "/status/418" && i.upstreamCluster === HTTP_CLUSTER && i.routeName === "default" && i.responseHeaders["x-envoy-upstream-service-time"] !== undefined));
    assert.ok(t.some((i) => i.upstreamCluster === TCP_CLUSTER));
    assert.ok(t.some((i) => i.upstreamCluster === TLS_CLUSTER && i.requestedServerName === "passthrough.example.com"));
  });
});
