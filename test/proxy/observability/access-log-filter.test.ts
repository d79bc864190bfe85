// Envoy's access-log filters over hand-built StreamInfo records: a table per kind (status code,
// duration, not-health-check, traceable, runtime, and/or, header, response flag, gRPC status,
// metadata, log type, and the CEL extension filter Istio's Telemetry API generates, where an
// evaluation error or a non-bool does not log), the config errors with their field paths, and the
// CEL filter decoded from the wire as the control plane sends it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeMessage } from "../../../src/envoy/protos.js";
import type { envoy } from "../../../src/envoy/types.js";
import { wireDecode } from "../../../src/envoy/wire.js";
import { FLAG_BIT } from "../../../src/proxy/access-log.js";
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { compileAccessLogFilter } from "../../../src/proxy/observability/access-log-filter.js";
import type { StreamInfo } from "../../../src/proxy/stream-info.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { mtlsHttpInfo, mtlsTcpInfo } from "./stream-info-fixtures.js";

type Filter = envoy.config.accesslog.v3.AccessLogFilter;

const CEL_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter";
const cel = (expression: string): Filter => ({ extensionFilter: { name: "envoy.access_loggers.extension_filters.cel", typedConfig: { "@type": CEL_TYPE, expression } as never } });
const status = (op: "EQ" | "GE" | "LE", v: number): Filter => ({ statusCodeFilter: { comparison: { op, value: { defaultValue: v, runtimeKey: "access_log.status" } } } });
const duration = (op: "EQ" | "GE" | "LE", v: number): Filter => ({ durationFilter: { comparison: { op, value: { defaultValue: v, runtimeKey: "access_log.duration" } } } });

function metadata(ns: string, fields: Record<string, unknown>): DynamicMetadata {
  const md = new DynamicMetadata();
  md.set(ns, fields as never);
  return md;
}

/** x-request-id UUIDs with Envoy's trace byte (position 14): 'a' forced, '9' sampled, '4' untouched. */
const FORCED_ID = "00000064-0000-a000-8000-000000000000";
const SAMPLED_ID = "00000064-0000-9000-8000-000000000000";

