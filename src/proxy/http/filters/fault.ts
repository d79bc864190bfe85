// Envoy's fault filter (envoy.filters.http.fault, Istio's VirtualService `fault`): a delay and/or
// an abort, each for a percentage of requests or as request headers ask when the config says so
// (x-envoy-fault-delay-request, x-envoy-fault-abort-request, x-envoy-fault-abort-grpc-request);
// limited to requests whose headers match, to one upstream cluster or to named downstream nodes,
// and to max_active_faults at a time. A route's HTTPFault replaces the filter's. Stats:
// http.<prefix>.fault.{delays_injected,aborts_injected,active_faults,faults_overflow}.
import type * as http from "node:http";
import { durationMs } from "../../../envoy/protos.js";
import type * as v3 from "../../../envoy/types.js";
import type { Counter, Gauge } from "../../stats.js";
import { XdsConfigError } from "../../xds-error.js";
import type { Reply } from "../downstream.js";
import { type FilterCallbacks, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";
import { LOCAL_REPLIES } from "../local-reply.js";
import { HeaderMatcher } from "../matchers/matchers.js";
import { probability } from "../route-policies.js";

export const FAULT_TYPE = "envoy.extensions.filters.http.fault.v3.HTTPFault";

export interface FaultConfig {
  /** `fraction`: the percentage as a probability (absent = 100%, Envoy's default for the fault filter). */
  delay?: { ms?: number; fromHeader: boolean; fraction: number };
  abort?: { status?: number; grpcStatus?: number; fromHeader: boolean; fraction: number };
  /** The fault applies only to requests these match (all of them). */
  headers: readonly HeaderMatcher[];
  /** The fault applies only to requests routed to this cluster. */
  upstreamCluster?: string;
  /** The fault applies only to requests whose x-envoy-downstream-service-node is one of these. */
  downstreamNodes: readonly string[];
  /** At most this many faults at once (undefined: no limit). */
  maxActiveFaults?: number;
}

/** Compiles an HTTPFault (the filter's config or a route's). */
export function faultConfig(f: v3.HTTPFault, path: string): FaultConfig {
  if (f.responseRateLimit !== undefined) throw new XdsConfigError(`${path}.responseRateLimit`, "response rate limiting is not implemented by tsmesh");
  const out: FaultConfig = { headers: [], downstreamNodes: [] };
  const d = f.delay;
  if (d) {
    const ms = durationMs(d.fixedDelay);
    if (ms === undefined && !d.headerDelay) throw new XdsConfigError(`${path}.delay`, "needs fixed_delay or header_delay");
    out.delay = { ms, fromHeader: !!d.headerDelay, fraction: d.percentage ? probability(d.percentage, `${path}.delay.percentage`) : 1 };
  }
  const a = f.abort;
  if (a) {
    const status = a.httpStatus;
    if (status !== undefined && (status < 200 || status >= 600)) throw new XdsConfigError(`${path}.abort.httpStatus`, `invalid status ${status}`);
    const grpcStatus = a.grpcStatus;
    if (status === undefined && grpcStatus === undefined && !a.headerAbort) throw new XdsConfigError(`${path}.abort`, "needs http_status, grpc_status or header_abort");
    out.abort = { status, grpcStatus, fromHeader: !!a.headerAbort, fraction: a.percentage ? probability(a.percentage, `${path}.abort.percentage`) : 1 };
  }
  if (f.headers) out.headers = f.headers.map((h, i) => HeaderMatcher.compile(h, `${path}.headers[${i}]`));
  if (f.upstreamCluster) out.upstreamCluster = f.upstreamCluster;
  if (f.downstreamNodes) out.downstreamNodes = f.downstreamNodes;
  if (f.maxActiveFaults !== undefined) out.maxActiveFaults = f.maxActiveFaults.value ?? 0;
  return out;
}

const header = (h: http.OutgoingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
};

interface FaultStats {
  delays: Counter;
  aborts: Counter;
  active: Gauge;
  overflow: Counter;
}

class FaultFilter implements HttpFilter {
  private timer: NodeJS.Timeout | undefined = undefined;
  private config: FaultConfig | undefined = undefined;
  private counted = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly own: FaultConfig | undefined,
    private readonly stats: FaultStats,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    const f = this.cb.perRouteConfig<FaultConfig>() ?? this.own;
    if (f === undefined || (f.delay === undefined && f.abort === undefined) || !this.applies(f, headers)) return FilterStatus.Continue;
    if (f.maxActiveFaults !== undefined && this.stats.active.value >= f.maxActiveFaults) {
      this.stats.overflow.inc();
      return FilterStatus.Continue;
    }
    this.config = f;
    const d = f.delay;
    if (d !== undefined) {
      const ms = d.fromHeader ? Number(header(headers, "x-envoy-fault-delay-request")) : d.ms;
      if (ms !== undefined && Number.isFinite(ms) && ms > 0 && Math.random() < d.fraction) {
        this.begin();
        this.stats.delays.inc();
        this.cb.setResponseFlag("DI");
        this.timer = setTimeout(() => {
          this.timer = undefined;
          if (this.abort(headers)) return;
          this.end();
          this.cb.continueDecoding();
        }, ms);
        return FilterStatus.StopIteration;
      }
    }
    return this.abort(headers) ? FilterStatus.StopIteration : (this.end(), FilterStatus.Continue);
  }

  /** Envoy's matchesTargetUpstreamCluster / matchesDownstreamNodes / header matchers. */
  private applies(f: FaultConfig, headers: http.OutgoingHttpHeaders): boolean {
    if (f.upstreamCluster !== undefined && this.cb.route()?.cluster !== f.upstreamCluster) return false;
    if (f.downstreamNodes.length > 0) {
      const node = header(headers, "x-envoy-downstream-service-node");
      if (node === undefined || !f.downstreamNodes.includes(node)) return false;
    }
    if (f.headers.length > 0) {
      const view = { header: (n: string) => header(headers, n) };
      for (const m of f.headers) if (!m.matches(view)) return false;
    }
    return true;
  }

  /** Sends the abort when it fires; true if it did. */
  private abort(headers: http.OutgoingHttpHeaders): boolean {
    const a = this.config?.abort;
    if (a === undefined || Math.random() >= a.fraction) return false;
    const grpcHeader = a.fromHeader ? header(headers, "x-envoy-fault-abort-grpc-request") : undefined;
    let reply: Reply | undefined;
    if (grpcHeader !== undefined || a.grpcStatus !== undefined) {
      // gRPC aborts answer 200 with grpc-status (a trailers-only reply).
      const code = grpcHeader !== undefined ? Number(grpcHeader) : a.grpcStatus!;
      reply = { ...LOCAL_REPLIES.faultAbort(200), grpcStatus: Number.isFinite(code) ? code : 2 };
    } else {
      const status = a.fromHeader ? Number(header(headers, "x-envoy-fault-abort-request")) : a.status;
      if (status !== undefined && Number.isFinite(status) && status >= 200 && status < 600) reply = LOCAL_REPLIES.faultAbort(status);
    }
    if (reply === undefined) return false;
    this.begin();
    this.stats.aborts.inc();
    this.end();
    this.cb.sendLocalReply(reply);
    return true;
  }

  private begin(): void {
    if (this.counted) return;
    this.counted = true;
    this.stats.active.inc();
  }

  private end(): void {
    if (!this.counted) return;
    this.counted = false;
    this.stats.active.dec();
  }

  onDestroy(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.end();
  }
}

registerHttpFilter([FAULT_TYPE], {
  terminal: false,
  create(config: v3.HTTPFault, ctx) {
    const own = config.abort || config.delay || config.headers ? faultConfig(config, ctx.path) : undefined;
    const s = ctx.stats.scope("fault");
    const stats: FaultStats = { delays: s.counter("delays_injected"), aborts: s.counter("aborts_injected"), active: s.gauge("active_faults"), overflow: s.counter("faults_overflow") };
    return { create: (cb) => new FaultFilter(cb, own, stats) };
  },
  perRoute: { types: [FAULT_TYPE], compile: (c: v3.HTTPFault, path) => faultConfig(c, path) },
});
