// The HTTP ext_authz filter end to end on loopback: a real proxy (static bootstrap) in front of a
// real backend, checking with a real HTTP check server and a real gRPC Authorization server through
// STATIC clusters — allow, deny, errors (5xx, gRPC status, unreachable and missing cluster,
// timeout), failure_mode_allow, status_on_error, the header propagation rules of both services,
// with_request_body limits, filter_enabled_metadata and deny_at_disable, per-route disable and
// context extensions, the UAEX flag and details, stats, and a client that leaves mid-check
// cancelling the call. Config errors are refused with their field path.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { GrpcCheckServer, HttpCheckServer } from "../ext-authz-servers.js";
import { httpListener, staticCluster } from "../protocol-helpers.js";
import { Backend, request } from "../helpers.js";

const IP = "127.0.214.1";
const BACKEND_IP = "127.0.214.2";
const AUTHZ_IP = "127.0.214.3";
const BACKEND_PORT = 18080;
const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";
const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const NAME = "envoy.filters.http.ext_authz";

const extAuthz = (config: ProtoObject, name = NAME): ProtoObject => ({ name, typedConfig: { "@type": EXT_AUTHZ, transportApiVersion: "V3", ...config } });
const grpcService = (cluster: string, timeout: ProtoObject = { seconds: 5 }): ProtoObject => ({ envoyGrpc: { clusterName: cluster }, timeout });
const route = (prefix: string, extra: ProtoObject = {}): ProtoObject => ({ match: { prefix }, route: { cluster: "backend" }, ...extra });
const matchers = (...names: string[]) => ({ patterns: names.map((exact) => ({ exact })) });

const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ext-authz-")), "access.log");

const FILE_LOG = { name: "envoy.access_loggers.file", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: logFile } };

function listener(name: string, port: number, httpFilters: ProtoObject[], routes: ProtoObject[] = [route("/")]): ProtoObject {
  return httpListener(name, IP, port, routes, { httpFilters: [...httpFilters, ROUTER], accessLog: [FILE_LOG] });
}

/** The access log line (Envoy's default format) of the request whose path has `id=ID` (polled: the file logger writes asynchronously). */
async function logLine(id: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const line = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8").split("\n").find((l) => l.includes(`id=${id} HTTP/1.1"`)) : undefined;
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no access log line for ${id}`);
}

const PORTS = { http: 18201, grpc: 18202, failOpen: 18203, missing: 18204, timeout: 18205, gated: 18206, denyAtDisable: 18207, partial: 18208, bytes: 18209 };