describe("access log filters decide per stream", () => {
  const table: Array<[string, Filter, StreamInfo, boolean]> = [
    // status_code_filter (a stream without a response compares 0, as Envoy)
    ["status >= 400 on a 503", status("GE", 400), mtlsHttpInfo(), true],
    ["status >= 400 on a 200", status("GE", 400), mtlsHttpInfo({ responseCode: 200 }), false],
    ["status <= 299 on a 200", status("LE", 299), mtlsHttpInfo({ responseCode: 200 }), true],
    ["status == 503", status("EQ", 503), mtlsHttpInfo(), true],
    ["status == 0 without a response", status("EQ", 0), mtlsHttpInfo({ responseCode: 0 }), true],
    ["status == 0 for TCP", status("EQ", 0), mtlsTcpInfo(), true],
    ["status >= 400 for TCP", status("GE", 400), mtlsTcpInfo(), false],
    // duration_filter (milliseconds, truncated)
    ["duration >= 42 at 42.7 ms", duration("GE", 42), mtlsHttpInfo(), true],
    ["duration == 42 at 42.7 ms", duration("EQ", 42), mtlsHttpInfo(), true],
    ["duration >= 43 at 42.7 ms", duration("GE", 43), mtlsHttpInfo(), false],
    ["duration <= 3000 for a 2.5 s connection", duration("LE", 3000), mtlsTcpInfo(), true],
    // not_health_check_filter: no health_check filter in tsmesh, so nothing is a health check
    ["not a health check", { notHealthCheckFilter: {} }, mtlsHttpInfo(), true],
    // traceable_filter: the request id's trace byte says "forced"
    ["traceable: forced", { traceableFilter: {} }, mtlsHttpInfo({ requestId: FORCED_ID }), true],
    ["traceable: only sampled", { traceableFilter: {} }, mtlsHttpInfo({ requestId: SAMPLED_ID }), false],
    ["traceable: no request id", { traceableFilter: {} }, mtlsHttpInfo({ requestId: "", requestHeaders: {} }), false],
    ["traceable: TCP", { traceableFilter: {} }, mtlsTcpInfo(), false],
    // runtime_filter: percent_sampled over the request id's first 8 hex digits (0x64 = 100)
    ["runtime 100%", { runtimeFilter: { runtimeKey: "k", percentSampled: { numerator: 100 } } }, mtlsHttpInfo(), true],
    ["runtime default 0%", { runtimeFilter: { runtimeKey: "k" } }, mtlsHttpInfo(), false],
    ["runtime 1%: id 100 % 100 = 0 < 1", { runtimeFilter: { runtimeKey: "k", percentSampled: { numerator: 1 } } }, mtlsHttpInfo({ requestId: FORCED_ID }), true],
    ["runtime 1/10000: id 100 % 10000 = 100 ≥ 1", { runtimeFilter: { runtimeKey: "k", percentSampled: { numerator: 1, denominator: "TEN_THOUSAND" } } }, mtlsHttpInfo({ requestId: FORCED_ID }), false],
    // and / or
    ["and: both", { andFilter: { filters: [status("GE", 500), { notHealthCheckFilter: {} }] } }, mtlsHttpInfo(), true],
    ["and: one fails", { andFilter: { filters: [status("GE", 500), duration("GE", 1000)] } }, mtlsHttpInfo(), false],
    ["or: one holds", { orFilter: { filters: [status("EQ", 200), duration("LE", 1000)] } }, mtlsHttpInfo(), true],
    ["or: none holds", { orFilter: { filters: [status("EQ", 200), duration("GE", 1000)] } }, mtlsHttpInfo(), false],
    // header_filter (request headers; pseudo-headers too)
    ["header exact", { headerFilter: { header: { name: "user-agent", exactMatch: "curl/8.5.0" } } }, mtlsHttpInfo(), true],
    ["header prefix misses", { headerFilter: { header: { name: "user-agent", prefixMatch: "Mozilla" } } }, mtlsHttpInfo(), false],
    ["header present", { headerFilter: { header: { name: "referer", presentMatch: true } } }, mtlsHttpInfo(), true],
    ["header absent, inverted", { headerFilter: { header: { name: "x-debug", presentMatch: true, invertMatch: true } } }, mtlsHttpInfo(), true],
    [":method", { headerFilter: { header: { name: ":method", exactMatch: "GET" } } }, mtlsHttpInfo(), true],
    ["header on TCP sees no headers", { headerFilter: { header: { name: "user-agent", presentMatch: true } } }, mtlsTcpInfo(), false],
    // response_flag_filter
    ["any flag set", { responseFlagFilter: {} }, mtlsHttpInfo(), true],
    ["any flag, none set", { responseFlagFilter: {} }, mtlsHttpInfo({ flags: 0 }), false],
    ["UF listed", { responseFlagFilter: { flags: ["NR", "UF"] } }, mtlsHttpInfo(), true],
    ["only NR listed", { responseFlagFilter: { flags: ["NR"] } }, mtlsHttpInfo(), false],
    ["NC listed and set", { responseFlagFilter: { flags: ["NC"] } }, mtlsHttpInfo({ flags: FLAG_BIT.NC }), true],
    ["a flag tsmesh never sets", { responseFlagFilter: { flags: ["DF"] } }, mtlsHttpInfo(), false],
    // grpc_status_filter (no grpc-status: from the HTTP code, as Envoy; TCP is UNKNOWN)
    ["gRPC UNAVAILABLE", { grpcStatusFilter: { statuses: ["UNAVAILABLE"] } }, mtlsHttpInfo({ grpcStatus: 14 }), true],
    ["gRPC OK excluded", { grpcStatusFilter: { statuses: ["OK"], exclude: true } }, mtlsHttpInfo({ grpcStatus: 0, responseCode: 200 }), false],
    ["HTTP 503 maps to UNAVAILABLE", { grpcStatusFilter: { statuses: ["UNAVAILABLE"] } }, mtlsHttpInfo(), true],
    ["HTTP 404 maps to UNIMPLEMENTED", { grpcStatusFilter: { statuses: ["UNIMPLEMENTED"] } }, mtlsHttpInfo({ responseCode: 404 }), true],
    ["no response is UNKNOWN", { grpcStatusFilter: { statuses: ["UNKNOWN"] } }, mtlsHttpInfo({ responseCode: 0 }), true],
    ["TCP is UNKNOWN", { grpcStatusFilter: { statuses: ["UNKNOWN"] } }, mtlsTcpInfo(), true],
    // metadata_filter (match_if_key_not_found defaults to true)
    ["metadata value matches", { metadataFilter: { matcher: { filter: "istio_authn", path: [{ key: "principal" }], value: { stringMatch: { prefix: "spiffe://" } } } } }, mtlsHttpInfo({ dynamicMetadata: metadata("istio_authn", { principal: "spiffe://cluster.local/ns/default/sa/x" }) }), true],
    ["metadata value differs", { metadataFilter: { matcher: { filter: "istio_authn", path: [{ key: "principal" }], value: { stringMatch: { exact: "y" } } } } }, mtlsHttpInfo({ dynamicMetadata: metadata("istio_authn", { principal: "x" }) }), false],
    ["metadata key missing: default true", { metadataFilter: { matcher: { filter: "istio_authn", path: [{ key: "principal" }], value: { stringMatch: { exact: "y" } } } } }, mtlsHttpInfo({ dynamicMetadata: undefined }), true],
    ["metadata key missing: match_if_key_not_found false", { metadataFilter: { matcher: { filter: "istio_authn", path: [{ key: "principal" }], value: { presentMatch: true } }, matchIfKeyNotFound: { value: false } } }, mtlsHttpInfo({ dynamicMetadata: undefined }), false],
    ["no matcher: the default", { metadataFilter: { matchIfKeyNotFound: { value: false } } }, mtlsHttpInfo(), false],
    // log_type_filter
    ["DownstreamEnd for HTTP", { logTypeFilter: { types: ["DownstreamEnd"] } }, mtlsHttpInfo(), true],
    ["TcpConnectionEnd for TCP", { logTypeFilter: { types: ["TcpConnectionEnd"] } }, mtlsTcpInfo(), true],
    ["TcpPeriodic excluded", { logTypeFilter: { types: ["TcpPeriodic"], exclude: true } }, mtlsTcpInfo({ intermediate: true }), false],
    ["HTTP not in a TCP list", { logTypeFilter: { types: ["TcpConnectionEnd"] } }, mtlsHttpInfo(), false],
    // the CEL extension filter (Istio's Telemetry accessLogging.filter.expression)
    ["CEL response.code >= 400", cel("response.code >= 400"), mtlsHttpInfo(), true],
    ["CEL response.code >= 400 on a 200", cel("response.code >= 400"), mtlsHttpInfo({ responseCode: 200 }), false],
    ["CEL error (no response code) does not log", cel("response.code >= 400"), mtlsHttpInfo({ responseCode: 0 }), false],
    ["CEL error on TCP does not log", cel("response.code >= 400"), mtlsTcpInfo(), false],
    ["CEL non-bool does not log", cel("response.code"), mtlsHttpInfo(), false],
    ["CEL peer workload", cel("filter_state['upstream_peer'].workload == 'reviews-v2'"), mtlsHttpInfo(), true],
    ["CEL header", cel("request.headers['user-agent'].startsWith('curl')"), mtlsHttpInfo(), true],
    ["CEL cluster", cel("xds.cluster_name.startsWith('outbound|9000')"), mtlsTcpInfo(), true],
    ["CEL error absorbed by ||", cel("response.code >= 400 || xds.cluster_name != ''"), mtlsTcpInfo(), true],
  ];
  for (const [what, cfg, info, want] of table) {
    it(`${what} → ${want ? "log" : "skip"}`, () => {
      assert.equal(compileAccessLogFilter(cfg, "f")(info), want);
    });
  }
});

