// Configured access logs and tcp_proxy, end to end with real sockets: an http_connection_manager's
// and a tcp_proxy's access_log entries (file, through the access-logger registry) get Envoy's
// default format — TCP connections too ("- - -", code 0, UF on a connect failure) — and the
// proxy's default log is used only where the config names none; unknown loggers, bad formats and
// malformed filters are refused with their field path, and a filter decides which streams leave a
// line; tcp_proxy hashes on the source address, retries a failed connect up to max_connect_attempts,
// and ends a connection at max_downstream_connection_duration.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { HCM_TYPE } from "../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { TCP_PROXY_TYPE } from "../../src/proxy/tcp.js";
import { eventually } from "../helpers/eventually.js";

const IP = "127.0.72.1";
const ECHO = ["127.0.72.2", "127.0.72.3", "127.0.72.4"];
const DEAD = "127.0.72.9"; // nothing listens there
const ROUTER = { name: "router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

function staticCluster(name: string, addresses: string[], port: number, extra: ProtoObject = {}): ProtoObject {
  return { name, type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: addresses.map((a) => ({ endpoint: { address: { socketAddress: { address: a, portValue: port } } } })) }] }, ...extra };
}

function listener(name: string, port: number, filter: ProtoObject): ProtoObject {
  return { name, address: { socketAddress: { address: IP, portValue: port } }, filterChains: [{ filters: [filter] }] };
}

const tcp = (fields: ProtoObject) => ({ name: "tcp", typedConfig: { "@type": TCP_PROXY_TYPE, statPrefix: "tcp", ...fields } });
const hcm = (fields: ProtoObject) => ({
  name: "hcm",
  typedConfig: { "@type": HCM_TYPE, statPrefix: "h", routeConfig: { name: "r", virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "echo" } }] }] }, httpFilters: [ROUTER], ...fields },
});
const fileLog = (path: string) => [{ name: "file", typedConfig: { "@type": FILE_LOG, path } }];

/** Connects, sends `data`, resolves with what came back before the proxy closed. */
function exchange(port: number, data: string, o: { keepOpenMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: IP, port });
    let got = "";
    s.on("data", (c: Buffer) => (got += c.toString()));
    // (A refused connection is reset: what arrived before is the answer.)
    s.on("error", () => resolve(got));
    s.on("close", () => resolve(got));
    s.write(data);
    if (o.keepOpenMs === undefined) setTimeout(() => s.end(), 200);
  });
}

