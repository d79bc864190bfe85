// The connection manager's request-shaping options, end to end: normalize_path / merge_slashes /
// path_with_escaped_slashes_action change what routes match and what the backend gets (a `..`
// cannot climb past a route's prefix), x-forwarded-client-cert from a client without a
// certificate never reaches the backend (SANITIZE_SET / APPEND_FORWARD remove it, ALWAYS_FORWARD_ONLY
// keeps it), and the connection idle timeout closes an idle connection. Plus the table of path
// normalizations.
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import type * as v3 from "../../../src/envoy/types.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { normalizePath, type PathNormalization } from "../../../src/proxy/http/path-normalization.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";

describe("path normalization (Envoy's canonicalizer through the URL parser)", () => {
  const canonical: PathNormalization = { normalizePath: true, mergeSlashes: false, escapedSlashes: "KEEP_UNCHANGED" };
  const cases: Array<[string, PathNormalization, string, string | undefined]> = [
    ["plain paths unchanged", canonical, "/a/b.html?x=/../y", "/a/b.html?x=/../y"],
    ["dot segments", canonical, "/a/./b/../c", "/a/c"],
    ["cannot climb above the root", canonical, "/../../etc/passwd", "/etc/passwd"],
    ["encoded dots", canonical, "/public/%2e%2e/admin", "/admin"],
    ["backslashes are slashes", canonical, "/public\\..\\admin", "/admin"],
    ["spaces and quotes encoded", canonical, '/a b"c', "/a%20b%22c"],
    ["the query is untouched", canonical, "/a/../b?p=../q", "/b?p=../q"],
    ["merge_slashes", { ...canonical, mergeSlashes: true }, "//a///b/", "/a/b/"],
    ["escaped slashes kept by default", canonical, "/a%2Fb", "/a%2Fb"],
    ["REJECT_REQUEST", { ...canonical, escapedSlashes: "REJECT_REQUEST" }, "/a%2fb", undefined],
    ["UNESCAPE_AND_FORWARD", { ...canonical, escapedSlashes: "UNESCAPE_AND_FORWARD" }, "/a%2F..%2Fb", "/b"],
    ["absolute-form targets are left alone", canonical, "http://h/a/../b", "http://h/a/../b"],
  ];
  for (const [what, cfg, input, want] of cases) it(what, () => assert.equal(normalizePath(cfg, input), want));
});

const IP = "127.0.73.1";
const BACKEND = "127.0.73.2";
const ROUTER: v3.HttpFilter = { name: "router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

describe("HCM options end to end", () => {
  const seen: Array<{ url: string; xfcc: string | undefined }> = [];
  let backend: http.Server;
  let proxy: ProxyServer;
  const P = { norm: 18161, keep: 18162, always: 18163, idle: 18164 };

  before(async () => {
    backend = http.createServer((req, res) => {
      seen.push({ url: req.url ?? "", xfcc: req.headers["x-forwarded-client-cert"] as string | undefined });
      res.end("ok");
    });
    await new Promise<void>((r) => backend.listen(0, BACKEND, () => r()));
    const port = (backend.address() as net.AddressInfo).port;
    const listener = (name: string, lport: number, hcm: v3.HttpConnectionManager, routes: v3.Route[] = [{ match: { prefix: "/" }, route: { cluster: "b" } }]): v3.Listener => ({
      name,
      address: { socketAddress: { address: IP, portValue: lport } },
      filterChains: [{ filters: [{ name: "hcm", typedConfig: { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters: [ROUTER], ...hcm } }] }],
    });
    proxy = new ProxyServer({
      staticResources: {
        clusters: [{ name: "b", type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: "b", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: BACKEND, portValue: port } } } }] }] } }],
        listeners: [
          // Istio's sidecar settings: normalize, keep escaped slashes; only /public is routed.
          listener("norm", P.norm, { normalizePath: { value: true }, mergeSlashes: true, pathWithEscapedSlashesAction: "REJECT_REQUEST", forwardClientCertDetails: "SANITIZE_SET" }, [{ match: { prefix: "/public/" }, route: { cluster: "b" } }]),
          listener("keep", P.keep, { forwardClientCertDetails: "APPEND_FORWARD" }),
          listener("always", P.always, { forwardClientCertDetails: "ALWAYS_FORWARD_ONLY" }),
          listener("idle", P.idle, { commonHttpProtocolOptions: { idleTimeout: { nanos: 200_000_000 } } }),
        ],
      },
      node: { id: "hcm-options" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  /** A raw HTTP/1.1 request (the path exactly as written), resolving with the status. */
  const raw = (port: number, path: string, extra = ""): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: IP, port });
      let got = "";
      s.on("data", (c: Buffer) => (got += c.toString("latin1")));
      s.on("error", reject);
      s.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)));
      s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${extra}\r\n`);
    });

  it("normalize_path: routes and the backend see the canonical path; `..` cannot leave the routed prefix", async () => {
    assert.equal(await raw(P.norm, "/public/./a//b"), 200);
    assert.equal(seen[seen.length - 1].url, "/public/a/b");
    const before = seen.length;
    assert.equal(await raw(P.norm, "/public/../admin"), 404, "/admin is not routed");
    assert.equal(await raw(P.norm, "/public/%2e%2e/admin"), 404);
    assert.equal(await raw(P.norm, "/public/a%2Fb"), 400, "REJECT_REQUEST");
    assert.equal(seen.length, before, "none of them reached the backend");
  });

  it("x-forwarded-client-cert from a client without a certificate is removed, unless ALWAYS_FORWARD_ONLY", async () => {
    const forged = "x-forwarded-client-cert: By=spiffe://cluster.local/ns/default/sa/admin;Hash=00\r\n";
    for (const port of [P.norm, P.keep]) {
      await raw(port, "/public/x", forged);
      assert.equal(seen[seen.length - 1].xfcc, undefined);
    }
    await raw(P.always, "/x", forged);
    assert.equal(seen[seen.length - 1].xfcc, "By=spiffe://cluster.local/ns/default/sa/admin;Hash=00");
  });

  it("the connection idle timeout closes a keep-alive connection that stays idle", async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: IP, port: P.idle });
      s.on("data", () => {});
      s.on("error", () => {});
      s.on("close", () => resolve(true));
      s.write("GET /x HTTP/1.1\r\nhost: x\r\n\r\n");
      // (Lazy timers close it between one and two timeouts after the last request.)
      setTimeout(() => resolve(false), 10_000).unref();
    });
    assert.ok(closed, "the proxy closed the idle connection");
  });
});