describe("runtime_filter randomness", () => {
  it("without a request id (or with use_independent_randomness) it samples the injected random source", () => {
    const half = { runtimeFilter: { runtimeKey: "k", percentSampled: { numerator: 50 } } };
    assert.equal(compileAccessLogFilter(half, "f", () => 0.3)(mtlsTcpInfo()), true);
    assert.equal(compileAccessLogFilter(half, "f", () => 0.7)(mtlsTcpInfo()), false);
    const independent = { runtimeFilter: { runtimeKey: "k", percentSampled: { numerator: 50 }, useIndependentRandomness: true } };
    // The request id alone (0x64 % 100 = 0 < 50) would log; the random source decides instead.
    assert.equal(compileAccessLogFilter(independent, "f", () => 0.9)(mtlsHttpInfo({ requestId: FORCED_ID })), false);
  });
});

describe("access log filter configs tsmesh refuses, naming the field", () => {
  const table: Array<[string, Filter, string, RegExp]> = [
    ["no specifier", {}, "al.filter", /needs one filter specifier/],
    ["two specifiers", { ...status("GE", 400), notHealthCheckFilter: {} }, "al.filter", /takes one filter specifier/],
    ["an unknown field", { futureFilter: {} } as never, "al.filter.futureFilter", /unknown access log filter field/],
    ["no comparison", { statusCodeFilter: {} }, "al.filter.statusCodeFilter.comparison", /comparison is required/],
    ["a comparison value without a runtime key", { statusCodeFilter: { comparison: { op: "GE", value: { defaultValue: 400 } } } }, "al.filter.statusCodeFilter.comparison.value.runtimeKey", /runtime_key/],
    ["an unknown op", { durationFilter: { comparison: { op: "GT" as never, value: { defaultValue: 1, runtimeKey: "k" } } } }, "al.filter.durationFilter.comparison.op", /unknown value/],
    ["runtime without a key", { runtimeFilter: { percentSampled: { numerator: 1 } } }, "al.filter.runtimeFilter.runtimeKey", /runtime_key/],
    ["and with one filter", { andFilter: { filters: [status("GE", 400)] } }, "al.filter.andFilter.filters", /at least 2/],
    ["a bad filter inside or", { orFilter: { filters: [status("GE", 400), { durationFilter: {} }] } }, "al.filter.orFilter.filters[1].durationFilter.comparison", /comparison is required/],
    ["a header filter without a header", { headerFilter: {} }, "al.filter.headerFilter.header", /header is required/],
    ["a bad header regex", { headerFilter: { header: { name: "x", safeRegexMatch: { regex: "(?=a)" } } } }, "al.filter.headerFilter.header.safeRegexMatch.regex", /invalid regular expression/],
    ["an unknown response flag", { responseFlagFilter: { flags: ["UF", "XX"] } }, "al.filter.responseFlagFilter.flags[1]", /unknown response flag "XX"/],
    ["an unknown gRPC status", { grpcStatusFilter: { statuses: ["NOPE" as never] } }, "al.filter.grpcStatusFilter.statuses[0]", /unknown gRPC status/],
    ["metadata invert (Envoy ignores it here)", { metadataFilter: { matcher: { filter: "ns", path: [{ key: "k" }], value: { presentMatch: true }, invert: true } } }, "al.filter.metadataFilter.matcher.invert", /invert/],
    ["metadata matcher without a value", { metadataFilter: { matcher: { filter: "ns", path: [{ key: "k" }] } } }, "al.filter.metadataFilter.matcher.value", /value is required/],
    ["an unknown extension", { extensionFilter: { name: "envoy.access_loggers.extension_filters.wasm", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.wasm.v3.PluginConfig" } as never } }, "al.filter.extensionFilter", /Didn't find a registered implementation for 'envoy\.access_loggers\.extension_filters\.wasm'/],
    ["an empty CEL expression", cel(""), "al.filter.extensionFilter.typedConfig.expression", /must not be empty/],
    ["a CEL syntax error", cel("response.code >="), "al.filter.extensionFilter.typedConfig.expression", /CEL column \d+: syntax error/],
    ["a CEL backreference", cel("request.path.matches('(a)\\\\1')"), "al.filter.extensionFilter.typedConfig.expression", /invalid RE2 regex/],
    ["CEL cel_config switches", { extensionFilter: { name: "cel", typedConfig: { "@type": CEL_TYPE, expression: "true", celConfig: { enableStringConcat: true } } as never } }, "al.filter.extensionFilter.typedConfig.celConfig", /cel_config/],
  ];
  for (const [what, cfg, path, re] of table) {
    it(what, () => {
      assert.throws(
        () => compileAccessLogFilter(cfg, "al.filter"),
        (err: unknown) => err instanceof XdsConfigError && err.message.startsWith(`${path}: `) && re.test(err.message),
        `expected an error at ${path} matching ${re}`,
      );
    });
  }

  it("and/or nesting is bounded", () => {
    let f: Filter = status("GE", 400);
    for (let i = 0; i < 40; i++) f = { andFilter: { filters: [f, { notHealthCheckFilter: {} }] } };
    assert.throws(() => compileAccessLogFilter(f, "al.filter"), /nested more than/);
  });
});

describe("the CEL filter as the control plane sends it", () => {
  it("decodes from the wire (ExpressionFilter in an Any) and filters", () => {
    const accessLog = {
      name: "envoy.access_loggers.file",
      filter: cel("response.code >= 400"),
      typedConfig: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout" },
    };
    const decoded = wireDecode("envoy.config.accesslog.v3.AccessLog", encodeMessage("envoy.config.accesslog.v3.AccessLog", accessLog)) as { filter: Filter };
    const f = compileAccessLogFilter(decoded.filter, "accessLog[0].filter");
    assert.equal(f(mtlsHttpInfo()), true);
    assert.equal(f(mtlsHttpInfo({ responseCode: 204 })), false);
  });
});
