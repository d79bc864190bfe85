// envoy.filters.http.jwt_authn through a real proxy listener, a real backend and a real JWKS server:
// Istio's sample keys and tokens (and tokens signed here with its key: expired, not yet valid,
// other issuer, other audience), the requirement table (provider, provider_and_audiences,
// requires_any with allow_missing as Istio writes it, requires_all, allow_missing_or_failed,
// per-route disabled and requirement_name), Envoy's 401/403 bodies, www-authenticate and gRPC
// status, what reaches the backend (payload and claim headers, the token removed, spoofed copies
// dropped), a route matched on the claims jwt_authn wrote to dynamic metadata (Istio's
// @request.auth.claims gateway routing, with clear_route_cache), and a remote JWKS fetched through
// a STATIC cluster: cached, and when its server is down only token-bearing requests fail.
import assert from "node:assert/strict";
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { packageRoot } from "../../../src/core/paths.js";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";

const FIX = join(packageRoot(), "test", "fixtures", "jwt");
const JWKS = readFileSync(join(FIX, "jwks.json"), "utf8");
const DEMO = readFileSync(join(FIX, "demo.jwt"), "utf8").trim();
const GROUPS = readFileSync(join(FIX, "groups-scope.jwt"), "utf8").trim();
const KEY: KeyObject = createPrivateKey(readFileSync(join(FIX, "key.pem")));
const KID = "DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ";
const ISS = "testing@secure.istio.io";

const IP = "127.0.214.1";
const BACKEND_IP = "127.0.214.2";
const JWKS_IP = "127.0.214.3";
const PORTS = { local: 18401, remote: 18402, down: 18403 };

const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const JWT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
const NS = "envoy.filters.http.jwt_authn";

const now = (): number => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>): Promise<string> => new SignJWT({ iss: ISS, sub: ISS, ...claims }).setProtectedHeader({ alg: "RS256", kid: KID }).sign(KEY);

class Backend {
  readonly seen: http.IncomingHttpHeaders[] = [];
  readonly server = http.createServer((req, res) => {
    this.seen.push(req.headers);
    req.resume();
    req.on("end", () => res.end("backend"));
  });
  port = 0;
  async start(ip: string): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, ip, () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function staticCluster(name: string, ip: string, port: number): ProtoObject {
  return { name, type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: port } } } }] }] } };
}

function listener(name: string, port: number, jwt: ProtoObject, routes: ProtoObject[]): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: { "@type": HCM_TYPE, statPrefix: name, routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters: [{ name: NS, typedConfig: { "@type": JWT_TYPE, ...jwt } }, ROUTER] },
          },
        ],
      },
    ],
  };
}

const toBackend = (prefix: string, extra: ProtoObject = {}): ProtoObject => ({ match: { prefix }, route: { cluster: "backend" }, ...extra });
const rule = (prefix: string, requires?: ProtoObject, extra: ProtoObject = {}): ProtoObject => ({ match: { prefix }, ...(requires ? { requires } : {}), ...extra });
const istioAny = (provider: string): ProtoObject => ({ requiresAny: { requirements: [{ providerName: provider }, { allowMissing: {} }] } });

