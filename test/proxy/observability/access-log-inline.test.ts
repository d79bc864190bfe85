// The straight-line text renderer (access-log-inline.ts) against the interpreted one it replaced:
// every command, header form, truncation and dash, on records chosen to hit each edge (empty and
// missing values, TCP records, TLS or not, repeated headers, a code of 0), must render the same
// line; and what the config gives stays data in the generated code, whatever its characters.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileTextFormat, DEFAULT_FORMAT, interpretedTextFormat } from "../../../src/proxy/observability/access-log-format.js";
import { SIMPLE_COMMANDS } from "../../../src/proxy/observability/access-log-values.js";
import type { HttpStreamInfo, StreamInfo } from "../../../src/proxy/stream-info.js";
import { ISTIO_TEXT_LOG_FORMAT } from "../../../src/xds/gen/telemetry/access-log.js";
import { FLAG_BIT, httpInfo, inboundHttpInfo, inboundTcpInfo, mtlsHttpInfo, mtlsTcpInfo, tcpInfo } from "./stream-info-fixtures.js";

/** Header maps as a codec may leave them (repeated values, an empty list), which node's types narrow. */
const headers = (h: Record<string, string | string[]>): HttpStreamInfo["requestHeaders"] => h;

const RECORDS: ReadonlyArray<readonly [string, StreamInfo]> = [
  ["http", httpInfo()],
  ["http, mTLS, 503 UF,URX", mtlsHttpInfo()],
  ["http, inbound", inboundHttpInfo()],
  ["http, no response (code 0), nothing upstream", httpInfo({ responseCode: 0, responseCodeDetails: "", upstreamHost: "", upstreamCluster: "", upstreamLocalAddress: "", routeName: "", requestId: "", upstreamServiceTimeMs: undefined, responseHeaders: {} })],
  ["http, empty authority and protocol", httpInfo({ authority: "", protocol: "", scheme: "", method: "", path: "" })],
  ["http, gRPC", httpInfo({ grpcStatus: 14, upstreamServiceTimeMs: 0, durationMs: 0.5, flags: FLAG_BIT.UF | FLAG_BIT.URX })],
  ["http, repeated and empty headers", httpInfo({ requestHeaders: headers({ "user-agent": ["a", "b"], "x-forwarded-for": "", "x-request-id": [], "x-envoy-original-path": "/orig?q=1" }), responseHeaders: { "x-envoy-upstream-service-time": ["7"], "set-cookie": ["a=1", "b=2"] } })],
  ["http, TLS without principals", httpInfo({ downstreamTls: { peerPrincipal: "", localPrincipal: "", peerCertificatePresented: false, sni: "", version: "TLSv1.3", alpn: "" }, upstreamTls: { peerPrincipal: "", localPrincipal: "", peerCertificatePresented: true, sni: "x", version: "TLSv1.2", alpn: "h2" } })],
  ["tcp", tcpInfo()],
  ["tcp, mTLS", mtlsTcpInfo()],
  ["tcp, inbound, terminated", inboundTcpInfo({ connectionTerminationDetails: "idle timeout", flags: FLAG_BIT.UF })],
  ["tcp, nothing upstream", tcpInfo({ upstreamHost: "", upstreamCluster: "", upstreamLocalAddress: "", requestedServerName: "", durationMs: 0 })],
];

const HEADER_FORMS = [
  "%REQ(:METHOD)% %REQ(:PATH)% %REQ(:AUTHORITY)% %REQ(HOST)% %REQ(:SCHEME)%",
  "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(:AUTHORITY?USER-AGENT)% %REQ(HOST?X-REQUEST-ID)% %REQ(X-MISSING?USER-AGENT)% %REQ(X-MISSING?X-ALSO-MISSING)%",
  "%REQ(USER-AGENT)% %REQ(X-FORWARDED-FOR)% %REQ(X-REQUEST-ID)% %REQUEST_HEADER(User-Agent?Host)%",
  "%REQ(USER-AGENT):3% %REQ(:PATH):0% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH):5% %RESP(SET-COOKIE):4%",
  "%RESP(:STATUS)% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %RESP(SET-COOKIE)% %RESPONSE_HEADER(x-missing?:status)%",
  "%START_TIME% %START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)% %TRAILER(GRPC-STATUS)% %ENVIRONMENT(HOME)%",
];

/** Every command without argument, each alone and all in one line (with odd literals between). */
const FORMATS: readonly string[] = [
  ISTIO_TEXT_LOG_FORMAT,
  DEFAULT_FORMAT,
  ...SIMPLE_COMMANDS.map((c) => `%${c}%`),
  SIMPLE_COMMANDS.map((c) => `%${c}%`).join(" | "),
  ...HEADER_FORMS,
  'lead "%PROTOCOL%"%RESPONSE_CODE%%BYTES_SENT% trail',
  "no commands at all",
];

describe("access log: the straight-line renderer renders what the interpreted one does", () => {
  for (const omit of [false, true]) {
    it(`every command and header form on every record${omit ? " (omit_empty_values)" : ""}`, () => {
      for (const f of FORMATS) {
        const inline = compileTextFormat(f, "f", omit);
        const reference = interpretedTextFormat(f, "f", omit);
        for (const [name, info] of RECORDS) assert.equal(inline.format(info), reference.format(info), `${JSON.stringify(f)} on ${name}`);
      }
    });
  }

  it("keeps literals and header names from the config as data, whatever their characters", () => {
    const hostile = ['"; throw new Error("x"); "', "`${process.exit(1)}`", "\\", "\u2028\u2029", "*/ /*", "</script>", "\n\r\t\0"];
    for (const h of hostile) {
      const f = `${h}%PROTOCOL%${h}%REQ(x-${h.replace(/[^a-z]/g, "a")})%${h}`;
      const info = httpInfo({ requestHeaders: { [`x-${h.replace(/[^a-z]/g, "a")}`]: h } });
      const line = compileTextFormat(f, "f").format(info);
      assert.equal(line, interpretedTextFormat(f, "f").format(info));
      assert.ok(line.startsWith(`${h}HTTP/1.1${h}`), JSON.stringify(line));
    }
  });
});
