// RequestAuthentication → jwt_authn as istiod's convertToEnvoyJwtConfig (policy_applier_test.go's
// cases): no policy / empty policy → no filter; one issuer → requires {origins-0 | allow_missing};
// several → requires any of {each provider, all of {origins-i | allow_missing}}; every JWTRule field
// copied; the JWKS source by fetch mode — inline jwks, remote jwks through the mesh cluster, or
// fetched by istiod from a real local server and inlined (the fail-closed JWKS until it arrives).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { JwksResolver } from "../../../src/controlplane/jwks-resolver.js";
import type { HttpFilter } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import type { JwksFetchMode } from "../../../src/model/request-authentication.js";
import { jwtAuthnFilter, PUBLIC_ONLY_JWKS, spaceDelimitedClaims } from "../../../src/xds/gen/authn.js";
import { assertGolden, assertRoundTrip, pushContext, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

/** Istio's security/tools/jwt/samples/jwks.json (a public test key). */
const JWKS =
  '{ "keys":[ {"e":"AQAB","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","kty":"RSA","n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX-P7KfIupjf59vsdo91bSP9C8H07pSAGQO1MV_xFj9VswgsCg4R6otmg5PV2He95lZdHtOcU5DXIg_pbhLdKXbi66GlVeK6ABZOUW3WYtnNHD-91gVuoeJT_DwtGGcp4ignkgXfkiEm4sw-4sfb4qdt5oLbyVpmW6x9cfa7vs2WTfURiCrBoUqgBo_-4WTiULmmHSGZHOjzwa8WtrtOQGsAFjIbno85jp6MnGGGZPYZbDAa_b3y5u-YpW7ypZrvD8BgtKVjgtQgZhLAGezMt0ua3DRrWnKqTZ0BJ_EyxOGuHJrLsn00fnMQ"}]}';

const TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

/** A mesh service the proxy can reach, to serve a JWKS through the mesh (Istio's jwt-token-issuer.mesh case). */
const MESH_ISSUER = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: jwt-issuer, namespace: foo }
spec:
  hosts: [jwt-token-issuer.mesh]
  ports: [{ number: 7443, name: http, protocol: HTTP }]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints: [{ address: 127.0.0.9 }]
`;

function ra(ns: string, rules: string, extra = ""): string {
  return `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ra-${Math.random().toString(36).slice(2, 8)}, namespace: ${ns} }
spec:
${extra}  jwtRules:
${rules}`;
}

function push(yaml: string[], mode: JwksFetchMode = "hybrid", resolver?: JwksResolver): PushContext {
  const p = pushContext(resourcesFromYaml([MESH_ISSUER, ...yaml].join("---\n")));
  p.jwks = { mode, resolver };
  return p;
}

const sidecar = testProxy({ ip: "127.0.1.1", name: "httpbin-1", namespace: "foo", labels: { app: "httpbin" } });
const gateway = testProxy({ type: "router", ip: "127.0.1.2", name: "istio-ingressgateway-1", namespace: "istio-system", labels: { istio: "ingressgateway" } });

/** The typed config without its @type, checked to survive a protobuf round trip. */
function config(f: HttpFilter | undefined): Record<string, unknown> {
  assert.ok(f, "expected a jwt_authn filter");
  assert.equal(f.name, "envoy.filters.http.jwt_authn");
  const { "@type": type, ...rest } = f.typedConfig as unknown as Record<string, unknown>;
  assert.equal(type, TYPE_URL);
  assertRoundTrip(TYPE_URL, rest, "JwtAuthentication");
  return rest;
}

const NORMALIZE = { spaceDelimitedClaims: ["permission", "scope"] };
const one = (name: string) => ({ requiresAny: { requirements: [{ providerName: name }, { allowMissing: {} }] } });

describe("jwtAuthnFilter: which proxies get one", () => {
  it("no policy, or a policy without rules: no filter (Istio's 'No policy' / 'Empty policy')", () => {
    assert.equal(jwtAuthnFilter(sidecar, push([])), undefined);
    assert.equal(jwtAuthnFilter(sidecar, push([`apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: e, namespace: foo }\nspec: {}\n`])), undefined);
  });

  it("a policy selecting other workloads: no filter", () => {
    const p = push([ra("foo", `  - { issuer: a, jwks: '${JWKS}' }\n`, "  selector: { matchLabels: { app: other } }\n")]);
    assert.equal(jwtAuthnFilter(sidecar, p), undefined);
  });
});

describe("jwtAuthnFilter: Istio's cases", () => {
  it("single issuer with inline jwks: {origins-0 | allow_missing}, payload in metadata, bypass_cors_preflight", () => {
    const got = config(jwtAuthnFilter(sidecar, push([ra("foo", `  - { issuer: "https://secret.foo.com", jwks: '${JWKS}' }\n`)])));
    assert.deepEqual(got, {
      providers: {
        "origins-0": { issuer: "https://secret.foo.com", localJwks: { inlineString: JWKS }, payloadInMetadata: "payload", normalizePayloadInMetadata: NORMALIZE },
      },
      rules: [{ match: { prefix: "/" }, requires: one("origins-0") }],
      bypassCorsPreflight: true,
    });
  });

  it("several issuers (from several policies, sorted by issuer): any provider, or all of {provider | allow_missing}", () => {
    const p = push([ra("foo", `  - { issuer: "https://secret.foo.com", jwks: '${JWKS}' }\n`), ra("istio-system", `  - { issuer: "https://secret.bar.com", jwks: '${JWKS}' }\n`)]);
    const got = config(jwtAuthnFilter(sidecar, p));
    const providers = got.providers as Record<string, { issuer: string }>;
    assert.equal(providers["origins-0"].issuer, "https://secret.bar.com");
    assert.equal(providers["origins-1"].issuer, "https://secret.foo.com");
    assert.deepEqual(got.rules, [
      {
        match: { prefix: "/" },
        requires: { requiresAny: { requirements: [{ providerName: "origins-0" }, { providerName: "origins-1" }, { requiresAll: { requirements: [one("origins-0"), one("origins-1")] } }] } },
      },
    ]);
  });

  it("every JWTRule field: audiences, forwardOriginalToken, outputPayloadToHeader, fromHeaders with prefix, params, cookies, outputClaimToHeaders, spaceDelimitedClaims (golden)", () => {
    const rule = `  - issuer: "testing@secure.istio.io"
    jwks: '${JWKS}'
    audiences: [bookstore_android.appspot.com, bookstore_web.appspot.com]
    forwardOriginalToken: true
    outputPayloadToHeader: x-jwt-payload
    fromHeaders: [{ name: x-jwt-assertion, prefix: "Bearer " }, { name: x-goog-iap-jwt-assertion }]
    fromParams: [my_token, access_token]
    fromCookies: [session]
    outputClaimToHeaders: [{ header: x-jwt-claim-foo, claim: foo }, { header: x-jwt-nested, claim: nested.key1 }]
    spaceDelimitedClaims: [roles, scope, custom]
