// Istio's sample ext-authz server (`tsmesh app ext-authz`) answering as the Go original: the HTTP
// check (allow on `x-ext-authz: allow`, else 403 with the sample's body; the result, received and
// override headers), the gRPC v3 Check (the header decides, else the source principal's service
// account), its log lines; and behind a real proxy's ext_authz filter, as Istio's authz-custom task
// uses it (gRPC provider, and the HTTP provider with Istio's allowed_headers).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { DENY_BODY, extAuthz } from "../../src/apps/ext-authz/server.js";
import { goHeaderMap } from "../../src/apps/ext-authz/text.js";
import type { RunningApp } from "../../src/apps/types.js";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { wireDecode, wireEncode } from "../../src/envoy/wire.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { Backend, request } from "../proxy/helpers.js";
import { httpListener, staticCluster } from "../proxy/protocol-helpers.js";

const APP_IP = "127.0.216.1";
const PROXY_IP = "127.0.216.2";
const BACKEND_IP = "127.0.216.3";

const CheckClient = grpc.makeGenericClientConstructor(
  {
    Check: {
      path: "/envoy.service.auth.v3.Authorization/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: ProtoObject) => wireEncode("envoy.service.auth.v3.CheckRequest", v),
      requestDeserialize: (b: Buffer) => wireDecode("envoy.service.auth.v3.CheckRequest", b),
      responseSerialize: (v: ProtoObject) => wireEncode("envoy.service.auth.v3.CheckResponse", v),
      responseDeserialize: (b: Buffer) => wireDecode("envoy.service.auth.v3.CheckResponse", b),
    },
  },
  "Authorization",
);

interface CheckResponseView {
  status?: { code?: number };
  okResponse?: { headers?: Array<{ header?: { key?: string; value?: string } }> };
  deniedResponse?: { status?: { code?: string }; body?: string; headers?: Array<{ header?: { key?: string; value?: string } }> };
}

