// Envoy's network external authorization filter (envoy.filters.network.ext_authz; Istio's CUSTOM
// action on TCP inbound chains): a new connection is held (no bytes flow) while the gRPC
// Authorization service checks its peers (addresses, certificate principals, optionally the peer
// certificate and the TLS SNI); OK lets it through, denied closes it, an error closes it unless
// failure_mode_allow. filter_enabled_metadata gates the check on the connection's dynamic
// metadata. Stats: ext_authz.<stat_prefix>.{total,ok,denied,error,failure_mode_allowed,
// cx_closed,disabled} and the gauge active. (Envoy checks on the first bytes the client sends;
// tsmesh checks on accept, so a server-first protocol is checked too.)
import type { envoy } from "../../envoy/types.js";
import { NETWORK_FILTERS, NetworkFilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../network-filters.js";
import { XdsConfigError } from "../xds-error.js";
import { peers } from "./check-request.js";
import { type AuthzClient, CheckStatus, grpcClient, type PendingCheck } from "./client.js";
import { checkApiVersion } from "./config.js";
import { compileMetadataMatcher, type MetadataMatcher } from "../http/matchers/metadata.js";
import type { FilterRuntime } from "../http/filter.js";
import type { Counter, Gauge } from "../stats.js";

export const NETWORK_EXT_AUTHZ_TYPE = "envoy.extensions.filters.network.ext_authz.v3.ExtAuthz";
/** Where the service's dynamic_metadata goes on the connection. */
export const NETWORK_EXT_AUTHZ_NAMESPACE = "envoy.filters.network.ext_authz";

type NetworkExtAuthz = envoy.extensions.filters.network.ext_authz.v3.ExtAuthz;

interface NetworkStats {
  total: Counter;
  ok: Counter;
  denied: Counter;
  error: Counter;
  failureModeAllowed: Counter;
  cxClosed: Counter;
  disabled: Counter;
  active: Gauge;
}

interface NetworkConfig {
  client: AuthzClient;
  failureModeAllow: boolean;
  includePeerCertificate: boolean;
  includeTlsSession: boolean;
  filterEnabledMetadata: MetadataMatcher | undefined;
}

class NetworkExtAuthzFilter implements ReadFilter {
  private call: PendingCheck | undefined = undefined;
  private done = false;

  constructor(
    private readonly config: NetworkConfig,
    private readonly runtime: FilterRuntime,
    private readonly stats: NetworkStats,
  ) {}

  onNewConnection(cb: ReadFilterCallbacks): NetworkFilterStatus {
    const c = this.config;
    if (c.filterEnabledMetadata !== undefined && !c.filterEnabledMetadata(cb.dynamicMetadata)) {
      this.stats.disabled.inc();
      return NetworkFilterStatus.Continue;
    }
    this.stats.total.inc();
    this.stats.active.inc();
    const attributes = peers({ connection: cb.connection, socket: cb.socket }, c);
    const call = c.client.check(this.runtime, { attributes });
    this.call = call;
    call.response.then(
      (r) => this.onComplete(cb, r.status, r.dynamicMetadata),
      () => this.onComplete(cb, CheckStatus.Error, undefined),
    );
    return NetworkFilterStatus.StopIteration;
  }

  private onComplete(cb: ReadFilterCallbacks, status: CheckStatus, md: Parameters<ReadFilterCallbacks["dynamicMetadata"]["set"]>[1] | undefined): void {
    if (this.done) return;
    this.finish();
    if (md !== undefined) cb.dynamicMetadata.set(NETWORK_EXT_AUTHZ_NAMESPACE, md);
    const s = this.stats;
    if (status === CheckStatus.OK) {
      s.ok.inc();
      cb.continueReading();
      return;
    }
    if (status === CheckStatus.Denied) s.denied.inc();
    else {
      s.error.inc();
      if (this.config.failureModeAllow) {
        s.failureModeAllowed.inc();
        cb.continueReading();
        return;
      }
    }
    s.cxClosed.inc();
    cb.close();
  }

  private finish(): void {
    this.done = true;
    this.call = undefined;
    this.stats.active.dec();
  }

  onDestroy(): void {
    if (this.done || this.call === undefined) return;
    const c = this.call;
    this.finish();
    c.cancel();
  }
}

NETWORK_FILTERS.register([NETWORK_EXT_AUTHZ_TYPE], {
  terminal: false,
  compile(any, ctx) {
    const config = any as unknown as NetworkExtAuthz;
    const path = ctx.path;
    checkApiVersion(config.transportApiVersion, path);
    const prefix = config.statPrefix ?? "";
    if (prefix === "") throw new XdsConfigError(`${path}.statPrefix`, "stat_prefix is required");
    if (config.grpcService === undefined) throw new XdsConfigError(`${path}.grpcService`, "grpc_service is required");
    if (config.bootstrapMetadataLabelsKey) throw new XdsConfigError(`${path}.bootstrapMetadataLabelsKey`, "destination labels from node metadata are not implemented by tsmesh");
    const cfg: NetworkConfig = {
      client: grpcClient(config.grpcService, `${path}.grpcService`),
      failureModeAllow: config.failureModeAllow === true,
      includePeerCertificate: config.includePeerCertificate === true,
      includeTlsSession: config.includeTlsSession === true,
      filterEnabledMetadata: config.filterEnabledMetadata ? compileMetadataMatcher(config.filterEnabledMetadata, `${path}.filterEnabledMetadata`) : undefined,
    };
    // Istio's prefix is "tcp.": the name keeps one separator ("ext_authz.tcp.ok").
    const base = `ext_authz.${prefix}.`.replace(/\.{2,}/g, ".");
    const st = ctx.stats;
    const stats: NetworkStats = {
      total: st.counter(`${base}total`),
      ok: st.counter(`${base}ok`),
      denied: st.counter(`${base}denied`),
      error: st.counter(`${base}error`),
      failureModeAllowed: st.counter(`${base}failure_mode_allowed`),
      cxClosed: st.counter(`${base}cx_closed`),
      disabled: st.counter(`${base}disabled`),
      active: st.gauge(`${base}active`),
    };
    const runtime = ctx.runtime;
    return { terminal: false, name: ctx.name, create: () => new NetworkExtAuthzFilter(cfg, runtime, stats) };
  },
});
