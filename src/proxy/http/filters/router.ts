// Envoy's router filter (envoy.filters.http.router), the terminal filter: turns the stream's
// resolved route into an answer — 404 NR without a route, the route's direct response or redirect,
// 503 NC for an unknown cluster — or a forward: the plan (rewrites, header mutations, retry policy,
// hash), the route timeout (gRPC's grpc-timeout under max_grpc_timeout, none with
// max_stream_duration), mirrors, and the router's try loop with the response relayed back through
// the encoder filters.
import type * as http from "node:http";
import type * as v3 from "../../../envoy/types.js";
import { XdsConfigError } from "../../xds-error.js";
import type { Reply } from "../downstream.js";
import { type FilterCallbacks, type FilterContext, type FilterRuntime, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";
import { LOCAL_REPLIES } from "../local-reply.js";
import { localRouteResponse, planForward, type PlanRequest, type RouteForwardPlan } from "../route-glue.js";
import type { ResponseDecorator } from "../router.js";
import { sendShadow } from "../shadow.js";
import { TrySpans } from "../try-spans.js";
import { parseGrpcTimeout } from "../../../core/grpc.js";
import { compileStrictCheck, type StrictHeaderCheck } from "../strict-headers.js";

export const ROUTER_TYPE = "envoy.extensions.filters.http.router.v3.Router";

/** What the router filter's own config changes. */
interface RouterSettings {
  /** suppress_envoy_headers: none of the router's x-envoy-* headers on requests or responses. */
  readonly suppressEnvoyHeaders: boolean;
  readonly strictCheck: StrictHeaderCheck | undefined;
  /** What the router's local replies carry; shared by every stream (sendLocalReply copies it). */
  readonly localReplyHeaders: http.OutgoingHttpHeaders;
  /** start_child_span: a span per try, as the HCM's spawn_upstream_span asks. */
  readonly startChildSpan: boolean;
}

class RouterFilter implements HttpFilter, ResponseDecorator {
  private plan: RouteForwardPlan | undefined = undefined;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly rt: FilterRuntime,
    private readonly hcm: FilterContext["hcm"],
    private readonly settings: RouterSettings,
  ) {}

  get localReplyHeaders(): http.OutgoingHttpHeaders {
    return this.settings.localReplyHeaders;
  }

  decorateResponse(h: http.OutgoingHttpHeaders): void {
    this.plan?.decorateResponse(h);
    h.server = this.hcm.serverName;
  }

  private reply(r: Reply): FilterStatus {
    this.cb.sendLocalReply(r);
    return FilterStatus.StopIteration;
  }

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    const cb = this.cb;
    const req = cb.request;
    const resolved = cb.route();
    if (resolved === undefined) return this.reply(LOCAL_REPLIES.noRoute());
    const suppressEnvoyHeaders = this.settings.suppressEnvoyHeaders;
    const pr: PlanRequest = { authority: req.authority, path: req.path, method: req.method, headers, remote: req.downstreamRemoteAddress, connection: req.connection, suppressEnvoyHeaders, tls: req.tls };
    const local = localRouteResponse(resolved, pr);
    if (local !== undefined) {
      const h = local.headers;
      h.server = this.hcm.serverName;
      const body = typeof local.body === "string" ? Buffer.from(local.body) : local.body;
      h["content-length"] = String(body.length);
      const ds = cb.downstream;
      ds.respond(local.status, h, body.length === 0);
      if (body.length) {
        ds.write(body);
        ds.end();
      }
      cb.streamComplete({ status: local.status, flags: 0, bytesSent: body.length, details: local.kind === "direct" ? "direct_response" : "redirect" });
      return FilterStatus.StopIteration;
    }
    if (resolved.cluster === undefined) return this.reply(LOCAL_REPLIES.noRoute());
    const plan = (this.plan = planForward({ route: resolved.route, entry: resolved.entry, cluster: resolved.cluster }, pr));
    // The HCM span's context goes upstream; with spawn_upstream_span or start_child_span each try
    // replaces it with its own span's (try-spans.ts).
    const span = req.activeSpan;
    span?.injectContext(plan.requestHeaders);
    const spawn = span !== undefined && (this.settings.startChildSpan || span.spawnsUpstream);
    const action = plan.route.action;
    const body = cb.body;
    // The request body is kept for a replay only when the route may retry or mirror it.
    if (action.kind === "route") body.configure(plan.retry !== undefined || plan.mirrors.length > 0, action.perRequestBufferLimitBytes ?? this.hcm.bufferLimitBytes);
    const cluster = this.rt.cluster(plan.cluster);
    if (!cluster) return this.reply(LOCAL_REPLIES.noCluster());
    const invalid = this.settings.strictCheck?.(headers);
    if (invalid !== undefined) return this.reply(invalid);
    let timeoutMs = plan.timeoutMs;
    if (action.kind === "route") {
      // Envoy's finalTimeout: a route with max_stream_duration has no route timeout (the stream
      // duration bounds it); else for gRPC with max_grpc_timeout, grpc-timeout is the route timeout
      // (0 = none), less grpc_timeout_offset, capped by the max when it is set.
      if (action.usingNewTimeouts) timeoutMs = 0;
      else if (req.grpc && action.maxGrpcTimeoutMs !== undefined) {
        const max = action.maxGrpcTimeoutMs;
        let t = parseGrpcTimeout(headers["grpc-timeout"]) ?? 0;
        const offset = action.grpcTimeoutOffsetMs ?? 0;
        if (t > offset && offset > 0) t -= offset;
        if (max && (t === 0 || t > max)) t = max;
        timeoutMs = t;
      }
    }
    // Mirrors: copies of the request through the same router once its body is in (fire and
    // forget: their responses are discarded, their failures are theirs).
    for (const m of plan.mirrors) {
      const mirror = this.rt.cluster(m.cluster);
      if (!mirror) continue;
      const router = this.rt.router;
      const shadow = { method: req.method, path: plan.path, authority: plan.authority, scheme: req.scheme, headers: plan.requestHeaders, timeoutMs, downstreamProtocol: req.protocol, grpc: req.grpc, suppressEnvoyHeaders };
      body.onEnded(() => {
        const buf = body.buffered();
        if (!buf) return;
        // Envoy's async-client span "mirror" (sampled as the policy's trace_sampled says) is the
        // shadow's parent span; start_child_span adds a span per try under it.
        const ms = span?.spawnChild("mirror", m.traceSampled);
        const tries = ms !== undefined && this.settings.startChildSpan ? new TrySpans(ms, m.cluster, cb.dynamicMetadata) : undefined;
        sendShadow(router, mirror, { ...shadow, body: buf, span: ms, tries, keepHost: m.keepHost }, (r) => ms?.finish({ status: r.status, flags: r.flags, protocol: "HTTP/1.1", upstreamCluster: m.cluster, upstreamHost: r.upstreamHost, dynamicMetadata: cb.dynamicMetadata }));
      });
    }
    this.rt.router.forward(
      {
        cluster,
        method: req.method,
        path: plan.path,
        authority: plan.authority,
        scheme: req.scheme,
        headers: plan.requestHeaders,
        body,
        timeoutMs,
        retry: plan.retry,
        hash: plan.hash,
        includeAttemptCount: plan.includeAttemptCount,
        suppressEnvoyHeaders,
        downstreamProtocol: req.protocol,
        grpc: req.grpc,
        upgrade: req.upgrade,
        tries: spawn ? new TrySpans(span, plan.cluster, cb.dynamicMetadata) : undefined,
      },
      cb.downstream,
      this,
      cb.abort,
      (r) => cb.streamComplete(r),
    );
    return FilterStatus.StopIteration;
  }
}

