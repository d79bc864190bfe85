// Listeners the proxies cannot bind, as the control plane learns them: from their LDS NACKs, which
// name each listener, its address:port and the OS error the way Envoy words them ("Error
// adding/updating listener(s) 0.0.0.0_80: cannot bind '127.0.255.1:80': Permission denied"). Kept
// per proxy address until that proxy ACKs LDS again; the Gateway API status (Programmed) and
// `tsmesh up`'s console read them.
import { LISTENER_TYPE } from "../envoy/protos.js";
import type { AckInfo, NackInfo } from "../xds/server/connection.js";
import type { ConnectionStatus } from "../xds/server/types.js";

export interface BindFailure {
  /** The Envoy listener (`0.0.0.0_80`). */
  listener: string;
  address: string;
  port: number;
  /** The OS error's text (`Permission denied`, `Address already in use`…). */
  error: string;
}

const CANNOT_BIND = /([^\s,:]+): cannot bind '\[?([^'\]]+?)\]?:(\d+)': (.+?)(?=, [^\s,:]+: cannot bind '|$)/g;

/** The bind failures an LDS NACK's message names (none for other rejections). */
export function bindFailuresIn(message: string): BindFailure[] {
  return [...message.matchAll(CANNOT_BIND)].map((m) => ({ listener: m[1], address: m[2], port: Number(m[3]), error: m[4] }));
}

/** The proxy's address in an Istio node id (`router~127.0.255.1~name.ns~ns.svc.cluster.local`). */
export function proxyAddressOf(nodeId: string): string | undefined {
  return nodeId.split("~")[1] || undefined;
}

/** What the ListenerFailures reads of the ADS server: its ACK/NACK events and each connection's state. */
export interface AckEvents {
  on(event: "ack", f: (a: AckInfo) => void): unknown;
  on(event: "nack", f: (n: NackInfo) => void): unknown;
  on(event: "disconnect", f: (c: ConnectionStatus) => void): unknown;
  connection(connectionId: string): ConnectionStatus | undefined;
}

interface Failing {
  connectionId: string;
  nodeId: string;
  /** Each failed listener with the version the server had sent when it was NACKed. */
  failures: Array<BindFailure & { version: string | undefined }>;
}

/**
 * The bind failures of every connected proxy, by proxy address. A failure lasts until the proxy
 * ACKs a newer version of that listener or the listener is no longer sent to it (an ACK of an
 * unrelated change leaves it: the listener is still not bound), or the proxy disconnects.
 * `onChange` hears each new set and each time it empties.
 */
export class ListenerFailures {
  private readonly byAddress = new Map<string, Failing>();

  constructor(
    private readonly server: AckEvents,
    private readonly onChange?: (nodeId: string, failures: readonly BindFailure[]) => void,
  ) {
    server.on("nack", (n) => {
      if (n.typeUrl !== LISTENER_TYPE) return;
      const found = bindFailuresIn(n.message);
      const address = proxyAddressOf(n.nodeId);
      if (found.length === 0 || !address) return;
      const held = this.held(n.connectionId);
      const failures = found.map((f) => ({ ...f, version: held[f.listener] }));
      this.byAddress.set(address, { connectionId: n.connectionId, nodeId: n.nodeId, failures });
      this.onChange?.(n.nodeId, failures);
    });
    server.on("ack", (a) => {
      const address = proxyAddressOf(a.nodeId);
      const f = address === undefined ? undefined : this.byAddress.get(address);
      if (a.typeUrl !== LISTENER_TYPE || !f || f.connectionId !== a.connectionId) return;
      const held = this.held(a.connectionId);
      f.failures = f.failures.filter((x) => x.listener in held && held[x.listener] === x.version);
      if (f.failures.length > 0) return;
      this.byAddress.delete(address!);
      this.onChange?.(a.nodeId, []);
    });
    server.on("disconnect", (c) => {
      const address = proxyAddressOf(c.nodeId);
      if (address === undefined || this.byAddress.get(address)?.connectionId !== c.connectionId) return;
      this.byAddress.delete(address);
      this.onChange?.(c.nodeId, []);
    });
  }

  /** The LDS resource versions the server has sent on a connection. */
  private held(connectionId: string): Record<string, string> {
    return this.server.connection(connectionId)?.types.find((t) => t.typeUrl === LISTENER_TYPE)?.resourceVersions ?? {};
  }

  /** The listeners the proxy on `address` could not bind. */
  at(address: string): readonly BindFailure[] {
    return this.byAddress.get(address)?.failures ?? [];
  }
}
