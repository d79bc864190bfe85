// Envoy's network RBAC filter (envoy.filters.network.rbac, Istio's TCP authorization): the shadow
// engine, then the enforced engine, over what the connection offers — addresses and ports, the
// peer certificate (authenticated), SNI (requested_server_name, also on TLS passed through), the
// connection's dynamic metadata;
// no headers. A denied connection is closed without flushing (connection termination details
// `rbac_access_denied_matched_policy[…]`). Stats `<stat_prefix>rbac.allowed|denied`,
// `<stat_prefix>rbac.[<shadow_rules_stat_prefix>.]shadow_allowed|shadow_denied`; the shadow result
// goes to `envoy.filters.network.rbac` in the connection's dynamic metadata.
//
// Envoy evaluates on the connection's first bytes (ONE_TIME_ON_FIRST_BYTE); tsmesh evaluates when
// the connection is handed to the chain, before any byte reaches the terminal filter — the same
// inputs (nothing the filter reads comes from the bytes), decided no later. CONTINUOUS enforcement
// (re-evaluating on every read) is refused.
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { envoy } from "../../envoy/types.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import type { ConnectionInfo } from "../listener-spec.js";
import { NETWORK_FILTERS, NetworkFilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../network-filters.js";
import { XdsConfigError } from "../xds-error.js";
import { compileEngines, denialDetail, METADATA_KEYS, RbacStats, type RbacEngines } from "./config.js";
import { type RbacInput, requestedServerName } from "./engine.js";

type NetworkRbacMessage = envoy.extensions.filters.network.rbac.v3.RBAC;

export const NETWORK_RBAC_TYPE = "envoy.extensions.filters.network.rbac.v3.RBAC";
export const NETWORK_RBAC_METADATA_NAMESPACE = "envoy.filters.network.rbac";

interface NetworkRbacConfig extends RbacEngines {
  readonly stats: RbacStats;
  readonly shadowPolicyKey: string;
  readonly shadowResultKey: string;
}

/** The connection as the matchers see it (no headers, no path). */
class ConnectionInput implements RbacInput {
  readonly path = undefined;
  readonly tls: tls.TLSSocket | undefined;
  readonly requestedServerName: string;

  constructor(
    private readonly info: ConnectionInfo,
    socket: net.Socket,
    readonly dynamicMetadata: DynamicMetadata,
  ) {
    this.tls = (socket as { encrypted?: boolean }).encrypted === true ? (socket as tls.TLSSocket) : undefined;
    this.requestedServerName = requestedServerName(this.tls, info.requestedServerName);
  }

  header(): string | undefined {
    return undefined;
  }
  get localAddress(): string {
    return this.info.localAddress;
  }
  get localPort(): number {
    return this.info.localPort;
  }
  get remoteAddress(): string {
    return this.info.remoteAddress;
  }
  get directRemoteAddress(): string {
    return this.info.remoteAddress;
  }
  get downstreamRemoteAddress(): string {
    return this.info.remoteAddress;
  }
}

/** Why a connection was closed, for logs and tests (Envoy's connection termination details). */
export interface NetworkRbacDenial {
  readonly details: string;
}

class NetworkRbacFilter implements ReadFilter {
  /** Set when the filter closed the connection (its termination details). */
  denial: NetworkRbacDenial | undefined = undefined;

  constructor(private readonly cfg: NetworkRbacConfig) {}

  onNewConnection(cb: ReadFilterCallbacks): NetworkFilterStatus {
    const cfg = this.cfg;
    const input = new ConnectionInput(cb.connection, cb.socket, cb.dynamicMetadata);
    if (cfg.shadow !== undefined) {
      const r = cfg.shadow.evaluate(input);
      (r.allowed ? cfg.stats.shadowAllowed : cfg.stats.shadowDenied).inc();
      const fields: Record<string, string> = {};
      if (r.policyId !== "") fields[cfg.shadowPolicyKey] = r.policyId;
      fields[cfg.shadowResultKey] = r.allowed ? METADATA_KEYS.allowed : METADATA_KEYS.denied;
      cb.dynamicMetadata.set(NETWORK_RBAC_METADATA_NAMESPACE, fields);
    }
    if (cfg.engine === undefined) return NetworkFilterStatus.Continue;
    const r = cfg.engine.evaluate(input);
    if (r.allowed) {
      cfg.stats.allowed.inc();
      return NetworkFilterStatus.Continue;
    }
    cfg.stats.denied.inc();
    this.denial = { details: denialDetail(r.policyId) };
    cb.close();
    return NetworkFilterStatus.StopIteration;
  }
}

/** Compiles the filter's typed_config (exported for tests that drive the filter directly). */
export function compileNetworkRbac(c: NetworkRbacMessage, path: string, stats: RbacStats | ((statPrefix: string, shadowPrefix: string) => RbacStats)): NetworkRbacConfig {
  const statPrefix = c.statPrefix ?? "";
  if (statPrefix === "") throw new XdsConfigError(`${path}.statPrefix`, "stat_prefix must not be empty");
  if ((c.enforcementType ?? "ONE_TIME_ON_FIRST_BYTE") !== "ONE_TIME_ON_FIRST_BYTE") throw new XdsConfigError(`${path}.enforcementType`, "CONTINUOUS enforcement is not implemented by tsmesh");
  const shadowPrefix = c.shadowRulesStatPrefix ?? "";
  return {
    ...compileEngines(c, path),
    stats: typeof stats === "function" ? stats(statPrefix, shadowPrefix) : stats,
    shadowPolicyKey: shadowPrefix + METADATA_KEYS.shadowEffectivePolicyId,
    shadowResultKey: shadowPrefix + METADATA_KEYS.shadowEngineResult,
  };
}

/** One read filter instance per connection. */
export function networkRbacFilter(cfg: NetworkRbacConfig): NetworkRbacFilter {
  return new NetworkRbacFilter(cfg);
}

NETWORK_FILTERS.register([NETWORK_RBAC_TYPE], {
  terminal: false,
  compile(config, ctx) {
    // (Registered for the network RBAC type: the registry checked it.)
    const cfg = compileNetworkRbac(config as NetworkRbacMessage, ctx.path, (p, s) => new RbacStats(ctx.stats.scope(""), p, "", s));
    return { terminal: false, name: ctx.name, create: () => new NetworkRbacFilter(cfg) };
  },
});