registerHttpFilter([ROUTER_TYPE], {
  terminal: true,
  create(config: v3.Router, ctx) {
    if (config.upstreamHttpFilters?.length) {
      throw new XdsConfigError(`${ctx.path}.upstreamHttpFilters`, "upstream HTTP filters are not implemented by tsmesh");
    }
    if (config.upstreamLog?.length) throw new XdsConfigError(`${ctx.path}.upstreamLog`, "upstream access logs are not implemented by tsmesh");
    // tsmesh reads no x-envoy-* timeout header from downstream, so there is nothing to respect.
    if (config.respectExpectedRqTimeout) {
      throw new XdsConfigError(`${ctx.path}.respectExpectedRqTimeout`, "tsmesh does not take upstream timeouts from x-envoy-* request headers");
    }
    const { runtime, hcm } = ctx;
    const settings: RouterSettings = {
      suppressEnvoyHeaders: config.suppressEnvoyHeaders === true,
      strictCheck: compileStrictCheck(config.strictCheckHeaders ?? [], `${ctx.path}.strictCheckHeaders`),
      localReplyHeaders: hcm.localReplyHeaders,
      startChildSpan: config.startChildSpan === true,
    };
    return { create: (cb) => new RouterFilter(cb, runtime, hcm, settings) };
  },
});