describe("ext_authz (HTTP filter)", () => {
  let backend: Backend;
  const httpCheck = new HttpCheckServer();
  const grpcCheck = new GrpcCheckServer();
  let proxy: ProxyServer;

  before(async () => {
    backend = await Backend.start("backend", BACKEND_IP, BACKEND_PORT);
    await httpCheck.start(AUTHZ_IP);
    await grpcCheck.start(AUTHZ_IP);
    const deadPort = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, AUTHZ_IP, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const httpService = {
      serverUri: { uri: "http://authz", cluster: "authz-http", timeout: { seconds: 5 } },
      pathPrefix: "/check",
      authorizationRequest: { allowedHeaders: matchers("x-mode"), headersToAdd: [{ key: "x-added", value: "added" }] },
      authorizationResponse: {
        allowedUpstreamHeaders: matchers("x-up"),
        allowedUpstreamHeadersToAppend: matchers("x-app"),
        allowedClientHeaders: matchers("x-deny-info"),
        allowedClientHeadersOnSuccess: matchers("x-client-ok"),
      },
    };
    proxy = new ProxyServer({
      staticResources: {
        listeners: [
          listener("http", PORTS.http, [extAuthz({ httpService })]),
          listener("grpc", PORTS.grpc, [extAuthz({ grpcService: grpcService("authz-grpc"), statusOnError: { code: "ServiceUnavailable" }, withRequestBody: { maxRequestBytes: 16 }, statPrefix: "g" })], [
            route("/off", { typedPerFilterConfig: { [NAME]: { "@type": PER_ROUTE, disabled: true } } }),
            route("/ctx", { typedPerFilterConfig: { [NAME]: { "@type": PER_ROUTE, checkSettings: { contextExtensions: { tenant: "t1" } } } } }),
            route("/"),
          ]),
          listener("failopen", PORTS.failOpen, [extAuthz({ grpcService: grpcService("authz-dead"), failureModeAllow: true, failureModeAllowHeaderAdd: true })]),
          listener("missing", PORTS.missing, [extAuthz({ grpcService: grpcService("no-such-cluster") })]),
          listener("timeout", PORTS.timeout, [extAuthz({ grpcService: grpcService("authz-grpc", { nanos: 200_000_000 }) })]),
          listener("gated", PORTS.gated, [
            // The first check writes dynamic metadata; the second runs only where it says "on".
            extAuthz({ grpcService: grpcService("authz-grpc") }),
            extAuthz(
              {
                httpService: { ...httpService, pathPrefix: "/gated" },
                filterEnabledMetadata: { filter: "envoy.filters.http.ext_authz", path: [{ key: "gate" }], value: { stringMatch: { exact: "on" } } },
              },
              "second",
            ),
          ]),
          listener("denyatdisable", PORTS.denyAtDisable, [extAuthz({ grpcService: grpcService("authz-grpc"), filterEnabled: { defaultValue: { numerator: 0 } }, denyAtDisable: { defaultValue: { value: true } } })]),
          listener("partial", PORTS.partial, [extAuthz({ grpcService: grpcService("authz-grpc"), withRequestBody: { maxRequestBytes: 8, allowPartialMessage: true } })]),
          listener("bytes", PORTS.bytes, [extAuthz({ grpcService: grpcService("authz-grpc"), withRequestBody: { maxRequestBytes: 64, packAsBytes: true }, includePeerCertificate: true })]),
        ],
        clusters: [
          staticCluster("backend", BACKEND_IP, BACKEND_PORT),
          staticCluster("authz-http", AUTHZ_IP, httpCheck.port),
          staticCluster("authz-grpc", AUTHZ_IP, grpcCheck.port, { protocol: "http2" }),
          staticCluster("authz-dead", AUTHZ_IP, deadPort, { protocol: "http2" }),
        ],
      },
      node: { id: "ext-authz-test" },
      ip: IP,
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await backend.close();
    await httpCheck.close();
    await grpcCheck.close();
  });

  const url = (port: number, p: string) => `http://${IP}:${port}${p}`;
  const lastSeen = () => backend.seen[backend.seen.length - 1];
  const counter = (name: string) => proxy.stats.counter(name).value;

  describe("http_service", () => {
    it("allowed: the check carries method, prefixed path, host, allowed and added headers only; the service's allowed headers reach upstream and client", async () => {
      httpCheck.handler = () => ({ status: 200, headers: { "x-up": "from-authz", "x-app": "appended", "x-client-ok": "yes", "x-not-allowed": "no", "x-envoy-auth-headers-to-remove": "x-secret, x-other" } });
      const before = backend.requests;
      const r = await request(url(PORTS.http, "/hello?q=1"), { headers: { host: "svc.example:8000", "x-mode": "allow", "x-secret": "s", "x-up": "client", "x-app": "client" } });
      assert.equal(r.status, 200);
      assert.equal(backend.requests, before + 1);
      const check = httpCheck.seen[httpCheck.seen.length - 1];
      assert.equal(check.method, "GET");
      assert.equal(check.url, "/check/hello?q=1");
      assert.equal(check.headers.host, "svc.example:8000");
      assert.equal(check.headers["x-mode"], "allow");
      assert.equal(check.headers["x-added"], "added");
      assert.equal(check.headers["content-length"], "0");
      assert.equal(check.headers["x-secret"], undefined, "headers not allowed stay out of the check");
      const up = lastSeen().headers;
      assert.equal(up["x-up"], "from-authz", "allowed_upstream_headers overwrite");
      assert.equal(up["x-app"], "client, appended", "allowed_upstream_headers_to_append add a value");
      assert.equal(up["x-secret"], undefined, "x-envoy-auth-headers-to-remove removes");
      assert.equal(up["x-not-allowed"], undefined);
      assert.equal(r.headers["x-client-ok"], "yes", "allowed_client_headers_on_success reach the client");
      assert.equal(r.headers["x-not-allowed"], undefined);
      assert.equal(counter("http.http.ext_authz.ok"), 1);
    });

    it("denied: the service's status, body and allowed client headers (plus www-authenticate) go back; flag UAEX", async () => {
      httpCheck.handler = () => ({ status: 401, headers: { "x-deny-info": "why", "www-authenticate": "Bearer", "x-hidden": "h", "content-type": "text/plain" }, body: "go away" });
      const before = backend.requests;
      const r = await request(url(PORTS.http, "/x?id=h2"));
      assert.equal(r.status, 401);
      assert.equal(r.body, "go away");
      assert.equal(r.headers["x-deny-info"], "why");
      assert.equal(r.headers["www-authenticate"], "Bearer");
      assert.equal(r.headers["x-hidden"], undefined);
      assert.equal(backend.requests, before);
      assert.match(await logLine("h2"), / 401 UAEX /);
      assert.equal(counter("http.http.ext_authz.denied"), 1);
    });

    it("a 5xx from the service is an error: 403 (status_on_error's default), flag UAEX", async () => {
      httpCheck.handler = () => ({ status: 503, body: "down" });
      const r = await request(url(PORTS.http, "/x?id=h3"));
      assert.equal(r.status, 403);
      assert.equal(r.body, "");
      assert.match(await logLine("h3"), / 403 UAEX /);
      assert.equal(counter("http.http.ext_authz.error"), 1);
    });

    it("a client that leaves mid-check cancels the check call", async () => {
      httpCheck.handler = () => ({ status: 200, hang: true });
      const abandoned = httpCheck.abandoned;
      const seen = httpCheck.seen.length;
      const req = http.request({ host: IP, port: PORTS.http, path: "/hang", agent: false });
      req.on("error", () => {});
      req.end();
      for (let i = 0; i < 200 && httpCheck.seen.length === seen; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(httpCheck.seen.length, seen + 1, "the check reached the service");
      req.destroy();
      for (let i = 0; i < 200 && httpCheck.abandoned === abandoned; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(httpCheck.abandoned, abandoned + 1, "the service saw the check call go away");
    });
  });

  describe("grpc_service", () => {
    it("allowed: the CheckRequest's attributes are Envoy's; ok_response headers set, append, remove and response headers apply", async () => {
      grpcCheck.handler = () => ({
        response: {
          status: { code: 0 },
          okResponse: {
            headers: [{ header: { key: "x-set", value: "new" } }, { header: { key: "x-app", value: "two" }, append: { value: true } }, { header: { key: "x-absent", value: "v" }, append: { value: true } }],
            headersToRemove: ["x-gone", ":path", "host"],
            responseHeadersToAdd: [{ header: { key: "x-resp", value: "r" } }],
          },
        },
      });
      const r = await request(url(PORTS.grpc, "/p?a=b"), { headers: { host: "svc:80", "x-set": "old", "x-app": "one", "x-gone": "g" } });
      assert.equal(r.status, 200);
      assert.equal(r.headers["x-resp"], "r");
      const up = lastSeen().headers;
      assert.equal(up["x-set"], "new");
      assert.equal(up["x-app"], "one,two", "append joins with ','");
      assert.equal(up["x-absent"], undefined, "append adds nothing to a header the request lacks");
      assert.equal(up["x-gone"], undefined);
      assert.equal(lastSeen().url, "/p?a=b", ":path cannot be removed");
      const a = grpcCheck.seen[grpcCheck.seen.length - 1].attributes;
      assert.equal(a.source?.address?.socketAddress?.address, "127.0.0.1");
      assert.equal(a.destination?.address?.socketAddress?.address, IP);
      assert.equal(a.destination?.address?.socketAddress?.portValue, PORTS.grpc);
      const h = a.request?.http;
      assert.equal(h?.method, "GET");
      assert.equal(h?.path, "/p?a=b");
      assert.equal(h?.host, "svc:80");
      assert.equal(h?.scheme, "http");
      assert.equal(h?.protocol, "HTTP/1.1");
      assert.match(h?.id ?? "", /^\d+$/);
      assert.equal(h?.headers?.[":authority"], "svc:80");
      assert.equal(h?.headers?.[":method"], "GET");
      assert.equal(h?.headers?.[":path"], "/p?a=b");
      assert.equal(h?.headers?.["x-set"], "old", "without allowed_headers every header goes into a gRPC check");
      assert.deepEqual(a.metadataContext, {});
      assert.equal(counter("http.grpc.ext_authz.g.ok"), 1, "stat_prefix scopes the stats");
    });

    it("denied: DeniedHttpResponse's status, headers and body", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 7 }, deniedResponse: { status: { code: "Unauthorized" }, body: "nope", headers: [{ header: { key: "x-why", value: "policy" } }] } } });
      const r = await request(url(PORTS.grpc, "/x?id=g2"));
      assert.equal(r.status, 401);
      assert.equal(r.body, "nope");
      assert.equal(r.headers["x-why"], "policy");
      assert.match(await logLine("g2"), / 401 UAEX /);
    });

    it("denied without a DeniedHttpResponse: 403", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 7 } } });
      assert.equal((await request(url(PORTS.grpc, "/x"))).status, 403);
    });

    it("a gRPC error status answers status_on_error", async () => {
      grpcCheck.handler = () => ({ error: grpc.status.UNAVAILABLE });
      const r = await request(url(PORTS.grpc, "/x?id=g3"));
      assert.equal(r.status, 503);
      assert.match(await logLine("g3"), / 503 UAEX /);
    });

    it("with_request_body: the body goes into the check (x-envoy-auth-partial-body: false); past max_request_bytes the request gets 413 unchecked", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 0 } } });
      const seen = grpcCheck.seen.length;
      const r = await request(url(PORTS.grpc, "/b"), { method: "POST", body: "small body" });
      assert.equal(r.status, 200);
      assert.equal(lastSeen().body, "small body", "the upstream gets the whole body");
      const h = grpcCheck.seen[grpcCheck.seen.length - 1].attributes.request?.http;
      assert.equal(h?.body, "small body");
      assert.equal(h?.headers?.["x-envoy-auth-partial-body"], "false");
      const big = await request(url(PORTS.grpc, "/b"), { method: "POST", body: "x".repeat(40) });
      assert.equal(big.status, 413);
      assert.equal(grpcCheck.seen.length, seen + 1, "no check for the oversized body");
    });

    it("allow_partial_message: the first max_request_bytes go into the check, the whole body upstream", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 0 } } });
      const r = await request(url(PORTS.partial, "/b"), { method: "POST", body: "0123456789abcdef" });
      assert.equal(r.status, 200);
      assert.equal(lastSeen().body, "0123456789abcdef");
      const h = grpcCheck.seen[grpcCheck.seen.length - 1].attributes.request?.http;
      assert.equal(h?.body, "01234567");
      assert.equal(h?.headers?.["x-envoy-auth-partial-body"], "true");
    });

    it("pack_as_bytes sends raw_body", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 0 } } });
      assert.equal((await request(url(PORTS.bytes, "/b"), { method: "POST", body: "raw" })).status, 200);
      const h = grpcCheck.seen[grpcCheck.seen.length - 1].attributes.request?.http;
      assert.equal(Buffer.from(h?.rawBody ?? []).toString(), "raw");
      assert.equal(h?.body, undefined);
    });

    it("per route: disabled skips the check; check_settings' context extensions reach the service", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 7 } } });
      const seen = grpcCheck.seen.length;
      assert.equal((await request(url(PORTS.grpc, "/off"))).status, 200);
      assert.equal(grpcCheck.seen.length, seen);
      assert.equal((await request(url(PORTS.grpc, "/ctx"))).status, 403);
      assert.deepEqual(grpcCheck.seen[grpcCheck.seen.length - 1].attributes.contextExtensions, { tenant: "t1" });
    });

    it("query parameters: set replaces every value, remove drops the key, the query is rebuilt sorted by key (Envoy's QueryParamsMulti)", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 0 }, okResponse: { queryParametersToSet: [{ key: "b", value: "new" }, { key: "c", value: "3" }], queryParametersToRemove: ["a"] } } });
      const r = await request(url(PORTS.grpc, "/q?z=9&a=1&b=1&b=2"));
      assert.equal(r.status, 200);
      assert.equal(lastSeen().url, "/q?b=new&c=3&z=9");
    });

    it("a query parameter that would change the request line refuses the request: 500 ext_authz_invalid", async () => {
      grpcCheck.handler = () => ({ response: { status: { code: 0 }, okResponse: { queryParametersToSet: [{ key: "x", value: "a b" }] } } });
      const before = backend.requests;
      const r = await request(url(PORTS.grpc, "/q?id=g9"));
      assert.equal(r.status, 500);
      assert.equal(backend.requests, before);
      assert.match(await logLine("g9"), / 500 - /);
    });
  });

  it("failure_mode_allow: an unreachable service lets the request through with x-envoy-auth-failure-mode-allowed", async () => {
    const r = await request(url(PORTS.failOpen, "/x"));
    assert.equal(r.status, 200);
    assert.equal(lastSeen().headers["x-envoy-auth-failure-mode-allowed"], "true");
    assert.equal(counter("http.failopen.ext_authz.error"), 1);
    assert.equal(counter("http.failopen.ext_authz.failure_mode_allowed"), 1);
  });

  it("a cluster that does not exist is an error (403)", async () => {
    const r = await request(url(PORTS.missing, "/x?id=m1"));
    assert.equal(r.status, 403);
    assert.match(await logLine("m1"), / 403 UAEX /);
  });

  it("a check slower than the timeout is an error; the service sees the call cancelled", async () => {
    grpcCheck.handler = () => ({ delayMs: 3000, response: { status: { code: 0 } } });
    const cancelled = grpcCheck.cancelled;
    const r = await request(url(PORTS.timeout, "/x"));
    assert.equal(r.status, 403);
    assert.equal(counter("http.timeout.ext_authz.error"), 1);
    for (let i = 0; i < 200 && grpcCheck.cancelled === cancelled; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(grpcCheck.cancelled, cancelled + 1);
  });

  it("filter_enabled_metadata: the second filter checks only when the first one's dynamic metadata says so", async () => {
    grpcCheck.handler = (a) => ({ response: { status: { code: 0 }, dynamicMetadata: a.request?.http?.headers?.["x-gate"] === "on" ? { fields: { gate: { stringValue: "on" } } } : undefined } });
    httpCheck.handler = () => ({ status: 403, body: "second says no" });
    const off = await request(url(PORTS.gated, "/x"));
    assert.equal(off.status, 200);
    assert.equal(counter("http.gated.ext_authz.disabled"), 1);
    const on = await request(url(PORTS.gated, "/x"), { headers: { "x-gate": "on" } });
    assert.equal(on.status, 403);
    assert.equal(on.body, "second says no");
    assert.equal(httpCheck.seen[httpCheck.seen.length - 1].url, "/gated/x");
  });

  it("deny_at_disable: a disabled filter denies with status_on_error", async () => {
    const seen = grpcCheck.seen.length;
    const r = await request(url(PORTS.denyAtDisable, "/x?id=d1"));
    assert.equal(r.status, 403);
    assert.equal(grpcCheck.seen.length, seen);
    assert.match(await logLine("d1"), / 403 UAEX /);
  });
});

