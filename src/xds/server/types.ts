// The contract between the generic ADS server (protocol, subscriptions, push queue) and whatever
// produces resources (tsmesh's Istio generators). go-control-plane's split: the server knows the
// xDS protocol and nothing of Istio; the generator knows Istio and nothing of streams.
import type { EncodedResource } from "../../envoy/encoded.js";
import type { XdsNode } from "../../envoy/protos.js";

export type { XdsNode };

/** What a push is about. Requests queued for the same connection are merged (see mergePushRequests). */
export interface PushRequest {
  /** true: every type may have changed. false: only endpoints (EDS) changed. */
  full: boolean;
  /**
   * For a non-full push: names of the clusters whose ClusterLoadAssignment changed (only these are
   * regenerated and sent). Undefined on a non-full push means every watched cluster.
   */
  edsUpdates?: ReadonlySet<string>;
  /**
   * Kinds of the configs behind a full push (istiod's ConfigsUpdated, by kind). Undefined means
   * unknown: everything may have changed. Generators use it to skip types a kind cannot affect.
   */
  configKinds?: ReadonlySet<string>;
  /**
   * The configs behind a full push, as opaque `Kind/namespace/name` keys (istiod's ConfigsUpdated),
   * when the source knows them; undefined means unknown. Generators use it to skip proxies whose
   * watched resources none of them touch (a credential rotation reaches only its watchers).
   */
  configsUpdated?: ReadonlySet<string>;
  /** Why (istiod's trigger names: "config", "endpoint", "service", "proxyrequest", …). */
  reasons: readonly string[];
  /** When the first change behind this push happened (Date.now()), for convergence time. */
  start: number;
  /** Opaque snapshot the generator reads (tsmesh: the PushContext). */
  context: unknown;
}

/** One subscription of a connection to one type. */
export interface WatchedResource {
  readonly typeUrl: string;
  /** Legacy wildcard (SotW empty list before any name) or explicit "*". */
  wildcard: boolean;
  /** Names explicitly requested ("*" excluded); kept even when they do not exist (yet). */
  readonly names: Set<string>;
}

/** What the generator returns for one type and one connection. */
export interface GenerateResult {
  /**
   * Resources for the watch. On a full push: every resource the proxy should have for the watch
   * (for wildcard types, absence means deletion). On an EDS-only push: only the changed ones.
   */
  resources: readonly EncodedResource[];
  /** Promises that no name repeats (the server then skips de-duplicating a wildcard watch). */
  distinctNames?: boolean;
}

/** Produces resources; implemented by the control plane (src/controlplane). */
export interface XdsGenerator<P = unknown> {
  /**
   * Called with the node of a stream's first request. Returns the proxy model used for all later
   * calls; throwing closes the stream with INVALID_ARGUMENT and the error's message.
   */
  connect(node: XdsNode, peer: string, identity?: unknown): P;
  /** Resources of `typeUrl` for `proxy`; undefined when the type is not served (the server answers empty). */
  generate(proxy: P, typeUrl: string, watch: WatchedResource, request: PushRequest): GenerateResult | undefined;
  /**
   * Whether a full push can change `typeUrl` for `proxy` (istiod's cdsNeedsPush/edsNeedsPush…),
   * given what the proxy watches; false skips generating the type for this push. Absent: always true.
   */
  needsPush?(proxy: P, typeUrl: string, request: PushRequest, watch: WatchedResource): boolean;
  /** The stream closed. */
  disconnect?(proxy: P): void;
}

/** Per-connection, per-type protocol state shown by /debug/syncz. */
export interface TypeStatus {
  typeUrl: string;
  wildcard: boolean;
  names: string[];
  /** Last version_info / nonce sent (SotW) or last system_version_info (Delta). */
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: number;
  ackedVersion?: string;
  ackedNonce?: string;
  ackedAt?: number;
  /** Last NACK: the version/nonce the client rejected and its error_detail message. */
  nack?: { version?: string; nonce?: string; message: string; at: number };
  /** Names of resources currently held by the client (as far as the server knows) with their versions. */
  resourceVersions: Record<string, string>;
}

export interface ConnectionStatus {
  /** Stable id: NODE_ID-COUNTER (istiod's ConID). */
  connectionId: string;
  nodeId: string;
  peer: string;
  protocol: "sotw" | "delta";
  connectedAt: number;
  types: TypeStatus[];
}
