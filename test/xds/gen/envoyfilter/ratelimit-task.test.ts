// istio.io's rate limit task EnvoyFilters (copied unchanged into testdata/) applied to bookinfo's
// generated config: the local rate limit filter and per-route config on productpage's inbound
// sidecar, the global ratelimit filter and rate_limits actions on the ingress gateway. Golden files
// hold the patched HCM filters and routes; each test also checks the key facts directly.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { IstioGenerator } from "../../../../src/controlplane/generator.js";
import { packageRoot } from "../../../../src/core/paths.js";
import { ROUTE_TYPE } from "../../../../src/envoy/protos.js";
import type { Proxy } from "../../../../src/model/proxy.js";
import type { PushContext } from "../../../../src/model/push-context.js";
import { assertGolden, pushContext, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../../helpers/xds.js";

const taskYaml = (f: string) => readFileSync(join(packageRoot(), "test", "xds", "gen", "envoyfilter", "testdata", f), "utf8");

function mesh(...files: string[]): PushContext {
  const extra = files.flatMap((f) => resourcesFromYaml(taskYaml(f), f));
  // The advanced case replaces bookinfo's own `bookinfo` VirtualService.
  const replaced = new Set(extra.map((r) => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`));
  const base = resourcesFromPaths("examples/bookinfo").filter((r) => !replaced.has(`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`));
  return pushContext([...base, ...extra]);
}

const gateway = () => testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway", app: "istio-ingressgateway" } });
const productpage = () => testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking generated config of many shapes
type Obj = Record<string, any>;

function httpFilterNames(listeners: readonly Obj[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of listeners)
    for (const fc of [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])])
      for (const f of fc.filters ?? []) if (f.typedConfig?.httpFilters) out.set(`${l.name}/${fc.name ?? ""}/${f.name}`, f.typedConfig.httpFilters.map((h: Obj) => h.name));
  return out;
}

function outcome(push: PushContext, proxy: Proxy) {
  const gen = new IstioGenerator();
  const errors: string[] = [];
  gen.onEnvoyFilterError = (m) => errors.push(m);
  const o = gen.envoyFiltered(proxy, push);
  assert.ok(o, "the task's EnvoyFilters select the proxy");
  assert.deepEqual(errors, []);
  return { o, gen };
}

test("rate limit task: global ratelimit filter before the router and rate_limits on the gateway's virtual hosts", () => {
  const push = mesh("global-ratelimit.yaml");
  const { o, gen } = outcome(push, gateway());
  // Same priority and no creation time: Istio orders by "name.namespace" ("-" sorts before ".").
  assert.deepEqual(o.applied.map((e) => e.key), ["istio-system/filter-ratelimit-svc", "istio-system/filter-ratelimit"]);
  const chains = httpFilterNames(o.listeners as unknown as Obj[]);
  assert.ok(chains.size > 0);
  for (const [where, names] of chains) {
    const rl = names.indexOf("envoy.filters.http.ratelimit");
    assert.ok(rl >= 0 && names[rl + 1] === "envoy.filters.http.router", `${where}: ${names.join(",")}`);
  }
  const rcs = gen.objects(gateway(), push, ROUTE_TYPE, { typeUrl: ROUTE_TYPE, wildcard: true, names: new Set() })!;
  for (const rc of rcs.values() as Iterable<Obj>)
    for (const vh of rc.virtualHosts) assert.deepEqual(vh.rateLimits, [{ actions: [{ requestHeaders: { headerName: ":path", descriptorKey: "PATH" } }] }]);
  const hcm = (o.listeners as unknown as Obj[]).flatMap((l) => l.filterChains).flatMap((fc: Obj) => fc.filters)[0].typedConfig;
  assertGolden("envoyfilter/global-ratelimit-gateway", { httpFilters: hcm.httpFilters, routes: [...rcs.values()] });
  // The sidecars are not selected (workloadSelector istio: ingressgateway).
  assert.equal(gen.envoyFiltered(productpage(), push), undefined);
});

test("rate limit task (advanced): rate_limits merged into the gateway route named api only", () => {
  const push = mesh("global-ratelimit.yaml", "global-ratelimit-advanced.yaml");
  const { o } = outcome(push, gateway());
  const routes = (o.routes as unknown as Obj[]).flatMap((rc) => rc.virtualHosts).flatMap((vh: Obj) => vh.routes);
  const api = routes.filter((r: Obj) => r.name === "api");
  assert.equal(api.length, 1);
  assert.deepEqual(api[0].route.rateLimits, [
    { actions: [{ headerValueMatch: { descriptorKey: "PATH", descriptorValue: "api", headers: [{ name: ":path", safeRegexMatch: { googleRe2: {}, regex: "/api/v1/products/[1-9]{1,2}" } }] } }] },
  ]);
  for (const r of routes) if (r.name !== "api") assert.equal(r.route?.rateLimits, undefined, `route ${r.name} untouched`);
});

test("rate limit task: local_ratelimit (TypedStruct) first in productpage's inbound HTTP chains, outbound untouched", () => {
  const push = mesh("local-ratelimit-filter.yaml");
  const { o } = outcome(push, productpage());
  const chains = httpFilterNames(o.listeners as unknown as Obj[]);
  let inbound = 0;
  for (const l of o.listeners as unknown as Obj[]) {
    for (const fc of l.filterChains ?? []) {
      for (const f of fc.filters ?? []) {
        const hf = f.typedConfig?.httpFilters;
        if (!hf) continue;
        if (l.trafficDirection === "INBOUND") {
          inbound++;
          assert.equal(hf[0].name, "envoy.filters.http.local_ratelimit");
          assert.equal(hf[0].typedConfig["@type"], "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit");
          assert.deepEqual(hf[0].typedConfig.tokenBucket, { maxTokens: 4, tokensPerFill: { value: 4 }, fillInterval: { seconds: 60 } });
        } else assert.ok(!hf.some((h: Obj) => h.name === "envoy.filters.http.local_ratelimit"), `${l.name} is outbound`);
      }
    }
  }
  assert.ok(inbound > 0, `inbound HTTP chains found: ${[...chains.keys()].join(", ")}`);
});

test("rate limit task: local_ratelimit per-route config on productpage's inbound|http|9080 virtual host", () => {
  const push = mesh("local-ratelimit-route.yaml");
  const { o } = outcome(push, productpage());
  // Inbound HTTP chains carry their route configuration inline in the HCM (as Istio's).
  const inbound = (o.listeners as unknown as Obj[])
    .filter((l) => l.trafficDirection === "INBOUND")
    .flatMap((l) => l.filterChains ?? [])
    .flatMap((fc: Obj) => fc.filters ?? [])
    .map((f: Obj) => f.typedConfig?.routeConfig)
    .filter((rc: Obj | undefined) => rc !== undefined) as Obj[];
  assert.ok(inbound.length > 0, "inbound HTTP chains with an inline route configuration");
  let patched = 0;
  for (const rc of inbound)
    for (const vh of rc.virtualHosts)
      for (const r of vh.routes) {
        const pf = r.typedPerFilterConfig?.["envoy.filters.http.local_ratelimit"];
        if (vh.name !== "inbound|http|9080") continue;
        patched++;
        assert.equal(pf["@type"], "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit");
        assert.equal(pf.statPrefix, "http_local_rate_limiter");
        assert.deepEqual(pf.responseHeadersToAdd, [{ append: { value: false }, header: { key: "x-local-rate-limit", value: "true" } }]);
      }
  assert.ok(patched > 0);
  for (const rc of o.routes as unknown as Obj[]) if (!String(rc.name).startsWith("inbound|")) for (const vh of rc.virtualHosts) for (const r of vh.routes) assert.equal(r.typedPerFilterConfig?.["envoy.filters.http.local_ratelimit"], undefined);
  assertGolden("envoyfilter/local-ratelimit-inbound-routes", inbound);
});
