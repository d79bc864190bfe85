// Istio's TCP metadata exchange (network filter `istio.metadata_exchange`, config
// envoy.tcp.metadataexchange.config.MetadataExchange in a TypedStruct): on a connection whose TLS
// handshake negotiated the configured ALPN (`istio-peer-exchange`), each side writes its node Struct
// first (peer-metadata.ts' framing) and reads the other's off the front of the byte stream before
// the application's bytes flow. Runs as a listener chain's read filter (the downstream peer, into
// the connection's filter state "downstream_peer") and as a cluster filter in the upstream
// connector (the upstream peer, into the upstream connection's "upstream_peer").
//
// Both sides write at once (Istio's client writes with its first bytes or on the server's header,
// its server on the client's header or its first bytes; writing first is what both answer to, so
// nobody waits on the other). What the peer sends instead, as istio/proxy: no ALPN match → nothing
// happens; a wrong magic → the exchange is abandoned and the bytes are the application's; a payload
// that is not an Any of a Struct → abandoned after the 8-byte header. Bounds tsmesh adds (Istio
// waits for any length, for ever): a declared length past MAX_PEER_METADATA_BYTES closes the
// connection; so does a peer that has not finished its exchange within the timeout (downstream:
// 15 s, Envoy's listener_filters_timeout; upstream: the rest of the cluster's connect_timeout), or
// that ends its side before it did. enable_discovery falls back to workload metadata by address,
// which tsmesh does not have (finds nothing).
import type * as net from "node:net";
import type * as tls from "node:tls";
import { TYPE_PREFIX } from "../../envoy/protos.js";
import { NETWORK_FILTERS, NetworkFilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../network-filters.js";
import type { PeerMetadata } from "../stream-info.js";
import { registerJsonTypedStruct } from "../typed-struct.js";
import { XdsConfigError } from "../xds-error.js";
import { DOWNSTREAM_PEER, encodeExchange, localPeer, MAX_PEER_METADATA_BYTES, MX_HEADER_BYTES, peerFromStruct, readExchange, type LocalPeer } from "./peer-metadata.js";
import { jsonBool, jsonObject, jsonString, jsonStringList } from "./strict-json.js";

export const METADATA_EXCHANGE_TYPE = `${TYPE_PREFIX}envoy.tcp.metadataexchange.config.MetadataExchange`;
/** How long a downstream peer has to finish its exchange (Envoy's listener_filters_timeout). */
export const DOWNSTREAM_EXCHANGE_TIMEOUT_MS = 15_000;

export interface MetadataExchangeConfig {
  /** The ALPN under which the exchange runs. */
  readonly protocol: string;
  readonly enableDiscovery: boolean;
  readonly additionalLabels: readonly string[];
}

/** Reads the config's JSON strictly (an unknown field is an XdsConfigError naming it). */
export function parseMetadataExchangeConfig(raw: unknown, path: string): MetadataExchangeConfig {
  const o = jsonObject(raw, path, ["protocol", "enable_discovery", "additional_labels"], ["@type"]);
  const protocol = jsonString(o.get("protocol"), `${path}.protocol`);
  if (protocol === "") throw new XdsConfigError(`${path}.protocol`, "the exchange's ALPN protocol is required");
  return { protocol, enableDiscovery: jsonBool(o.get("enable_discovery"), `${path}.enable_discovery`), additionalLabels: jsonStringList(o.get("additional_labels"), `${path}.additional_labels`) };
}

/** What an exchange ended with. */
export type ExchangeOutcome =
  /** Done or abandoned: the connection goes on (with the peer when one was read). */
  | { readonly kind: "continue"; readonly peer: PeerMetadata | undefined }
  /** The connection must close (oversized, stalled, or ended before the exchange finished). */
  | { readonly kind: "close"; readonly reason: string };

/** Whether the exchange runs on `socket`: TLS negotiated the configured protocol. */
export function exchangeApplies(socket: net.Socket, config: MetadataExchangeConfig): boolean {
  return (socket as tls.TLSSocket).alpnProtocol === config.protocol;
}

/**
 * Runs the exchange on a connected socket that negotiated the protocol: writes `local`'s, reads the
 * peer's off the front of the stream and puts back what follows it (paused, for whoever reads the
 * socket next). `done` is called once, unless `cancel` (the returned function) was called first or
 * the socket closed (its owner hears of that itself). Without `timeoutMs` the caller bounds the time.
 */
export function runExchange(socket: net.Socket, local: LocalPeer, config: MetadataExchangeConfig, timeoutMs: number | undefined, done: (o: ExchangeOutcome) => void): () => void {
  let buffered: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (o: ExchangeOutcome, rest: Buffer | undefined) => {
    if (finished) return;
    cancel();
    socket.pause();
    if (rest !== undefined && rest.length > 0) socket.unshift(rest);
    done(o);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const r = readExchange(buffered);
    switch (r.kind) {
      case "more":
        // (readExchange refuses lengths past the bound, so at most the bound plus the header is held.)
        if (buffered.length > MAX_PEER_METADATA_BYTES + MX_HEADER_BYTES) finish({ kind: "close", reason: "oversized metadata exchange" }, undefined);
        return;
      case "no-magic":
        return finish({ kind: "continue", peer: undefined }, buffered);
      case "too-large":
        return finish({ kind: "close", reason: `metadata exchange of ${r.length} bytes is past the ${MAX_PEER_METADATA_BYTES}-byte bound` }, undefined);
      case "bad-payload":
        return finish({ kind: "continue", peer: undefined }, buffered.subarray(r.consumed));
      case "peer":
        return finish({ kind: "continue", peer: r.node === undefined ? undefined : peerFromStruct(r.node, config.additionalLabels) }, buffered.subarray(r.consumed));
    }
  };
  const onEnd = () => finish({ kind: "close", reason: "the peer ended its side during the metadata exchange" }, undefined);
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish({ kind: "close", reason: "metadata exchange timed out" }, undefined), timeoutMs);
  const cancel = () => {
    finished = true;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("close", cancel);
  };
  socket.on("data", onData);
  socket.once("end", onEnd);
  socket.once("close", cancel);
  socket.write(encodeExchange(local));
  return cancel;
}