function send(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const method = headers["access-control-request-method"] !== undefined ? "OPTIONS" : "GET";
    const req = http.request({ host: IP, port, path, method, headers: { host: "example.test", ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}
const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

describe("jwt_authn through a proxy listener", () => {
  const backend = new Backend();
  const jwksServer = new Backend();
  let jwksHits = 0;
  let proxy: ProxyServer;
  let deadPort = 0;
  const stat = (listenerName: string, s: string): number => proxy.stats.counter(`http.${listenerName}.jwt_authn.${s}`).value;

  before(async () => {
    await backend.start(BACKEND_IP);
    jwksServer.server.removeAllListeners("request");
    jwksServer.server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => {
      jwksHits++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JWKS);
    });
    await jwksServer.start(JWKS_IP);
    // A port nothing listens on: bind, note it, close.
    const tmp = http.createServer();
    await new Promise<void>((r) => tmp.listen(0, JWKS_IP, () => r()));
    deadPort = (tmp.address() as { port: number }).port;
    await new Promise<void>((r) => tmp.close(() => r()));

    const istio = {
      issuer: ISS,
      localJwks: { inlineString: JWKS },
      payloadInMetadata: "payload",
      forwardPayloadHeader: "x-jwt-payload",
      claimToHeaders: [
        { headerName: "x-jwt-sub", claimName: "sub" },
        { headerName: "x-jwt-foo", claimName: "foo" },
      ],
      clearRouteCache: true,
    };
    const other = { issuer: "other@example.test", localJwks: { inlineString: JWKS } };
    const remote = (port: number) => ({ issuer: ISS, remoteJwks: { httpUri: { uri: `http://jwks.example.test:${port}/jwks.json`, cluster: port === deadPort ? "jwks-down" : "jwks", timeout: { seconds: 2 } }, cacheDuration: { seconds: 300 } }, payloadInMetadata: "payload", clearRouteCache: true });
    const groupRoute = {
      match: { prefix: "/claims", dynamicMetadata: [{ filter: NS, path: [{ key: "payload" }, { key: "groups" }], value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: { exact: "group1" } } } }, { stringMatch: { exact: "group1" } }] } } }] },
      directResponse: { status: 200, body: { inlineString: "group1 route" } },
    };
    proxy = new ProxyServer({
      staticResources: {
        listeners: [
          listener(
            "local",
            PORTS.local,
            {
              providers: { istio, other },
              requirementMap: { strict: { providerName: "istio" } },
              rules: [
                rule("/strict", { providerName: "istio" }),
                rule("/aud", { providerAndAudiences: { providerName: "istio", audiences: ["wanted"] } }),
                rule("/all", { requiresAll: { requirements: [{ providerName: "istio" }, { providerName: "other" }] } }),
                rule("/failed", { allowMissingOrFailed: {} }),
                rule("/claims", istioAny("istio")),
                rule("/open"),
                rule("/", istioAny("istio")),
              ],
              bypassCorsPreflight: true,
            },
            [
              toBackend("/strict/off", { typedPerFilterConfig: { [NS]: { "@type": PER_ROUTE, disabled: true } } }),
              toBackend("/open/named", { typedPerFilterConfig: { [NS]: { "@type": PER_ROUTE, requirementName: "strict" } } }),
              toBackend("/open/wrong", { typedPerFilterConfig: { [NS]: { "@type": PER_ROUTE, requirementName: "nope" } } }),
              groupRoute,
              toBackend("/"),
            ],
          ),
          listener("remote", PORTS.remote, { providers: { r: remote(jwksServer.port) }, rules: [rule("/", istioAny("r"))] }, [groupRoute, toBackend("/")]),
          listener("down", PORTS.down, { providers: { r: remote(deadPort) }, rules: [rule("/", istioAny("r"))] }, [toBackend("/")]),
        ],
        clusters: [staticCluster("backend", BACKEND_IP, backend.port), staticCluster("jwks", JWKS_IP, jwksServer.port), staticCluster("jwks-down", JWKS_IP, deadPort)],
      },
      node: { id: "jwt-test" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await backend.close();
    await jwksServer.close();
  });

  it("Istio's demo token passes; the backend gets the payload and claim headers, not the token", async () => {
    const r = await send(PORTS.local, "/strict/x", bearer(DEMO));
    assert.equal(r.status, 200);
    const h = backend.seen.at(-1)!;
    assert.equal(h.authorization, undefined);
    assert.equal(h["x-jwt-sub"], ISS);
    assert.equal(h["x-jwt-foo"], "bar");
    assert.equal(h["x-jwt-payload"], DEMO.split(".")[1]);
  });

  it("a client's own x-jwt-* headers never reach the backend", async () => {
    await send(PORTS.local, "/x", { "x-jwt-sub": "admin", "x-jwt-payload": "forged" });
    const h = backend.seen.at(-1)!;
    assert.equal(h["x-jwt-sub"], undefined);
    assert.equal(h["x-jwt-payload"], undefined);
  });

  const failures: Array<[string, string, () => Promise<Record<string, string>>, number, string]> = [
    ["no token where one is required", "/strict", async () => ({}), 401, "Jwt is missing"],
    ["an expired token", "/strict", async () => bearer(await sign({ exp: now() - 3600 })), 401, "Jwt is expired"],
    ["a token not yet valid", "/strict", async () => bearer(await sign({ nbf: now() + 3600 })), 401, "Jwt not yet valid"],
    ["another issuer", "/strict", async () => bearer(await sign({ iss: "evil@example.test" })), 401, "Jwt issuer is not configured"],
    ["a forged signature", "/strict", async () => bearer(`${DEMO.split(".").slice(0, 2).join(".")}.${Buffer.from("sig").toString("base64url")}`), 401, "Jwt verification fails"],
    ["two sections", "/strict", async () => bearer(DEMO.split(".").slice(0, 2).join(".")), 401, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"],
    ["an audience not allowed (403)", "/aud", async () => bearer(await sign({ aud: "someone-else" })), 403, "Audiences in Jwt are not allowed"],
    ["an invalid token even where missing is allowed", "/x", async () => bearer(await sign({ exp: now() - 3600 })), 401, "Jwt is expired"],
    ["another issuer's token where missing is allowed", "/x", async () => bearer(await sign({ iss: "evil@example.test" })), 401, "Jwt issuer is not configured"],
    // The first provider verifies the token and removes it (forward: false), so the second finds none.
    ["requires_all with one provider's token", "/all", async () => bearer(DEMO), 401, "Jwt is missing"],
    ["a per-route requirement_name", "/open/named", async () => ({}), 401, "Jwt is missing"],
  ];
  for (const [what, path, headers, status, body] of failures) {
    it(`refused: ${what}`, async () => {
      const r = await send(PORTS.local, path, await headers());
      assert.equal(r.status, status);
      assert.equal(r.body, body);
      const realm = `Bearer realm="http://example.test${path}"`;
      assert.equal(r.headers["www-authenticate"], body === "Jwt is missing" ? realm : `${realm}, error="invalid_token"`);
    });
  }

  const passes: Array<[string, string, () => Promise<Record<string, string>>]> = [
    ["no token where missing is allowed", "/x", async () => ({})],
    ["a wanted audience", "/aud", async () => bearer(await sign({ aud: ["x", "https://wanted/"] }))],
    ["allow_missing_or_failed with a bad token", "/failed", async () => bearer("a.b.c")],
    ["a rule without requires", "/open", async () => bearer("garbage")],
    ["the per-route config disables the filter", "/strict/off", async () => ({})],
    ["the token in the access_token parameter", "/strict/q?access_token=" + DEMO, async () => ({})],
    ["a CORS preflight (bypass_cors_preflight)", "/strict", async () => ({ origin: "https://a.example", "access-control-request-method": "GET" })],
  ];
  for (const [what, path, headers] of passes) {
    it(`allowed: ${what}`, async () => {
      const r = await send(PORTS.local, path, await headers());
      assert.equal(r.status, 200, r.body);
    });
  }

  it("a per-route requirement_name the filter does not have: 403", async () => {
    const r = await send(PORTS.local, "/open/wrong");
    assert.equal(r.status, 403);
    assert.equal(r.body, "Failed JWT authentication: Wrong requirement_name: nope. It should be one of [strict]");
  });

  it("gRPC requests get UNAUTHENTICATED", async () => {
    const r = await send(PORTS.local, "/strict", { "content-type": "application/grpc" });
    assert.equal(r.status, 200);
    assert.equal(r.headers["grpc-status"], "16");
    assert.equal(r.headers["grpc-message"], "Jwt is missing");
  });

  it("routes match on the claims jwt_authn wrote (groups-scope.jwt has group1)", async () => {
    assert.equal((await send(PORTS.local, "/claims", bearer(GROUPS))).body, "group1 route");
    assert.equal((await send(PORTS.local, "/claims", bearer(DEMO))).body, "backend");
    assert.equal((await send(PORTS.local, "/claims")).body, "backend");
  });

  it("stats count allowed, denied and preflights", () => {
    assert.ok(stat("local", "allowed") >= passes.length);
    assert.ok(stat("local", "denied") >= failures.length + 1);
    assert.equal(stat("local", "cors_preflight_bypassed"), 1);
  });

  it("remote JWKS: fetched once through the cluster, then cached", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await send(PORTS.remote, "/claims", bearer(GROUPS))).body, "group1 route");
    assert.equal(jwksHits, 1);
    assert.equal(stat("remote", "jwks_fetch_success"), 1);
  });

  it("remote JWKS server down: no-token requests pass, token requests get 'Jwks remote fetch is failed'", async () => {
    const none = await send(PORTS.down, "/x");
    assert.equal(none.status, 200);
    assert.equal(stat("down", "jwks_fetch_failed"), 0);
    const r = await send(PORTS.down, "/x", bearer(DEMO));
    assert.equal(r.status, 401);
    assert.equal(r.body, "Jwks remote fetch is failed");
    assert.equal(stat("down", "jwks_fetch_failed"), 1);
  });
});
