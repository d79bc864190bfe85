// Route hash policies end to end over RING_HASH with three real backends: a cookie policy with a
// ttl creates the cookie when the request has none (Envoy's Set-Cookie: name="<hex>"; Max-Age; Path;
// attributes; HttpOnly) and the client that sends it back sticks to one backend (Istio's sticky
// sessions for new users); without a ttl nothing is set; a header policy's regex_rewrite hashes the
// rewritten value.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";

const IP = "127.0.76.1";
const BACKENDS = ["127.0.76.2", "127.0.76.3", "127.0.76.4"];
const PORT = 18141;

describe("route hash policies over RING_HASH", () => {
  const servers: http.Server[] = [];
  let proxy: ProxyServer;

  before(async () => {
    let port = 0;
    for (const [i, ip] of BACKENDS.entries()) {
      const s = http.createServer((req, res) => {
        req.resume();
        res.end(`b${i}`);
      });
      await new Promise<void>((r) => s.listen(port, ip, () => r()));
      port = (s.address() as { port: number }).port; // the same port on every address
      servers.push(s);
    }
    const cluster: ProtoObject = {
      name: "ring",
      type: "STATIC",
      lbPolicy: "RING_HASH",
      connectTimeout: { seconds: 1 },
      loadAssignment: { clusterName: "ring", endpoints: [{ lbEndpoints: BACKENDS.map((ip) => ({ endpoint: { address: { socketAddress: { address: ip, portValue: port } } } })) }] },
    };
    const route = (prefix: string, hashPolicy: ProtoObject[]) => ({ match: { prefix }, route: { cluster: "ring", hashPolicy } });
    const routes = [
      route("/ttl", [{ cookie: { name: "sticky", ttl: { seconds: 3600 }, path: "/ttl", attributes: [{ name: "SameSite", value: "Strict" }, { name: "Secure" }] } }]),
      route("/nottl", [{ cookie: { name: "plain" } }]),
      route("/rewrite", [{ header: { headerName: "x-user", regexRewrite: { pattern: { regex: "-[0-9]+$" }, substitution: "" } } }]),
    ];
    proxy = new ProxyServer({
      staticResources: {
        clusters: [cluster],
        listeners: [
          {
            name: "l",
            address: { socketAddress: { address: IP, portValue: PORT } },
            filterChains: [{ filters: [{ name: "hcm", typedConfig: { "@type": HCM_TYPE, statPrefix: "l", routeConfig: { name: "r", virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters: [{ name: "router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }] } }] }],
          },
        ],
      },
      node: { id: "hash-test" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  /** One request on its own connection (each from a different source port). */
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ body: string; setCookie: string[] | undefined }>((resolve, reject) => {
      const req = http.request({ host: IP, port: PORT, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ body: Buffer.concat(chunks).toString(), setCookie: res.headers["set-cookie"] }));
      });
      req.on("error", reject);
      req.end();
    });

  it("a ttl cookie is created when missing, and the client that sends it back sticks to one backend", async () => {
    const first = await get("/ttl");
    assert.equal(first.setCookie?.length, 1);
    const m = /^sticky="([0-9a-f]{16})"; Max-Age=3600; Path=\/ttl; SameSite=Strict; Secure; HttpOnly$/.exec(first.setCookie![0]);
    assert.ok(m, first.setCookie![0]);
    // The backend for the cookie's value, every time, whatever the connection.
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await get("/ttl", { cookie: `other=1; sticky="${m[1]}"` });
      assert.equal(r.setCookie, undefined, "a request with the cookie gets none");
      seen.add(r.body);
    }
    assert.equal(seen.size, 1);
    assert.ok(seen.has(first.body), "the first request already went where the cookie leads");
    // New users (new connections, no cookie) get their own cookies and spread over the backends.
    const values = new Set<string>();
    for (let i = 0; i < 12; i++) values.add((await get("/ttl")).setCookie![0]);
    assert.ok(values.size > 1, "each connection gets its own cookie value");
  });

  it("without a ttl nothing is set", async () => {
    assert.equal((await get("/nottl")).setCookie, undefined);
  });

  it("a header policy hashes the regex-rewritten value", async () => {
    const backends = new Set<string>();
    for (let i = 0; i < 10; i++) backends.add((await get("/rewrite", { "x-user": `alice-${i}` })).body);
    assert.equal(backends.size, 1, "alice-0 … alice-9 all hash as alice");
  });
});
