// Envoy's upstream stats the proxy keeps per cluster (cluster.NAME.*) and per host (/clusters
// `HOST::rq_success::N`, …).
import type { Counter, Gauge, StatsScope } from "../stats.js";
import type { Host } from "./host.js";

/** Envoy's per-host upstream stats (/clusters `HOST::rq_success::N`, …). */
export class HostStats {
  cxTotal = 0;
  cxConnectFail = 0;
  rqTotal = 0;
  rqSuccess = 0;
  rqError = 0;
  rqTimeout = 0;
}

const HOST_STATS = new WeakMap<Host, HostStats>();

/** The host's stats (they live as long as the Host object, so they survive EDS/CDS updates). */
export function hostStats(host: Host): HostStats {
  let s = HOST_STATS.get(host);
  if (!s) HOST_STATS.set(host, (s = new HostStats()));
  return s;
}

/** Envoy's cluster stats the proxy maintains (cluster.NAME.*). */
export class ClusterStats {
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqPendingTotal: Counter;
  readonly rqPendingActive: Gauge;
  readonly rqPendingOverflow: Counter;
  readonly rqPendingCancelled: Counter;
  readonly rqRetry: Counter;
  readonly rqRetryOverflow: Counter;
  readonly rqRetrySuccess: Counter;
  readonly rqTimeout: Counter;
  readonly rqPerTryTimeout: Counter;
  readonly cxTotal: Counter;
  readonly cxHttp1Total: Counter;
  readonly cxHttp2Total: Counter;
  readonly cxActive: Gauge;
  readonly cxConnectFail: Counter;
  readonly cxConnectTimeout: Counter;
  /** Responses that were not HTTP (Envoy's codec_client.cc counts codec errors here). */
  readonly cxProtocolError: Counter;
  readonly cxNoneHealthy: Counter;
  readonly cxOverflow: Counter;
  readonly rq2xx: Counter;
  readonly rq3xx: Counter;
  readonly rq4xx: Counter;
  readonly rq5xx: Counter;
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;
  readonly updateFailure: Counter;

  constructor(s: StatsScope) {
    this.rqTotal = s.counter("upstream_rq_total");
    this.rqActive = s.gauge("upstream_rq_active");
    this.rqPendingTotal = s.counter("upstream_rq_pending_total");
    this.rqPendingActive = s.gauge("upstream_rq_pending_active");
    this.rqPendingOverflow = s.counter("upstream_rq_pending_overflow");
    this.rqPendingCancelled = s.counter("upstream_rq_cancelled");
    this.rqRetry = s.counter("upstream_rq_retry");
    this.rqRetryOverflow = s.counter("upstream_rq_retry_overflow");
    this.rqRetrySuccess = s.counter("upstream_rq_retry_success");
    this.rqTimeout = s.counter("upstream_rq_timeout");
    this.rqPerTryTimeout = s.counter("upstream_rq_per_try_timeout");
    this.cxTotal = s.counter("upstream_cx_total");
    this.cxHttp1Total = s.counter("upstream_cx_http1_total");
    this.cxHttp2Total = s.counter("upstream_cx_http2_total");
    this.cxActive = s.gauge("upstream_cx_active");
    this.cxConnectFail = s.counter("upstream_cx_connect_fail");
    this.cxConnectTimeout = s.counter("upstream_cx_connect_timeout");
    this.cxProtocolError = s.counter("upstream_cx_protocol_error");
    this.cxNoneHealthy = s.counter("upstream_cx_none_healthy");
    this.cxOverflow = s.counter("upstream_cx_overflow");
    this.rq2xx = s.counter("upstream_rq_2xx");
    this.rq3xx = s.counter("upstream_rq_3xx");
    this.rq4xx = s.counter("upstream_rq_4xx");
    this.rq5xx = s.counter("upstream_rq_5xx");
    this.membershipTotal = s.gauge("membership_total");
    this.membershipHealthy = s.gauge("membership_healthy");
    this.updateFailure = s.counter("update_failure");
  }

  response(status: number): void {
    if (status >= 500) this.rq5xx.inc();
    else if (status >= 400) this.rq4xx.inc();
    else if (status >= 300) this.rq3xx.inc();
    else if (status >= 200) this.rq2xx.inc();
  }
}