`;
    const got = config(jwtAuthnFilter(sidecar, push([ra("foo", rule)])));
    const p = (got.providers as Record<string, Record<string, unknown>>)["origins-0"];
    assert.deepEqual(p.fromHeaders, [{ name: "x-jwt-assertion", valuePrefix: "Bearer " }, { name: "x-goog-iap-jwt-assertion" }]);
    assert.deepEqual(p.normalizePayloadInMetadata, { spaceDelimitedClaims: ["custom", "permission", "roles", "scope"] });
    assert.equal(p.clearRouteCache, undefined, "sidecars do not clear the route cache");
    assertGolden("authn-jwt-all-fields", got);
  });

  it("the filter packs into an HTTP connection manager as the control plane encodes it", () => {
    const f = jwtAuthnFilter(sidecar, push([ra("foo", `  - { issuer: a, jwks: '${JWKS}' }\n`)]));
    assertRoundTrip("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
      statPrefix: "inbound_0.0.0.0_80",
      httpFilters: [f, { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    });
  });

  it("gateways set clear_route_cache on every provider (claim routing), sidecars do not", () => {
    const p = push([ra("istio-system", `  - { issuer: a, jwks: '${JWKS}' }\n  - { issuer: b, jwks: '${JWKS}' }\n`)]);
    const gw = config(jwtAuthnFilter(gateway, p)).providers as Record<string, { clearRouteCache?: boolean }>;
    assert.deepEqual(Object.values(gw).map((x) => x.clearRouteCache), [true, true]);
    const sc = config(jwtAuthnFilter(sidecar, p)).providers as Record<string, { clearRouteCache?: boolean }>;
    assert.deepEqual(Object.values(sc).map((x) => x.clearRouteCache), [undefined, undefined]);
  });

  it("spaceDelimitedClaims: Istio's defaults alone, or merged, deduplicated and sorted", () => {
    assert.deepEqual(spaceDelimitedClaims(undefined), ["permission", "scope"]);
    assert.deepEqual(spaceDelimitedClaims(["scope", "b", "a", "b"]), ["a", "b", "permission", "scope"]);
  });
});

describe("jwtAuthnFilter: JWKS source by fetch mode", () => {
  const meshRule = ra("foo", `  - { issuer: "mesh cluster", jwksUri: "http://jwt-token-issuer.mesh:7443/jwks", timeout: 7s }\n`);
  const remote = {
    remoteJwks: { httpUri: { uri: "http://jwt-token-issuer.mesh:7443/jwks", cluster: "outbound|7443||jwt-token-issuer.mesh", timeout: { seconds: 7 } }, cacheDuration: { seconds: 300 } },
  };

  for (const mode of ["hybrid", "envoy"] as const) {
    it(`${mode}: a jwksUri on a mesh service port → remote_jwks through its outbound cluster, the rule's timeout`, () => {
      const p = (config(jwtAuthnFilter(sidecar, push([meshRule], mode))).providers as Record<string, Record<string, unknown>>)["origins-0"];
      assert.deepEqual(p.remoteJwks, remote.remoteJwks);
      assert.equal(p.localJwks, undefined);
    });
  }

  it("envoy: a jwksUri outside the mesh still names the cluster of its host:port (Istio), default 5 s timeout, and says why", () => {
    const lines: string[] = [];
    const resolver = new JwksResolver({ log: (l) => lines.push(l), refreshIntervalMs: 3_600_000 });
    try {
      const p = push([ra("foo", `  - { issuer: ext, jwksUri: "https://keys.example.com/jwks.json" }\n`)], "envoy", resolver);
      const prov = (config(jwtAuthnFilter(sidecar, p)).providers as Record<string, Record<string, unknown>>)["origins-0"];
      assert.deepEqual(prov.remoteJwks, {
        httpUri: { uri: "https://keys.example.com/jwks.json", cluster: "outbound|443||keys.example.com", timeout: { seconds: 5 } },
        cacheDuration: { seconds: 300 },
      });
      assert.match(lines.join("\n"), /no mesh service keys\.example\.com:443/);
    } finally {
      resolver.close();
    }
  });

  it("hybrid: a port the mesh service does not have is fetched by istiod", () => {
    const p = push([ra("foo", `  - { issuer: x, jwksUri: "http://jwt-token-issuer.mesh:9999/jwks" }\n`)], "hybrid");
    const prov = (config(jwtAuthnFilter(sidecar, p)).providers as Record<string, Record<string, unknown>>)["origins-0"];
    assert.deepEqual(prov.localJwks, { inlineString: PUBLIC_ONLY_JWKS }, "no resolver in this push: fail closed");
  });

  it("istiod: even a mesh jwksUri is inlined; inline jwks is used as written in every mode", () => {
    const p = (config(jwtAuthnFilter(sidecar, push([meshRule], "istiod"))).providers as Record<string, Record<string, unknown>>)["origins-0"];
    assert.ok(p.localJwks);
    for (const mode of ["istiod", "hybrid", "envoy"] as const) {
      const q = (config(jwtAuthnFilter(sidecar, push([ra("foo", `  - { issuer: a, jwks: '${JWKS}' }\n`)], mode))).providers as Record<string, Record<string, unknown>>)["origins-0"];
      assert.deepEqual(q.localJwks, { inlineString: JWKS });
    }
  });

  describe("istiod-fetched JWKS from a real server", () => {
    let server: Server;
    let base = "";
    before(async () => {
      server = createServer((req, res) => {
        if (req.url === "/jwks.json") res.end(JWKS);
        else if (req.url === "/.well-known/openid-configuration") res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks.json` }));
        else res.writeHead(404).end("no such key set");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());

    it("the first push inlines the fail-closed JWKS without waiting; the change is announced and the next push inlines the keys", async () => {
      const changed: unknown[] = [];
      const resolver = new JwksResolver({ onChange: (c) => changed.push(...c), refreshIntervalMs: 3_600_000 });
      try {
        const yaml = [ra("foo", `  - { issuer: "${base}", jwksUri: "${base}/jwks.json" }\n  - { issuer: "${base}/oidc-less" }\n`)];
        const first = config(jwtAuthnFilter(sidecar, push(yaml, "hybrid", resolver))).providers as Record<string, Record<string, unknown>>;
        assert.deepEqual(first["origins-0"].localJwks, { inlineString: PUBLIC_ONLY_JWKS });
        await resolver.settled();
        const second = config(jwtAuthnFilter(sidecar, push(yaml, "hybrid", resolver))).providers as Record<string, Record<string, unknown>>;
        assert.deepEqual(second["origins-0"].localJwks, { inlineString: JWKS });
        assert.deepEqual(changed[0], { issuer: base, jwksUri: `${base}/jwks.json` });
        // No jwksUri: OpenID discovery at ISSUER/.well-known/openid-configuration — here the issuer
        // path has none (404), so that rule stays fail-closed.
        assert.deepEqual(second["origins-1"].localJwks, { inlineString: PUBLIC_ONLY_JWKS });
        assert.equal(resolver.status(`${base}/oidc-less`, "")?.state, "failed");
      } finally {
        resolver.close();
      }
    });

    it("no jwksUri: the issuer's OpenID discovery document names it", async () => {
      const resolver = new JwksResolver({ refreshIntervalMs: 3_600_000 });
      try {
        const yaml = [ra("foo", `  - { issuer: "${base}" }\n`)];
        jwtAuthnFilter(sidecar, push(yaml, "istiod", resolver));
        await resolver.settled();
        const prov = (config(jwtAuthnFilter(sidecar, push(yaml, "istiod", resolver))).providers as Record<string, Record<string, unknown>>)["origins-0"];
        assert.deepEqual(prov.localJwks, { inlineString: JWKS });
        assert.deepEqual(resolver.status(base, ""), { state: "ok", resolvedUri: `${base}/jwks.json` });
      } finally {
        resolver.close();
      }
    });
  });
});