describe("configured access logs and tcp_proxy", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-al-"));
  const defaultLog = join(dir, "default.log");
  const httpLog = join(dir, "http.log");
  const tcpLog = join(dir, "tcp.log");
  const listenerLog = join(dir, "listener.log");
  const servers: net.Server[] = [];
  let echoPort = 0;
  let httpServer: http.Server;
  let httpPort = 0;
  let proxy: ProxyServer;
  const filteredLog = join(dir, "filtered.log");
  const P = { http: 18151, httpDefault: 18152, tcp: 18153, hash: 18154, retry: 18155, duration: 18156, fail: 18157, nochain: 18158, filtered: 18159 };

  before(async () => {
    // Echo servers (the same port on every address) that say who they are.
    for (const ip of ECHO) {
      const s = net.createServer((c) => {
        c.on("data", (d: Buffer) => c.write(`${ip}:${d.toString()}`));
        c.on("error", () => {});
      });
      await new Promise<void>((r) => s.listen(echoPort, ip, () => r()));
      echoPort = (s.address() as net.AddressInfo).port;
      servers.push(s);
    }
    httpServer = http.createServer((req, res) => res.end("ok"));
    await new Promise<void>((r) => httpServer.listen(0, ECHO[0], () => r()));
    httpPort = (httpServer.address() as net.AddressInfo).port;
    proxy = new ProxyServer({
      staticResources: {
        clusters: [
          staticCluster("echo", [ECHO[0]], httpPort),
          staticCluster("tcp-echo", [ECHO[0]], echoPort),
          staticCluster("ring", ECHO, echoPort, { lbPolicy: "RING_HASH" }),
          // Round robin over a dead address and a live one: the first try may fail.
          staticCluster("half", [DEAD, ECHO[1]], echoPort),
          staticCluster("dead", [DEAD], echoPort),
        ],
        listeners: [
          listener("http", P.http, hcm({ accessLog: fileLog(httpLog) })),
          listener("http-default", P.httpDefault, hcm({})),
          // Istio's logs task filter (Telemetry accessLogging filter.expression), as istiod sends it.
          listener(
            "filtered",
            P.filtered,
            hcm({
              routeConfig: { name: "f", virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/missing" }, directResponse: { status: 404 } }, { match: { prefix: "/" }, route: { cluster: "echo" } }] }] },
              accessLog: [{ name: "file", filter: { extensionFilter: { name: "envoy.access_loggers.extension_filters.cel", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter", expression: "response.code >= 400" } } }, typedConfig: { "@type": FILE_LOG, path: filteredLog } }],
            }),
          ),
          listener("tcp", P.tcp, tcp({ cluster: "tcp-echo", accessLog: fileLog(tcpLog) })),
          listener("hash", P.hash, tcp({ cluster: "ring", hashPolicy: [{ sourceIp: {} }] })),
          listener("retry", P.retry, tcp({ cluster: "half", maxConnectAttempts: { value: 2 } })),
          listener("duration", P.duration, tcp({ cluster: "tcp-echo", maxDownstreamConnectionDuration: { nanos: 300_000_000 } })),
          listener("fail", P.fail, tcp({ cluster: "dead", accessLog: fileLog(tcpLog) })),
          // Its only chain wants another destination port: nothing matches.
          {
            name: "nochain",
            address: { socketAddress: { address: IP, portValue: P.nochain } },
            accessLog: fileLog(listenerLog),
            filterChains: [{ filterChainMatch: { destinationPort: { value: 1 } }, filters: [tcp({ cluster: "tcp-echo" })] }],
          },
        ],
      },
      node: { id: "al-test" },
      ip: IP,
      accessLogPath: defaultLog,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    httpServer.closeAllConnections();
    await new Promise<void>((r) => httpServer.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = (f: string): string[] => {
    try {
      return readFileSync(f, "utf8").split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };

  it("an HCM's configured file log gets its requests; one without access_log uses the proxy's default", async () => {
    const get = (port: number, path: string) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: IP, port, path, agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      });
    assert.equal(await get(P.http, "/configured"), 200);
    assert.equal(await get(P.httpDefault, "/default"), 200);
    await eventually("both lines", () => lines(httpLog).length === 1 && lines(defaultLog).some((l) => l.includes("/default")), 5000);
    assert.match(lines(httpLog)[0], /^\[\S+\] "GET \/configured HTTP\/1\.1" 200 - 0 2 \d+ \d+ "-" "-" "[0-9a-f-]+" "127\.0\.72\.1:18151" "127\.0\.72\.2:\d+"$/);
    assert.ok(!lines(defaultLog).some((l) => l.includes("/configured")), "the configured HCM does not also write the default log");
  });

  it("an access log filter (CEL response.code >= 400) keeps only the failed requests' lines", async () => {
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: IP, port: P.filtered, path, agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      });
    assert.equal(await get("/fine"), 200);
    assert.equal(await get("/missing"), 404);
    assert.equal(await get("/fine-again"), 200);
    await eventually("the 404's line", () => lines(filteredLog).length >= 1, 5000);
    // The 200s finished before the 404 and share its writer's flush: had they been logged, they would be here.
    const got = lines(filteredLog);
    assert.equal(got.length, 1, got.join("\n"));
    assert.match(got[0], /"GET \/missing HTTP\/1\.1" 404 /);
  });

  it("tcp_proxy logs each connection in Envoy's default format; a failed connect is UF", async () => {
    assert.equal(await exchange(P.tcp, "hello"), `${ECHO[0]}:hello`);
    await exchange(P.fail, "x");
    await eventually("two TCP lines", () => lines(tcpLog).length === 2, 5000);
    const [ok, fail] = lines(tcpLog).sort((a, b) => (a.includes(" UF ") ? 1 : -1) - (b.includes(" UF ") ? 1 : -1));
    assert.match(ok, /^\[\S+\] "- - -" 0 - 5 \d+ \d+ - "-" "-" "-" "-" "127\.0\.72\.2:\d+"$/);
    assert.match(fail, /^\[\S+\] "- - -" 0 UF 0 0 \d+ - "-" "-" "-" "-" "127\.0\.72\.9:\d+"$/);
    assert.equal(proxy.stats.counter("cluster.dead.upstream_cx_connect_fail").value, 1);
  });

  it("a listener's access_log logs a connection no filter chain takes (NR)", async () => {
    await exchange(P.nochain, "x");
    await eventually("the NR line", () => lines(listenerLog).length === 1, 5000);
    assert.match(lines(listenerLog)[0], /^\[\S+\] "- - -" 0 NR 0 0 0 - "-" "-" "-" "-" "-"$/);
  });

  it("hash_policy source_ip: every connection from one address reaches the same backend", async () => {
    const who = new Set<string>();
    for (let i = 0; i < 8; i++) who.add((await exchange(P.hash, "x")).split(":")[0]);
    assert.equal(who.size, 1);
  });

  it("max_connect_attempts: a connect failure tries another host", async () => {
    for (let i = 0; i < 4; i++) assert.equal(await exchange(P.retry, "r"), `${ECHO[1]}:r`);
    assert.ok(proxy.stats.counter("cluster.half.upstream_cx_connect_fail").value >= 1, "the dead host was tried");
  });

  it("max_downstream_connection_duration closes a connection that stays open", async () => {
    const got = await exchange(P.duration, "d", { keepOpenMs: 60_000 });
    assert.equal(got, `${ECHO[0]}:d`, "the proxy closed it (the client never did)");
  });
});

describe("access log and tcp_proxy configs tsmesh cannot implement are refused, naming the field", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    ["an unknown access logger", listener("a", 0, hcm({ accessLog: [{ name: "envoy.access_loggers.http_grpc", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig" } }] })), /accessLog\[0\]: Didn't find a registered implementation for 'envoy\.access_loggers\.http_grpc'/],
    ["a format with an unknown command", listener("b", 0, hcm({ accessLog: [{ name: "f", typedConfig: { "@type": FILE_LOG, path: "/dev/null", logFormat: { textFormatSource: { inlineString: "%START_TIME% %NO_SUCH%\n" } } } }] })), /accessLog\[0\]\.typedConfig\.logFormat\.textFormatSource: Not supported field in StreamInfo: NO_SUCH/],
    ["a malformed format", listener("b2", 0, tcp({ cluster: "x", accessLog: [{ name: "f", typedConfig: { "@type": FILE_LOG, path: "/dev/null", format: "100% done" } }] })), /accessLog\[0\]\.typedConfig\.format: Incorrect configuration: 100% done\. Couldn't find valid command at position 3/],
    ["two formats at once", listener("b3", 0, hcm({ accessLog: [{ name: "f", typedConfig: { "@type": FILE_LOG, path: "/dev/null", format: "x", logFormat: { textFormat: "y" } } }] })), /accessLog\[0\]\.typedConfig\.logFormat: only one of format/],
    ["periodic HTTP access logging", listener("b4", 0, hcm({ accessLogOptions: { flushAccessLogOnNewRequest: true } })), /accessLogOptions\.flushAccessLogOnNewRequest: not implemented by tsmesh/],
    ["periodic TCP access logging", listener("b5", 0, tcp({ cluster: "x", accessLogOptions: { accessLogFlushInterval: { seconds: 5 } } })), /accessLogOptions\.accessLogFlushInterval: not implemented by tsmesh/],
    ["a malformed access log filter", listener("c2", 0, hcm({ accessLog: [{ name: "f", filter: { statusCodeFilter: {} }, typedConfig: { "@type": FILE_LOG, path: "/dev/null" } }] })), /accessLog\[0\]\.filter\.statusCodeFilter\.comparison: comparison is required/],
    ["tcp_proxy tunneling", listener("d", 0, tcp({ cluster: "x", tunnelingConfig: { hostname: "h" } })), /typedConfig\.tunnelingConfig: not implemented by tsmesh/],
    ["a tcp_proxy hash policy other than source_ip", listener("e", 0, tcp({ cluster: "x", hashPolicy: [{ filterState: { key: "k" } }] })), /typedConfig\.hashPolicy\[0\]: only source_ip hash policies are implemented/],
  ];
  for (const [what, l, re] of cases) {
    it(what, async () => {
      const p = new ProxyServer({ staticResources: { listeners: [l], clusters: [] }, node: { id: "x" }, ip: IP, log: () => {} });
      await assert.rejects(p.start(), re);
      await p.close();
    });
  }
});
