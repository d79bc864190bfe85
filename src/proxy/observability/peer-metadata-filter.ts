// Istio's HTTP peer metadata filter (`istio.metadata_exchange`, config
// io.istio.http.peer_metadata.Config in a TypedStruct): learns the peer's workload from the
// `x-envoy-peer-metadata` / `x-envoy-peer-metadata-id` headers — the downstream peer from the
// request, the upstream peer from the response — into the stream's filter state
// ("downstream_peer" / "upstream_peer"), removes those headers so they do not travel further, and
// adds this proxy's own to the request it forwards (upstream_propagation) and to the response of a
// request that carried them (downstream_propagation), as istio/proxy's filter does.
//
// workload_discovery looks a peer up by address in workload metadata the proxy has from xDS; tsmesh
// has no such source, so that method never finds a peer (as Envoy without the workload metadata
// extension). shared_with_upstream shares the state with an internal-listener upstream, which tsmesh
// does not have: accepted, nothing to share with. baggage discovery is refused (not implemented).
import type * as http from "node:http";
import type { PeerMetadata } from "../stream-info.js";
import { FilterStatus, registerHttpFilter, type FilterCallbacks, type FilterContext, type HttpFilter } from "../http/filter.js";
import { registerJsonTypedStruct } from "../typed-struct.js";
import { XdsConfigError } from "../xds-error.js";
import { fromStruct, TYPE_PREFIX } from "../../envoy/protos.js";
import { DOWNSTREAM_PEER, localPeer, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, peerFromHeader, UPSTREAM_PEER, type LocalPeer } from "./peer-metadata.js";
import { jsonObject, jsonBool, jsonStringList } from "./strict-json.js";

export const PEER_METADATA_TYPE = `${TYPE_PREFIX}io.istio.http.peer_metadata.Config`;
/** Istio's per-thread cache of decoded peers by id (max_peer_cache_size_ default). */
const PEER_CACHE_SIZE = 500;

type Discovery = "istio_headers" | "workload_discovery";
interface Propagation {
  readonly skipExternalClusters: boolean;
}

export interface PeerMetadataConfig {
  readonly downstreamDiscovery: readonly Discovery[];
  readonly upstreamDiscovery: readonly Discovery[];
  readonly downstreamPropagation: readonly Propagation[];
  readonly upstreamPropagation: readonly Propagation[];
  readonly sharedWithUpstream: boolean;
  readonly additionalLabels: readonly string[];
}

/** Reads the config's JSON (the TypedStruct's fields) strictly: an unknown field is an error with its path. */
export function parsePeerMetadataConfig(raw: Record<string, unknown>, path: string): PeerMetadataConfig {
  const o = jsonObject(raw, path, ["downstream_discovery", "upstream_discovery", "downstream_propagation", "upstream_propagation", "shared_with_upstream", "additional_labels"], ["@type"]);
  const list = (k: string): Array<[unknown, string]> => {
    const v = o.get(k);
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new XdsConfigError(`${path}.${k}`, "must be a list");
    return v.map((e, i) => [e, `${path}.${k}[${i}]`]);
  };
  const discovery = (k: string): Discovery[] =>
    list(k).map(([e, at]) => {
      const m = jsonObject(e, at, ["istio_headers", "workload_discovery", "baggage"]);
      if (m.size !== 1) throw new XdsConfigError(at, "exactly one of istio_headers, workload_discovery, baggage must be set");
      if (m.has("baggage")) throw new XdsConfigError(`${at}.baggage`, "baggage peer discovery is not implemented by tsmesh");
      const kind: Discovery = m.has("istio_headers") ? "istio_headers" : "workload_discovery";
      jsonObject(m.get(kind), `${at}.${kind}`, kind === "istio_headers" ? ["skip_external_clusters"] : []);
      return kind;
    });
  const propagation = (k: string): Propagation[] =>
    list(k).map(([e, at]) => {
      const m = jsonObject(e, at, ["istio_headers"]);
      if (m.size !== 1) throw new XdsConfigError(at, "istio_headers must be set");
      const h = jsonObject(m.get("istio_headers"), `${at}.istio_headers`, ["skip_external_clusters"]);
      return { skipExternalClusters: jsonBool(h.get("skip_external_clusters"), `${at}.istio_headers.skip_external_clusters`) };
    });
  return {
    downstreamDiscovery: discovery("downstream_discovery"),
    upstreamDiscovery: discovery("upstream_discovery"),
    downstreamPropagation: propagation("downstream_propagation"),
    upstreamPropagation: propagation("upstream_propagation"),
    sharedWithUpstream: jsonBool(o.get("shared_with_upstream"), `${path}.shared_with_upstream`),
    additionalLabels: jsonStringList(o.get("additional_labels"), `${path}.additional_labels`),
  };
}

/** Decoded peers by node id (bounded as Istio's: past the size, the oldest quarter goes). */
class PeerCache {
  private readonly byId = new Map<string, PeerMetadata | undefined>();
  /** The last id found: a connection's requests come from one peer (a compare, not a hash of a fresh string). */
  private lastId = "";
  private lastPeer: PeerMetadata | undefined = undefined;

