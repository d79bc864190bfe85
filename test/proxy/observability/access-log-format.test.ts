// Envoy's substitution format for access logs: Istio's default text format and its JSON format
// rendered as Envoy renders them (golden lines), typed JSON values, each operator, and an
// adversarial table of formats that must be refused with their field path.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FLAG_BIT } from "../../../src/proxy/access-log.js";
import { compileJsonFormat, compileSubstitutionFormat, compileTextFormat, DEFAULT_FORMAT } from "../../../src/proxy/observability/access-log-format.js";
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { httpInfo, tcpInfo } from "./stream-info-fixtures.js";
import { ISTIO_JSON_LOG_FORMAT, ISTIO_TEXT_LOG_FORMAT } from "../../../src/xds/gen/telemetry/access-log.js";

// Istio's formats as the control plane sends them (ISTIO_TEXT_LOG_FORMAT is Istio's EnvoyTextLogFormat;
// the HTTP line below is the one Istio's access-log task shows for it).
const ISTIO_TEXT = ISTIO_TEXT_LOG_FORMAT;
const ISTIO_JSON = ISTIO_JSON_LOG_FORMAT;


describe("Istio's access log formats", () => {
  it("renders the HTTP line of Istio's access-log task exactly", () => {
    const line = compileTextFormat(ISTIO_TEXT, "f").format(httpInfo());
    assert.equal(
      line,
      '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default\n',
    );
  });

  it("renders a TCP connection as Envoy does (\"- - -\", code 0, no route name)", () => {
    const line = compileTextFormat(ISTIO_TEXT, "f").format(tcpInfo({ flags: FLAG_BIT.UF, requestedServerName: "tcp-echo.foo" }));
    assert.equal(
      line,
      '[2020-11-25T21:26:18.409Z] "- - -" 0 UF - - "-" 12 24 1523 - "-" "-" "-" "-" "10.44.1.30:9000" outbound|9000||tcp-echo.foo.svc.cluster.local 10.44.1.23:41000 10.0.45.190:9000 10.44.1.23:50112 tcp-echo.foo -\n',
    );
  });

  it("renders Istio's JSON format with typed values, nulls for what is missing, sorted keys", () => {
    const line = compileJsonFormat(ISTIO_JSON, "f").format(httpInfo());
    assert.ok(line.endsWith("}\n"));
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o), Object.keys(ISTIO_JSON).sort());
    assert.equal(o.response_code, 418);
    assert.equal(o.bytes_sent, 135);
    assert.equal(o.bytes_received, 0);
    assert.equal(o.duration, 4);
    assert.equal(o.upstream_service_time, "4"); // a header stays a string
    assert.equal(o.response_flags, "-");
    assert.equal(o.x_forwarded_for, null);
    assert.equal(o.requested_server_name, null);
    assert.equal(o.start_time, "2020-11-25T21:26:18.409Z");
    assert.equal(o.upstream_cluster, "outbound|8000||httpbin.foo.svc.cluster.local");
  });
});

