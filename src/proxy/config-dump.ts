// Envoy's admin /config_dump for a proxy: its bootstrap (node, static resources) and each xDS type's
// resources as accepted, in Envoy's ConfigDump messages (proto field names, proto3 JSON), clusters
// split into active and warming as Envoy's cluster manager reports them.
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, struct, type JsonValue } from "../envoy/protos.js";
import { toProtoJson } from "../envoy/proto-json.js";
import type * as v3 from "../envoy/types.js";
import { asReceivedTypedStructs } from "./typed-struct.js";
import type { TypeSnapshot } from "./xds/resources.js";

/** What the dump is made of. */
export interface ConfigDumpInput {
  readonly node: { id: string; metadata?: Record<string, unknown> } & Record<string, unknown>;
  readonly staticResources: { listeners?: v3.Listener[]; clusters?: v3.Cluster[] } | undefined;
  /** The ADS client's accepted resources by type URL (undefined: a static bootstrap). */
  readonly snapshot: Map<string, TypeSnapshot> | undefined;
  /** Whether a dynamic cluster is still warming. */
  readonly warming: (cluster: string) => boolean;
  /** The SecretsConfigDump. */
  readonly secrets: Record<string, unknown>;
}

export function configDump(i: ConfigDumpInput): unknown {
  const snap = i.snapshot;
  const dyn = (type: string) => [...(snap?.get(type)?.resources.values() ?? [])];
  const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }); // a Timestamp
  const { metadata, ...node } = i.node;
  const dump = {
    configs: [
      {
        "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
        bootstrap: { node: metadata ? { ...node, metadata: struct(metadata as { [k: string]: JsonValue }) } : node, staticResources: i.staticResources ?? {} },
      },
      {
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
        versionInfo: snap?.get(CLUSTER_TYPE)?.versionInfo ?? "",
        staticClusters: (i.staticResources?.clusters ?? []).map((c) => ({ cluster: { "@type": CLUSTER_TYPE, ...c } })),
        dynamicActiveClusters: dyn(CLUSTER_TYPE).filter((r) => !i.warming(r.name)).map((r) => ({ versionInfo: r.version, cluster: { "@type": CLUSTER_TYPE, ...r.object }, lastUpdated: at(r.updatedAt) })),
        dynamicWarmingClusters: dyn(CLUSTER_TYPE).filter((r) => i.warming(r.name)).map((r) => ({ versionInfo: r.version, cluster: { "@type": CLUSTER_TYPE, ...r.object }, lastUpdated: at(r.updatedAt) })),
      },
      {
        "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
        versionInfo: snap?.get(LISTENER_TYPE)?.versionInfo ?? "",
        staticListeners: (i.staticResources?.listeners ?? []).map((l) => ({ listener: { "@type": LISTENER_TYPE, ...l } })),
        dynamicListeners: dyn(LISTENER_TYPE).map((r) => ({ name: r.name, activeState: { versionInfo: r.version, listener: { "@type": LISTENER_TYPE, ...r.object }, lastUpdated: at(r.updatedAt) } })),
      },
      {
        "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
        dynamicRouteConfigs: dyn(ROUTE_TYPE).map((r) => ({ versionInfo: r.version, routeConfig: { "@type": ROUTE_TYPE, ...r.object }, lastUpdated: at(r.updatedAt) })),
      },
      {
        "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
        dynamicEndpointConfigs: dyn(ENDPOINT_TYPE).map((r) => ({ versionInfo: r.version, endpointConfig: { "@type": ENDPOINT_TYPE, ...r.object }, lastUpdated: at(r.updatedAt) })),
      },
      i.secrets,
    ],
  };
  return toProtoJson("envoy.admin.v3.ConfigDump", asReceivedTypedStructs(dump) as typeof dump);
}