  lookup(id: string, value: string, additionalLabels: readonly string[]): PeerMetadata | undefined {
    if (id !== "" && id === this.lastId) return this.lastPeer;
    const peer = this.find(id, value, additionalLabels);
    if (peer !== undefined && id !== "") {
      this.lastId = id;
      this.lastPeer = peer;
    }
    return peer;
  }

  private find(id: string, value: string, additionalLabels: readonly string[]): PeerMetadata | undefined {
    const known = id === "" ? undefined : this.byId.get(id);
    if (known !== undefined) return known;
    const peer = peerFromHeader(value, additionalLabels);
    // Only a good decode is cached: a bad header under a known id does not poison the id.
    if (peer !== undefined && id !== "") {
      if (this.byId.size > PEER_CACHE_SIZE) {
        let drop = PEER_CACHE_SIZE / 4;
        for (const k of this.byId.keys()) {
          if (drop-- <= 0) break;
          this.byId.delete(k);
        }
      }
      this.byId.set(id, peer);
    }
    return peer;
  }
}

function first(v: http.OutgoingHttpHeader | undefined): string {
  if (v === undefined) return "";
  return Array.isArray(v) ? (v[0] ?? "") : String(v);
}

/** Whether the route's cluster is outside the mesh (PassthroughCluster or filter_metadata istio.external). */
function externalCluster(cb: FilterCallbacks, ctx: FilterContext): boolean {
  const name = cb.route()?.cluster;
  if (name === undefined) return false;
  if (name === "PassthroughCluster") return true;
  const md = (ctx.runtime.cluster(name)?.spec.object as { metadata?: { filterMetadata?: Record<string, unknown> } } | undefined)?.metadata?.filterMetadata?.istio;
  return md !== undefined && fromStruct(md).external === true;
}

class PeerMetadataFilter implements HttpFilter {
  /** The request carried the id / metadata header (downstream propagation answers only then). */
  private requestIdReceived = false;
  private requestPeerReceived = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly config: PeerMetadataConfig,
    private readonly local: LocalPeer,
    private readonly cache: PeerCache,
    private readonly ctx: FilterContext,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    this.discover(this.config.downstreamDiscovery, headers, DOWNSTREAM_PEER, true);
    for (const p of this.config.upstreamPropagation) {
      if (p.skipExternalClusters && externalCluster(this.cb, this.ctx)) continue;
      headers[PEER_METADATA_ID_HEADER] = this.local.id;
      headers[PEER_METADATA_HEADER] = this.local.headerValue;
    }
    return FilterStatus.Continue;
  }

  encodeHeaders(_status: number, headers: http.OutgoingHttpHeaders): FilterStatus {
    this.discover(this.config.upstreamDiscovery, headers, UPSTREAM_PEER, false);
    for (const p of this.config.downstreamPropagation) {
      if (p.skipExternalClusters && externalCluster(this.cb, this.ctx)) continue;
      if (this.requestIdReceived) headers[PEER_METADATA_ID_HEADER] = this.local.id;
      if (this.requestPeerReceived) headers[PEER_METADATA_HEADER] = this.local.headerValue;
    }
    return FilterStatus.Continue;
  }

  /** The first method that finds the peer wins; the exchange headers are removed either way. */
  private discover(methods: readonly Discovery[], headers: http.OutgoingHttpHeaders, key: string, downstream: boolean): void {
    if (methods.length === 0) return;
    let found: PeerMetadata | undefined;
    let istioHeaders = false;
    for (const m of methods) {
      if (m !== "istio_headers") continue; // workload_discovery: no workload metadata source in tsmesh
      istioHeaders = true;
      if (found !== undefined) continue;
      const id = first(headers[PEER_METADATA_ID_HEADER]);
      const value = first(headers[PEER_METADATA_HEADER]);
      if (downstream) {
        this.requestIdReceived = headers[PEER_METADATA_ID_HEADER] !== undefined;
        this.requestPeerReceived = headers[PEER_METADATA_HEADER] !== undefined;
      }
      if (value !== "") found = this.cache.lookup(id, value, this.config.additionalLabels);
    }
    // A connection-level peer (TCP exchange) or an earlier filter's wins, as Istio skips duplicates.
    if (found !== undefined && !this.cb.filterState.has(key)) this.cb.filterState.set(key, found);
    if (istioHeaders) {
      headers[PEER_METADATA_ID_HEADER] = undefined;
      headers[PEER_METADATA_HEADER] = undefined;
    }
  }
}

registerJsonTypedStruct(PEER_METADATA_TYPE);

registerHttpFilter<Record<string, unknown>>([PEER_METADATA_TYPE], {
  terminal: false,
  create(config, ctx) {
    const parsed = parsePeerMetadataConfig(config, ctx.path);
    const node = ctx.runtime.localNode ?? { id: "", metadata: {} };
    const local = localPeer(node.id, node.metadata, parsed.additionalLabels);
    const cache = new PeerCache();
    return { create: (cb) => new PeerMetadataFilter(cb, parsed, local, cache, ctx) };
  },
});