describe("substitution format: operators", () => {
  const md = new DynamicMetadata();
  md.set("envoy.filters.http.rbac", { shadow_effective_policy_id: "p1", nested: { a: 1 } });
  const info = httpInfo({
    flags: FLAG_BIT.UH | FLAG_BIT.URX,
    dynamicMetadata: md,
    filterState: new Map<string, unknown>([["downstream_peer", { workload: "productpage-v1" }], ["s", "plain"]]),
    requestHeaders: { "x-long": "abcdefghij", "x-forwarded-for": "1.2.3.4" },
    upstreamClusterMetadata: { istio: { services: [{ host: "httpbin.foo.svc.cluster.local" }] } },
    downstreamTls: { peerPrincipal: "spiffe://cluster.local/ns/foo/sa/sleep", localPrincipal: "spiffe://cluster.local/ns/foo/sa/httpbin", peerCertificatePresented: true, sni: "", version: "TLSv1.3", alpn: "istio" },
  });
  process.env.TSMESH_FORMAT_TEST = "env-value";
  const table: Array<[string, string]> = [
    ["%RESPONSE_FLAGS%", "UH,URX"],
    ["%RESPONSE_FLAGS_LONG%", "NoHealthyUpstream,UpstreamRetryLimitExceeded"],
    ["%REQ(X-LONG):3%", "abc"],
    ["%REQ(X-MISSING?X-LONG)%", "abcdefghij"],
    ["%REQUEST_HEADER(x-missing?x-long):4%", "abcd"],
    ["%REQ(:SCHEME)% %REQ(:METHOD)%", "http GET"],
    ["%RESP(:STATUS)%", "418"],
    ["%TRAILER(grpc-status)%", "-"],
    ["%START_TIME(%s)%", "1606339578"],
    ["%START_TIME(%Y/%m/%d %H:%M:%S.%3f %z)%", "2020/11/25 21:26:18.409 +0000"],
    ["%START_TIME(%E6S|%F %T|%%)%", "18.409000|2020-11-25 21:26:18|%"],
    ["%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%:%DOWNSTREAM_REMOTE_PORT%", "10.44.1.23:46520"],
    ["%DOWNSTREAM_LOCAL_PORT% %UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "8000 10.44.1.23"],
    ["%DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %DOWNSTREAM_TLS_VERSION%", "spiffe://cluster.local/ns/foo/sa/sleep spiffe://cluster.local/ns/foo/sa/httpbin TLSv1.3"],
    ["%UPSTREAM_CLUSTER% %UPSTREAM_HOST%", "outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.27:80"],
    ["%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_effective_policy_id)%", "p1"],
    ["%DYNAMIC_METADATA(envoy.filters.http.rbac:nested)%", '{"a":1}'],
    ["%DYNAMIC_METADATA(envoy.filters.http.rbac:nested):3%", '{"a'],
    ["%DYNAMIC_METADATA(nope:x)%", "-"],
    ["%CLUSTER_METADATA(istio:services)%", '[{"host":"httpbin.foo.svc.cluster.local"}]'],
    ["%FILTER_STATE(downstream_peer)%", '{"workload":"productpage-v1"}'],
    ["%FILTER_STATE(s:PLAIN)% %FILTER_STATE(none)%", "plain -"],
    ["%ENVIRONMENT(TSMESH_FORMAT_TEST)% %ENVIRONMENT(TSMESH_UNSET_VAR)%", "env-value -"],
    ["100%% %PROTOCOL%", "100% HTTP/1.1"],
    ["%GRPC_STATUS_NUMBER%", "-"],
    ["plain text", "plain text"],
  ];
  for (const [format, want] of table) {
    it(`${format} → ${want}`, () => assert.equal(compileTextFormat(format, "f").format(info), want));
  }

  it("omit_empty_values prints nothing for a missing value (text) and drops the key (JSON)", () => {
    const t = compileSubstitutionFormat({ textFormatSource: { inlineString: "[%REQ(X-NONE)%]" }, omitEmptyValues: true }, "lf");
    assert.equal(t.format(info), "[]");
    const j = compileSubstitutionFormat({ jsonFormat: { fields: { a: { stringValue: "%REQ(X-NONE)%" }, b: { stringValue: "%RESPONSE_CODE%" } } }, omitEmptyValues: true }, "lf");
    assert.equal(j.format(info), '{"b":418}\n');
  });

  it("JSON: a lone command is typed; mixed text is a string; fixed values and nesting stay", () => {
    const j = compileJsonFormat({ code: "%RESPONSE_CODE%", text: "code=%RESPONSE_CODE%", n: 7, t: true, nested: { peer: "%FILTER_STATE(downstream_peer)%", port: "%DOWNSTREAM_LOCAL_PORT%" }, md: "%DYNAMIC_METADATA(envoy.filters.http.rbac)%" }, "f");
    assert.deepEqual(JSON.parse(j.format(info)), {
      code: 418,
      md: { shadow_effective_policy_id: "p1", nested: { a: 1 } },
      n: 7,
      nested: { peer: { workload: "productpage-v1" }, port: 8000 },
      t: true,
      text: "code=418",
    });
  });

  it("the legacy json_format renders every value as a string", () => {
    const j = compileJsonFormat({ code: "%RESPONSE_CODE%", missing: "%REQ(X-NONE)%" }, "f", false, true);
    assert.equal(j.format(info), '{"code":"418","missing":"-"}\n');
  });

  it("Envoy's default format for a request (REQ(X-FORWARDED-FOR) as forwarded)", () => {
    assert.equal(
      compileTextFormat(DEFAULT_FORMAT, "f").format(httpInfo({ requestHeaders: { "x-forwarded-for": "1.2.3.4", "user-agent": "ua" } })),
      '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - 0 135 4 4 "1.2.3.4" "ua" "-" "httpbin:8000" "10.44.1.27:80"\n',
    );
  });
});

describe("substitution format: refused configs name their field", () => {
  const bad: Array<[string, RegExp]> = [
    ["%NOT_AN_OPERATOR%", /Not supported field in StreamInfo: NOT_AN_OPERATOR/],
    ["%REQ_WITHOUT_QUERY(:PATH)%", /REQ_WITHOUT_QUERY/],
    ["%CEL(request.path)%", /CEL/],
    ["50% off", /Couldn't find valid command at position 2/],
    ["%RESPONSE_CODE", /Couldn't find valid command/],
    ["%%%", /Couldn't find valid command/],
    ["%req(:path)%", /Couldn't find valid command/],
    ["%REQ()%", /one header name/],
    ["%REQ(a?b?c)%", /one header name/],
    ["%RESPONSE_CODE(x)%", /takes no argument/],
    ["%PROTOCOL:10%", /takes no argument or length/],
    ["%START_TIME(%Q)%", /%Q is not implemented/],
    ["%START_TIME:3%", /takes no length/],
    ["%DYNAMIC_METADATA()%", /must not be empty/],
    ["%DYNAMIC_METADATA(ns::k)%", /must not be empty/],
    ["%FILTER_STATE(k:WEIRD)%", /KEY:PLAIN or KEY:TYPED/],
    ["%FILTER_STATE(k:PLAIN:x)%", /KEY:PLAIN or KEY:TYPED/],
    ["%ENVIRONMENT()%", /needs a variable name/],
  ];
  for (const [format, msg] of bad) {
    it(JSON.stringify(format), () => {
      assert.throws(() => compileTextFormat(format, "listener x: accessLog[0].typedConfig.logFormat.textFormatSource"), (e: unknown) => {
        assert.ok(e instanceof XdsConfigError);
        assert.match(e.message, /accessLog\[0\]\.typedConfig\.logFormat\.textFormatSource/);
        assert.match(e.message, msg);
        return true;
      });
    });
  }

  it("JSON: a bad value names its key; lists are refused", () => {
    assert.throws(() => compileJsonFormat({ a: { b: "%NOPE%" } }, "lf.jsonFormat"), /lf\.jsonFormat\.a\.b/);
    assert.throws(() => compileJsonFormat({ a: ["%PROTOCOL%"] }, "lf.jsonFormat"), /lf\.jsonFormat\.a.*list values/);
  });

  it("SubstitutionFormatString: exactly one format; formatters and content_type refused", () => {
    assert.throws(() => compileSubstitutionFormat({}, "lf"), /exactly one of/);
    assert.throws(() => compileSubstitutionFormat({ textFormat: "x", jsonFormat: { fields: {} } }, "lf"), /exactly one of/);
    assert.throws(() => compileSubstitutionFormat({ textFormat: "x", formatters: [{ name: "envoy.formatter.req_without_query" }] }, "lf"), /lf\.formatters\[0\]\.typedConfig/);
    assert.throws(() => compileSubstitutionFormat({ textFormatSource: { filename: "/etc/x" } }, "lf"), /lf\.textFormatSource.*inline_string/);
  });

  // The formatter extensions Istio lists when its format uses them (accessLogTextFormatters).
  const REQ_WQ = { name: "envoy.formatter.req_without_query", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery" } as never };
  const CEL = { name: "envoy.formatter.cel", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel" } as never };

  it("formatter extensions: %REQ_WITHOUT_QUERY% and %CEL% when listed, text and JSON", () => {
    const info = httpInfo({ path: "/status/418?secret=1", requestHeaders: { "x-envoy-original-path": "/orig?q=2", "user-agent": "curl" } });
    const text = compileSubstitutionFormat({ textFormat: "%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ_WITHOUT_QUERY(:PATH)% %REQ_WITHOUT_QUERY(X-NONE)% %REQ_WITHOUT_QUERY(:PATH):4%\n", formatters: [REQ_WQ] }, "lf");
    assert.equal(text.format(info), "/orig /status/418 - /sta\n");
    const cel = compileSubstitutionFormat({ textFormat: "%CEL(response.code)% %CEL(request.headers['user-agent'])% %CEL(request.headers['x-none'])% %CEL(request.path):7% %CEL(response.code >= 400)%\n", formatters: [CEL] }, "lf");
    assert.equal(cel.format(info), "418 curl - /status true\n");
    const json = compileSubstitutionFormat({ jsonFormat: { fields: { code: { stringValue: "%CEL(response.code)%" }, big: { stringValue: "%CEL(response.code >= 400)%" }, missing: { stringValue: "%CEL(request.headers['x-none'])%" }, path: { stringValue: "%REQ_WITHOUT_QUERY(:PATH)%" } } }, formatters: [REQ_WQ, CEL] }, "lf");
    assert.deepEqual(JSON.parse(json.format(info)), { big: true, code: 418, missing: null, path: "/status/418" });
  });

  const refusedFormatters: Array<[string, Parameters<typeof compileSubstitutionFormat>[0], RegExp]> = [
    ["%CEL% without the extension", { textFormat: "%CEL(response.code)%" }, /lf\.textFormat.*CEL/],
    ["%REQ_WITHOUT_QUERY% without the extension", { textFormat: "%REQ_WITHOUT_QUERY(:PATH)%" }, /lf\.textFormat.*REQ_WITHOUT_QUERY/],
    ["a CEL syntax error", { textFormat: "%CEL(response.code >=)%", formatters: [CEL] }, /lf\.textFormat.*CEL/],
    ["%CEL% without an expression", { textFormat: "%CEL()%", formatters: [CEL] }, /lf\.textFormat.*expression/],
    ["REQ_WITHOUT_QUERY without a header", { textFormat: "%REQ_WITHOUT_QUERY()%", formatters: [REQ_WQ] }, /lf\.textFormat.*header name/],
    ["another formatter", { textFormat: "x", formatters: [{ name: "envoy.formatter.metadata", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.formatter.metadata.v3.Metadata" } as never }] }, /lf\.formatters\[0\]\.typedConfig.*metadata/],
    ["a formatter left raw", { textFormat: "x", formatters: [{ name: "envoy.formatter.cel", typedConfig: { type_url: "type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel", value: "CgE=" } as never }] }, /lf\.formatters\[0\]\.typedConfig/],
  ];
  for (const [name, f, re] of refusedFormatters) {
    it(`formatter extensions refused: ${name}`, () => {
      assert.throws(() => compileSubstitutionFormat(f, "lf"), (e: unknown) => e instanceof XdsConfigError && re.test(e.message));
    });
  }
});
