// Envoy's external authorization filter (envoy.filters.http.ext_authz; Istio's AuthorizationPolicy
// CUSTOM action): each request is held while a check service (gRPC Authorization/Check or a plain
// HTTP service) decides. OK → the request goes on with the service's header mutations (and its
// response headers later); denied → the service's status, headers and body go back to the client
// (403 by default) with flag UAEX, details `ext_authz_denied`; error (unreachable, timeout, 5xx,
// bad response) → status_on_error (403) with details `ext_authz_error`, unless failure_mode_allow
// lets the request through. The body is buffered for the check when with_request_body says so,
// bounded by max_request_bytes. Stats: http.<prefix>.ext_authz.[<stat_prefix>.]{ok,denied,error,
// disabled,failure_mode_allowed,invalid}. A stream that goes away cancels the call in flight.
import type * as http from "node:http";
import type { envoy, google } from "../../../envoy/types.js";
import { CheckStatus, type AuthzResponse, type HeaderPair, type PendingCheck } from "../../ext-authz/client.js";
import { httpRequest, metadataContext, peers } from "../../ext-authz/check-request.js";
import { mutateQuery, validQueryParameter } from "../../ext-authz/query-params.js";
import { type BufferSettings, compileExtAuthz, compileExtAuthzPerRoute, EXT_AUTHZ_PER_ROUTE_TYPE, EXT_AUTHZ_TYPE, type ExtAuthzConfig, type ExtAuthzPerRouteConfig } from "../../ext-authz/config.js";
import type { Counter } from "../../stats.js";
import { fractionFires } from "../route-policies.js";
import { addHeader, getHeader, hasHeader, removeHeader, setHeader } from "../headers.js";
import { DataStatus, type FilterCallbacks, type FilterContext, type FilterRuntime, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";

/** Where the service's dynamic_metadata goes (Envoy's fixed namespace for this filter). */
export const EXT_AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz";

interface ExtAuthzStats {
  ok: Counter;
  denied: Counter;
  error: Counter;
  disabled: Counter;
  failureModeAllowed: Counter;
  invalid: Counter;
}

// Envoy's header validation (strict RFC 7230 token names, no NUL/CR/LF in values).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\0\r\n]/;

function validPair([k, v]: HeaderPair): boolean {
  return TOKEN.test(k) && !BAD_VALUE.test(v) && k !== "host";
}

/** Envoy's HeaderUtility::isRemovableHeader: never pseudo-headers or Host. */
function removable(name: string): boolean {
  return name !== "" && !name.startsWith(":") && name !== "host";
}

class ExtAuthzFilter implements HttpFilter {
  private call: PendingCheck | undefined = undefined;
  private destroyed = false;
  /** Buffering the body for the check: its limit and the bytes so far. */
  private buffering: BufferSettings | undefined = undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private checking = false;
  private headers: http.OutgoingHttpHeaders | undefined = undefined;
  private per: ExtAuthzPerRouteConfig | undefined = undefined;
  private responseToAdd: HeaderPair[] = [];
  private responseToSet: HeaderPair[] = [];

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly runtime: FilterRuntime,
    private readonly config: ExtAuthzConfig,
    private readonly stats: ExtAuthzStats,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders, endStream: boolean): FilterStatus {
    // No route: Envoy skips the check (the router answers 404).
    if (this.cb.route() === undefined) return FilterStatus.Continue;
    const per = this.cb.perRouteConfig<ExtAuthzPerRouteConfig>();
    if (per?.disabled === true) return FilterStatus.Continue;
    if (!this.enabled()) {
      this.stats.disabled.inc();
      if (!this.config.denyAtDisable) return FilterStatus.Continue;
      this.cb.setResponseFlag("UAEX");
      this.cb.sendLocalReply({ status: this.config.statusOnError, body: "", details: "ext_authz_error" });
      return FilterStatus.StopIteration;
    }
    this.per = per;
    this.headers = headers;
    const body = per?.withRequestBody ?? this.config.withRequestBody;
    if (body !== undefined && per?.disableRequestBodyBuffering !== true && !endStream && this.cb.request.upgrade === undefined) {
      this.buffering = body;
      return FilterStatus.StopIteration;
    }
    this.check();
    return FilterStatus.StopIteration;
  }

  decodeData(chunk: Buffer, endStream: boolean): DataStatus {
    // While the check is out the body waits here; once it allowed the request it flows.
    if (this.checking) return this.call !== undefined ? DataStatus.StopIterationAndBuffer : DataStatus.Continue;
    const b = this.buffering;
    if (b === undefined) return DataStatus.Continue;
    this.size += chunk.length;
    if (this.size > b.maxRequestBytes && !b.allowPartialMessage) {
      this.buffering = undefined;
      this.cb.sendLocalReply({ status: 413, body: "Payload Too Large", details: "request_payload_too_large" });
      return DataStatus.StopIterationNoBuffer;
    }
    this.chunks.push(chunk);
    if (endStream || this.size >= b.maxRequestBytes) this.check();
    return DataStatus.StopIterationAndBuffer;
  }

  decodeTrailers(): FilterStatus {
    if (this.buffering !== undefined && !this.checking) this.check();
    return this.call !== undefined ? FilterStatus.StopIteration : FilterStatus.Continue;
  }

  encodeHeaders(_status: number, headers: http.OutgoingHttpHeaders): FilterStatus {
    for (const [k, v] of this.responseToAdd) addHeader(headers as Record<string, string>, k, v);
    for (const [k, v] of this.responseToSet) setHeader(headers as Record<string, string>, k, v);
    return FilterStatus.Continue;
  }

  onDestroy(): void {
    this.destroyed = true;
    const c = this.call;
    this.call = undefined;
    c?.cancel();
  }

  /** filter_enabled (its runtime default) and filter_enabled_metadata. */
  private enabled(): boolean {
    const c = this.config;
    if (c.filterEnabled !== undefined && !fractionFires(c.filterEnabled, Math.random())) return false;
    if (c.filterEnabledMetadata !== undefined && !c.filterEnabledMetadata(this.cb.dynamicMetadata)) return false;
    return true;
  }

  private check(): void {
    this.checking = true;
    const c = this.config;
    const req = this.cb.request;
    const headers = this.headers!;
    let body: Buffer | undefined;
    let partial = false;
    if (this.buffering !== undefined) {
      const max = this.buffering.maxRequestBytes;
      const all = Buffer.concat(this.chunks, this.size);
      // Envoy marks the body partial once the buffer reached max_request_bytes (allow_partial_message).
      partial = this.buffering.allowPartialMessage && this.size >= max;
      body = all.length > max ? all.subarray(0, max) : all;
      this.chunks = [];
    }
    const route = this.cb.route();
    const routeMd = route?.route.metadata;
    const attributes: envoy.service.auth.v3.AttributeContext = {
      ...peers({ connection: req.connection, socket: req.tls }, c, getHeader(headers as Record<string, string>, "x-envoy-downstream-service-cluster")),
      request: httpRequest(
        { method: req.method, authority: req.authority, path: req.path, scheme: req.scheme, protocol: req.protocol, headers },
        { headerAllowed: c.checkHeaders, body, partial, packAsBytes: this.buffering?.packAsBytes === true },
        Date.now(),
      ),
    };
    if (this.per?.contextExtensions !== undefined) attributes.contextExtensions = { ...this.per.contextExtensions };
    const md = metadataContext(c.metadataContextNamespaces, [this.cb.dynamicMetadata]);
    // Envoy always sends metadata_context (empty without namespaces).
    attributes.metadataContext = md ?? {};
    if (c.routeMetadataContextNamespaces.length > 0 && routeMd?.filterMetadata !== undefined) {
      const filterMetadata: Record<string, google.protobuf.Struct> = {};
      for (const ns of c.routeMetadataContextNamespaces) if (routeMd.filterMetadata[ns] !== undefined) filterMetadata[ns] = routeMd.filterMetadata[ns];
      attributes.routeMetadataContext = { filterMetadata };
    }
    const conn = req.connection;
    const call = c.client.check(this.runtime, { attributes }, {
      formatterVars: {
        downstreamRemoteAddress: `${conn.remoteAddress}:${conn.remotePort}`,
        downstreamLocalAddress: `${conn.localAddress}:${conn.localPort}`,
        protocol: req.protocol,
        requestHeaders: headers as Record<string, string>,
        downstreamTls: req.tls,
      },
    });
    this.call = call;
    call.response.then(
      (r) => this.onComplete(call, r),
      () => this.onComplete(call, undefined),
    );
  }

  private onComplete(call: PendingCheck, r: AuthzResponse | undefined): void {
    if (this.destroyed || this.call !== call) return;
    this.call = undefined;
    const c = this.config;
    if (r === undefined) return this.onError();
    if (r.dynamicMetadata !== undefined && c.ingestDynamicMetadata) this.cb.dynamicMetadata.set(EXT_AUTHZ_NAMESPACE, r.dynamicMetadata);
    if (r.status === CheckStatus.Error) return this.onError();
    if (r.status === CheckStatus.Denied) {
      this.stats.denied.inc();
      const reply: http.OutgoingHttpHeaders = {};
      for (const p of r.headersToSet) if (validPair(p)) addHeader(reply as Record<string, string>, p[0], p[1]);
      this.cb.setResponseFlag("UAEX");
      this.cb.sendLocalReply({ status: r.statusCode, body: r.body, details: "ext_authz_denied" }, reply);
      return;
    }
    this.onOk(r);
  }

  private onError(): void {
    const c = this.config;
    this.stats.error.inc();
    if (c.failureModeAllow) {
      this.stats.failureModeAllowed.inc();
      if (c.failureModeAllowHeaderAdd) addHeader(this.headers as Record<string, string>, "x-envoy-auth-failure-mode-allowed", "true");
      this.cb.continueDecoding();
      return;
    }
    this.cb.setResponseFlag("UAEX");
    this.cb.sendLocalReply({ status: c.statusOnError, body: "", details: "ext_authz_error" });
  }

  private onOk(r: AuthzResponse): void {
    const c = this.config;
    const pairs = [r.headersToSet, r.headersToAdd, r.headersToAppend, r.headersToAddIfAbsent, r.headersToOverwriteIfExists, r.responseHeadersToAdd, r.responseHeadersToSet];
    const invalid = pairs.some((list) => list.some((p) => !validPair(p) || p[0].startsWith(":")));
    // A query parameter that would change the request line is never applied (fail closed).
    const badQuery = r.queryParametersToSet.some(([k, v]) => !validQueryParameter(k, v)) || r.queryParametersToRemove.some((k) => k === "");
    if (badQuery || (invalid && c.validateMutations)) {
      this.stats.invalid.inc();
      this.cb.sendLocalReply({ status: 500, body: "", details: "ext_authz_invalid" });
      return;
    }
    const h = this.headers as Record<string, string | string[]>;
    const ok = (p: HeaderPair) => validPair(p) && !p[0].startsWith(":");
    const queryChanges = r.queryParametersToSet.length > 0 || r.queryParametersToRemove.length > 0;
    if (c.clearRouteCache && (r.headersToSet.length > 0 || r.headersToAppend.length > 0 || r.headersToRemove.length > 0 || queryChanges)) this.cb.clearRouteCache();
    if (queryChanges) this.cb.setPath(mutateQuery(this.cb.request.path, r.queryParametersToSet, r.queryParametersToRemove));
    for (const p of r.headersToSet) if (ok(p)) setHeader(h, p[0], p[1]);
    for (const p of r.headersToAdd) if (ok(p)) addHeader(h, p[0], p[1]);
    for (const p of r.headersToAppend) {
      // Envoy appends only to a header the request has, into the same entry ("," joined).
      const cur = getHeader(h, p[0]);
      if (ok(p) && cur !== undefined) setHeader(h, p[0], `${cur},${p[1]}`);
    }
    for (const p of r.headersToAddIfAbsent) if (ok(p) && !hasHeader(h, p[0])) addHeader(h, p[0], p[1]);
    for (const p of r.headersToOverwriteIfExists) if (ok(p) && hasHeader(h, p[0])) setHeader(h, p[0], p[1]);
    for (const n of r.headersToRemove) if (removable(n)) removeHeader(h, n);
    this.responseToAdd = r.responseHeadersToAdd.filter(ok);
    this.responseToSet = r.responseHeadersToSet.filter(ok);
    this.stats.ok.inc();
    this.cb.continueDecoding();
  }
}

function statsOf(ctx: FilterContext, prefix: string): ExtAuthzStats {
  let s = ctx.stats.scope("ext_authz");
  if (prefix !== "") s = s.scope(prefix);
  return {
    ok: s.counter("ok"),
    denied: s.counter("denied"),
    error: s.counter("error"),
    disabled: s.counter("disabled"),
    failureModeAllowed: s.counter("failure_mode_allowed"),
    invalid: s.counter("invalid"),
  };
}

registerHttpFilter([EXT_AUTHZ_TYPE], {
  terminal: false,
  create(config: envoy.extensions.filters.http.ext_authz.v3.ExtAuthz, ctx) {
    const cfg = compileExtAuthz(config, ctx.path);
    const stats = statsOf(ctx, cfg.statPrefix);
    return { create: (cb) => new ExtAuthzFilter(cb, ctx.runtime, cfg, stats) };
  },
  perRoute: { types: [EXT_AUTHZ_PER_ROUTE_TYPE], compile: compileExtAuthzPerRoute },
});