describe("ext_authz config is refused with its field path", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    ["no service", {}, /httpFilters\[0\]\.typedConfig: one of grpc_service or http_service is required/],
    ["transport V2", { grpcService: grpcService("c"), transportApiVersion: "V2" }, /transportApiVersion: transport_api_version V2 is not supported/],
    ["google_grpc", { grpcService: { googleGrpc: { targetUri: "x", statPrefix: "s" } } }, /grpcService\.googleGrpc: google_grpc is not implemented/],
    ["http service without timeout", { httpService: { serverUri: { uri: "http://a", cluster: "c" } } }, /httpService\.serverUri\.timeout: timeout is required/],
    ["max_request_bytes 0", { grpcService: grpcService("c"), withRequestBody: { maxRequestBytes: 0 } }, /withRequestBody\.maxRequestBytes: max_request_bytes must be greater than 0/],
    ["metadata matcher without path", { grpcService: grpcService("c"), filterEnabledMetadata: { filter: "f", value: { presentMatch: true } } }, /filterEnabledMetadata\.path: path needs at least one segment/],
    ["typed metadata context", { grpcService: grpcService("c"), typedMetadataContextNamespaces: ["x"] }, /typedMetadataContextNamespaces: typed metadata context is not implemented/],
  ];
  for (const [what, config, re] of cases) {
    it(what, async () => {
      const p = new ProxyServer({ staticResources: { listeners: [listener("bad", 0, [extAuthz(config)])], clusters: [] }, node: { id: "bad" }, ip: IP });
      await assert.rejects(p.start(), re);
      await p.close().catch(() => {});
    });
  }
});