describe("tsmesh app ext-authz", () => {
  let app: RunningApp;
  const logs: string[] = [];
  let httpAddr = "";
  let client: InstanceType<typeof CheckClient>;

  before(async () => {
    app = await extAuthz({ argv: ["-http", "0", "--grpc=0"], env: { HOST: APP_IP }, log: (l) => logs.push(l) });
    [httpAddr] = app.addresses;
    client = new CheckClient(app.addresses[1], grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await app.close();
  });

  const check = (attributes: ProtoObject) =>
    new Promise<CheckResponseView>((resolve, reject) =>
      (client as unknown as { Check: (r: ProtoObject, cb: (e: Error | null, v: CheckResponseView) => void) => void }).Check({ attributes }, (e, v) => (e ? reject(e) : resolve(v))),
    );
  const headersOf = (list: Array<{ header?: { key?: string; value?: string } }> | undefined) => Object.fromEntries((list ?? []).map((h) => [h.header?.key, h.header?.value]));

  it("logs its start lines as the Go sample", () => {
    assert.match(logs[0], /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Starting HTTP server at 127\.0\.216\.1:\d+$/);
    assert.match(logs[1], /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Starting gRPC server at 127\.0\.216\.1:\d+$/);
  });

  it("HTTP: x-ext-authz: allow → 200 with the result, override and received headers", async () => {
    const r = await request(`http://${httpAddr}/headers`, { headers: { host: "httpbin.foo:8000", "x-ext-authz": "allow", "x-ext-authz-additional-header-override": "mine" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-ext-authz-check-result"], "allowed");
    assert.equal(r.headers["x-ext-authz-additional-header-override"], "mine");
    assert.match(String(r.headers["x-ext-authz-check-received"]), /^GET httpbin\.foo:8000\/headers, headers: map\[.*X-Ext-Authz:\[allow\].*\], body: \[\]$/);
    assert.match(logs[logs.length - 1], /\[HTTP\]\[allowed\]: GET httpbin\.foo:8000\/headers, headers: map\[/);
  });

  it("HTTP: anything else → 403 with the sample's body", async () => {
    const r = await request(`http://${httpAddr}/x`, { headers: { "x-ext-authz": "deny" } });
    assert.equal(r.status, 403);
    assert.equal(r.body, DENY_BODY);
    assert.equal(r.body, "denied by ext_authz for not found header `x-ext-authz: allow` in the request");
    assert.equal(r.headers["x-ext-authz-check-result"], "denied");
    assert.match(logs[logs.length - 1], /\[HTTP\]\[denied\]: GET /);
  });

  it("gRPC: the header decides when present; otherwise the source principal's service account (a)", async () => {
    const http = (headers: Record<string, string>) => ({ request: { http: { host: "httpbin.foo:8000", path: "/headers", headers } } });
    const ok = await check(http({ "x-ext-authz": "allow" }));
    assert.equal(ok.status?.code ?? 0, 0);
    const h = headersOf(ok.okResponse?.headers);
    assert.equal(h["x-ext-authz-check-result"], "allowed");
    assert.equal(h["x-ext-authz-additional-header-override"], "grpc-additional-header-override-value");
    assert.match(h["x-ext-authz-check-received"] ?? "", /^request:\{http:\{path:"\/headers" host:"httpbin\.foo:8000" headers:\{key:"x-ext-authz" value:"allow"\}\}\}$|^request:\{http:\{headers:\{key:"x-ext-authz" value:"allow"\} path:"\/headers" host:"httpbin\.foo:8000"\}\}$/);
    assert.match(logs[logs.length - 1], /\[gRPCv3\]\[allowed\]: httpbin\.foo:8000\/headers, attributes: request:\{http:\{/);

    const denied = await check(http({ "x-ext-authz": "deny" }));
    assert.equal(denied.status?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(denied.deniedResponse?.status?.code, "Forbidden");
    assert.equal(denied.deniedResponse?.body, DENY_BODY);
    assert.equal(headersOf(denied.deniedResponse?.headers)["x-ext-authz-check-result"], "denied");

    const bySa = await check({ source: { principal: "spiffe://cluster.local/ns/foo/sa/a" } });
    assert.equal(bySa.status?.code ?? 0, 0);
    const otherSa = await check({ source: { principal: "spiffe://cluster.local/ns/foo/sa/sleep" } });
    assert.equal(otherSa.status?.code, grpc.status.PERMISSION_DENIED);
  });

  it("Go's header map printing: canonical keys, sorted, Host left out", () => {
    assert.equal(goHeaderMap(["x-b", "2", "Host", "h", "accept", "*/*", "X-B", "3"]), "map[Accept:[*/*] X-B:[2 3]]");
  });

  it("unknown flags are refused", async () => {
    await assert.rejects(extAuthz({ argv: ["-port", "1"], env: {}, log: () => {} }), /unknown flag -port/);
  });

  describe("behind the proxy's ext_authz filter (Istio's authz-custom task)", () => {
    let proxy: ProxyServer;
    let backend: Backend;
    const EXT = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
    const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const routes = [{ match: { prefix: "/" }, route: { cluster: "backend" } }];

    before(async () => {
      backend = await Backend.start("httpbin", BACKEND_IP, 18480);
      const [, grpcAddr] = app.addresses;
      const port = (a: string) => Number(a.slice(a.lastIndexOf(":") + 1));
      // As Istio's extauthz builder emits them for the sample's two providers.
      const grpcFilter = { name: "envoy.filters.http.ext_authz", typedConfig: { "@type": EXT, transportApiVersion: "V3", grpcService: { envoyGrpc: { clusterName: "ext-authz-grpc", authority: "ext-authz.foo.svc.cluster.local" }, timeout: { seconds: 600 } } } };
      const httpFilter = {
        name: "envoy.filters.http.ext_authz",
        typedConfig: {
          "@type": EXT,
          transportApiVersion: "V3",
          httpService: { serverUri: { uri: "http://ext-authz.foo.svc.cluster.local", cluster: "ext-authz-http", timeout: { seconds: 600 } } },
          allowedHeaders: { patterns: [{ exact: "x-ext-authz", ignoreCase: true }] },
        },
      };
      proxy = new ProxyServer({
        staticResources: {
          listeners: [httpListener("grpc", PROXY_IP, 18481, routes, { httpFilters: [grpcFilter, ROUTER] }), httpListener("http", PROXY_IP, 18482, routes, { httpFilters: [httpFilter, ROUTER] })],
          clusters: [staticCluster("backend", BACKEND_IP, 18480), staticCluster("ext-authz-grpc", APP_IP, port(grpcAddr), { protocol: "http2" }), staticCluster("ext-authz-http", APP_IP, port(httpAddr))],
        },
        node: { id: "ext-authz-app-test" },
        ip: PROXY_IP,
      });
      await proxy.start();
    });

    after(async () => {
      await proxy.close();
      await backend.close();
    });

    for (const [provider, port] of [
      ["gRPC", 18481],
      ["HTTP", 18482],
    ] as const) {
      it(`${provider} provider: x-ext-authz: deny → 403 with the sample's body; allow → the request reaches httpbin`, async () => {
        const denied = await request(`http://${PROXY_IP}:${port}/headers`, { headers: { host: "httpbin.foo:8000", "x-ext-authz": "deny" } });
        assert.equal(denied.status, 403);
        assert.equal(denied.body, DENY_BODY);
        assert.equal(denied.headers["x-ext-authz-check-result"], "denied");
        const before = backend.requests;
        const allowed = await request(`http://${PROXY_IP}:${port}/headers`, { headers: { host: "httpbin.foo:8000", "x-ext-authz": "allow" } });
        assert.equal(allowed.status, 200);
        assert.equal(backend.requests, before + 1);
        const seen = backend.seen[backend.seen.length - 1].headers;
        if (provider === "gRPC") {
          // The OkHttpResponse headers (no append): set on the upstream request, as the task's output shows.
          assert.equal(seen["x-ext-authz-check-result"], "allowed");
          assert.equal(seen["x-ext-authz-additional-header-override"], "grpc-additional-header-override-value");
        } else {
          // Istio's HTTP provider forwards no check-response headers unless headersToUpstreamOnAllow says so.
          assert.equal(seen["x-ext-authz-check-result"], undefined);
        }
      });
    }

    it("the gRPC log line names the request and the peers as the task shows", () => {
      const line = logs.filter((l) => l.includes("[gRPCv3][denied]: httpbin.foo:8000/headers")).pop() ?? "";
      assert.match(line, /attributes: source:\{address:\{socket_address:\{address:"127\.0\.0\.1" port_value:\d+\}\}\} destination:\{address:\{socket_address:\{address:"127\.0\.216\.2" port_value:18481\}\}\} request:\{time:\{seconds:\d+ nanos:\d+\} http:\{id:"\d+" method:"GET" headers:\{key:":authority" value:"httpbin\.foo:8000"\}/);
      assert.match(line, /headers:\{key:"x-ext-authz" value:"deny"\}/);
      assert.match(line, / path:"\/headers" host:"httpbin\.foo:8000" scheme:"http" protocol:"HTTP\/1\.1"\}\} metadata_context:\{\}$/);
    });
  });
});