/** The read filter on one downstream connection. */
class MetadataExchangeReadFilter implements ReadFilter {
  private cancel: (() => void) | undefined = undefined;

  constructor(
    private readonly config: MetadataExchangeConfig,
    private readonly local: LocalPeer,
  ) {}

  onNewConnection(cb: ReadFilterCallbacks): NetworkFilterStatus {
    if (!exchangeApplies(cb.socket, this.config)) return NetworkFilterStatus.Continue;
    this.cancel = runExchange(cb.socket, this.local, this.config, DOWNSTREAM_EXCHANGE_TIMEOUT_MS, (o) => {
      this.cancel = undefined;
      if (o.kind === "close") return cb.close();
      if (o.peer !== undefined) {
        const state = (cb.connection.filterState ??= new Map());
        if (!state.has(DOWNSTREAM_PEER)) state.set(DOWNSTREAM_PEER, o.peer);
      }
      cb.continueReading();
    });
    return NetworkFilterStatus.StopIteration;
  }

  onDestroy(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}

registerJsonTypedStruct(METADATA_EXCHANGE_TYPE);

NETWORK_FILTERS.register([METADATA_EXCHANGE_TYPE], {
  terminal: false,
  compile(config, ctx) {
    const parsed = parseMetadataExchangeConfig(config, ctx.path);
    const node = ctx.runtime.localNode ?? { id: "", metadata: {} };
    const local = localPeer(node.id, node.metadata, parsed.additionalLabels);
    return { terminal: false, name: ctx.name, create: () => new MetadataExchangeReadFilter(parsed, local) };
  },
});
