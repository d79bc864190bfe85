// The golden xDS resources the control plane's generator tests pin (test/xds/gen/testdata), each
// with its file and type URL: a corpus of real tsmesh output for the codec and schema tests.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../src/core/paths.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, type ProtoObject, ROUTE_TYPE } from "../../src/envoy/protos.js";

/** [file, type URL, resource] for every golden resource. */
export function goldenResources(): Array<[string, string, ProtoObject]> {
  const dir = join(packageRoot(), "test/xds/gen/testdata");
  const out: Array<[string, string, ProtoObject]> = [];
  // Whole xDS resources only (other goldens there are single filters, e.g. authn-*.json).
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".json") && /^(grpc|routes|endpoints|listeners|clusters)-/.test(f))) {
    const j = JSON.parse(readFileSync(join(dir, f), "utf8")) as unknown;
    const add = (type: string, r: unknown) => out.push([f, type, r as ProtoObject]);
    if (f.startsWith("grpc-")) {
      const g = j as { listeners: unknown[]; routes: unknown[]; clusters: unknown[] };
      g.listeners.forEach((r) => add(LISTENER_TYPE, r));
      g.routes.forEach((r) => add(ROUTE_TYPE, r));
      g.clusters.forEach((r) => add(CLUSTER_TYPE, r));
    } else if (f.startsWith("routes-")) add(ROUTE_TYPE, j);
    else if (f.startsWith("endpoints-")) Object.values(j as object).forEach((r) => add(ENDPOINT_TYPE, r));
    else (j as unknown[]).forEach((r) => add(f.startsWith("listeners-") ? LISTENER_TYPE : CLUSTER_TYPE, r));
  }
  return out;
}
