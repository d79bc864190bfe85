// Envoy's attribute vocabulary over hand-built StreamInfo records: each attribute's value and CEL
// type for an inbound mTLS HTTP request and a TCP connection, absent attributes reading as errors
// (`has()` false), peer metadata in filter state under Istio's field names, dynamic and cluster
// metadata as Envoy's Metadata message, response flags in Envoy's bit numbering, the expressions
// Istio's telemetry tasks use, and top-level identifiers resolved only when read.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileCel, isCelEvalError, type CelActivation } from "../../../src/core/cel/program.js";
import { celValueToString } from "../../../src/core/cel/values.js";
import { FLAG_BIT } from "../../../src/proxy/access-log.js";
import { addressPort, envoyResponseFlags, streamInfoActivation } from "../../../src/proxy/observability/cel-attributes.js";
import type { StreamInfo } from "../../../src/proxy/stream-info.js";
import { mtlsHttpInfo, mtlsTcpInfo } from "./stream-info-fixtures.js";

function evalOn(info: StreamInfo, expr: string, node?: Parameters<typeof streamInfoActivation>[1]): string {
  const r = compileCel(expr).eval(streamInfoActivation(info, node));
  return isCelEvalError(r) ? `error: ${r.message}` : celValueToString(r);
}

const ABSENT = /^error: /;

describe("CEL attributes of an HTTP stream", () => {
  const info = mtlsHttpInfo();
  const table: Array<[string, string | RegExp]> = [
    ["request.path", "/reviews/0?x=1&y=2"],
    ["request.url_path", "/reviews/0"],
    ["request.query", "x=1&y=2"],
    ["request.host", "reviews:9080"],
    ["request.scheme", "http"],
    ["request.method", "GET"],
    ["request.headers['user-agent']", "curl/8.5.0"],
    ["request.headers['x-multi']", "a,b"],
    ["request.headers[':authority']", "reviews:9080"],
    ["request.headers[':method']", "GET"],
    ["'removed' in request.headers", "false"],
    ["'X-Multi' in request.headers", "false"],
    ["request.referer", "http://productpage/"],
    ["request.useragent", "curl/8.5.0"],
    ["request.id", "1c9e8f3a-0b6d-4a8a-9c1e-5d2f0e7b4a10"],
    ["request.protocol", "HTTP/1.1"],
    ["request.time", "2026-01-02T03:04:05Z"],
    ["request.time == timestamp('2026-01-02T03:04:05Z')", "true"],
    ["request.duration == duration('42.7ms')", "true"],
    ["request.duration > duration('40ms') && request.duration < duration('50ms')", "true"],
    ["request.size", "120"],
    ["request.size == 120", "true"],
    ["request.total_size", "420"],
    ["request.headers_bytes", "300"],
    ["response.code", "503"],
    ["response.code >= 400", "true"],
    ["response.code_details", "upstream_reset_before_response_started{connection_failure}"],
    ["response.flags", String(0x20 | 0x8000)],
    ["response.headers['content-type']", "text/plain"],
    ["size(response.trailers)", "0"],
    ["response.size", "4096"],
    ["response.total_size", "4246"],
    ["has(response.grpc_status)", "false"],
    ["response.grpc_status", ABSENT],
    ["has(response.backend_latency)", "false"],
    ["connection.mtls", "true"],
    ["connection.requested_server_name", "outbound_.9080_._.reviews.default.svc.cluster.local"],
    ["connection.tls_version", "TLSv1.3"],
    ["connection.uri_san_peer_certificate", "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"],
    ["connection.uri_san_local_certificate", "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"],
    ["has(connection.id)", "false"],
    ["has(connection.termination_details)", "false"],
    ["source.address", "10.0.0.7:51234"],
    ["source.port", "51234"],
    ["destination.address", "10.0.0.9:9080"],
    ["destination.port == 9080", "true"],
    ["upstream.address", "127.0.0.1:9080"],
    ["upstream.port", "9080"],
    ["upstream.local_address", "127.0.0.6:40000"],
    ["has(upstream.uri_san_peer_certificate)", "false"],
    ["has(upstream.transport_failure_reason)", "false"],
    ["xds.cluster_name", "inbound|9080||"],
    ["xds.route_name", "default"],
    ["xds.listener_direction", "1"],
    ["xds.cluster_metadata.filter_metadata['istio']['services'][0]['host']", "reviews.default.svc.cluster.local"],
    ["has(xds.node)", "false"],
    ["filter_state.downstream_peer.workload", "productpage-v1"],
    ["filter_state['upstream_peer'].workload", "reviews-v2"],
    ["filter_state.upstream_peer.namespace", "default"],
    ["filter_state.upstream_peer.service", "reviews"],
    ["filter_state.upstream_peer.revision", "v2"],
    ["filter_state.upstream_peer.app", "reviews"],
    ["filter_state.upstream_peer.version", "v2"],
    ["filter_state.upstream_peer.cluster", "Kubernetes"],
    ["filter_state.upstream_peer.name", "reviews-v2-5b6c"],
    ["filter_state.upstream_peer.type", "deployment"],
    ["filter_state.upstream_peer.identity", "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"],
    ["filter_state.upstream_peer.labels['version']", "v2"],
    ["filter_state['envoy.string']", "plain"],
    ["'opaque' in filter_state", "false"],
    ["metadata.filter_metadata['envoy.filters.http.jwt_authn'].payload.iss", "testing@secure.istio.io"],
    ["'group2' in metadata.filter_metadata['envoy.filters.http.jwt_authn'].payload.groups", "true"],
    // an unknown top-level identifier is an error, never a default
    ["plugin_name", ABSENT],
  ];
  for (const [expr, want] of table) {
    it(`${expr} → ${want}`, () => {
      const got = evalOn(info, expr);
      if (typeof want === "string") assert.equal(got, want);
      else assert.match(got, want);
    });
  }
});

describe("CEL attributes: what the stream did not have is absent", () => {
  const table: Array<[string, StreamInfo, string, string | RegExp]> = [
    ["no response sent", mtlsHttpInfo({ responseCode: 0 }), "has(response.code)", "false"],
    ["no response: response.code >= 400 is an error", mtlsHttpInfo({ responseCode: 0 }), "response.code >= 400", ABSENT],
    ["no x-request-id", mtlsHttpInfo({ requestId: "", requestHeaders: {} }), "has(request.id)", "false"],
    ["gRPC status", mtlsHttpInfo({ grpcStatus: 14 }), "response.grpc_status", "14"],
    ["upstream service time", mtlsHttpInfo({ upstreamServiceTimeMs: 12 }), "response.backend_latency == duration('12ms')", "true"],
    ["no route name", mtlsHttpInfo({ routeName: "" }), "has(xds.route_name)", "false"],
    ["no cluster chosen", mtlsHttpInfo({ upstreamCluster: "", upstreamHost: "" }), "has(xds.cluster_name) || has(upstream.address)", "false"],
    ["plaintext downstream", mtlsHttpInfo({ downstreamTls: undefined }), "connection.mtls", "false"],
    ["plaintext downstream has no TLS version", mtlsHttpInfo({ downstreamTls: undefined }), "has(connection.tls_version)", "false"],
    ["TLS without a client certificate", mtlsHttpInfo({ downstreamTls: { ...mtlsHttpInfo().downstreamTls!, peerCertificatePresented: false, peerPrincipal: "" } }), "connection.mtls", "false"],
    ["no peer metadata", mtlsHttpInfo({ filterState: new Map() }), "filter_state.upstream_peer.workload", ABSENT],
    ["no peer metadata, has()", mtlsHttpInfo({ filterState: new Map() }), "has(filter_state.upstream_peer)", "false"],
    ["no dynamic metadata", mtlsHttpInfo({ dynamicMetadata: undefined }), "size(metadata.filter_metadata)", "0"],
    ["unspecified direction", mtlsHttpInfo({ direction: "" }), "xds.listener_direction", "0"],
    ["IPv6 source", mtlsHttpInfo({ downstreamRemoteAddress: "[::1]:8080" }), "source.port", "8080"],
    ["a response trailer", mtlsHttpInfo({ responseTrailers: { "grpc-message": "down" } }), "response.trailers['grpc-message']", "down"],
  ];
  for (const [what, info, expr, want] of table) {
    it(`${what}: ${expr}`, () => {
      const got = evalOn(info, expr);
      if (typeof want === "string") assert.equal(got, want);
      else assert.match(got, want);
    });
  }
});

describe("CEL attributes of a TCP connection", () => {
  const table: Array<[string, string | RegExp]> = [
    // Envoy binds request/response for TCP too, with nothing in them: has() is false, a read an error.
    ["has(request.path)", "false"],
    ["request.path", ABSENT],
    ["response.code", ABSENT],
    ["source.address", "10.0.0.7:40001"],
    ["destination.port", "9000"],
    ["upstream.address", "10.0.0.30:9000"],
    ["upstream.uri_san_peer_certificate", "spiffe://cluster.local/ns/default/sa/tcp-echo"],
    ["upstream.tls_version", "TLSv1.3"],
    ["xds.cluster_name", "outbound|9000||tcp-echo.default.svc.cluster.local"],
    ["xds.listener_direction", "2"],
    ["has(xds.route_name)", "false"],
    ["connection.mtls", "false"],
    ["has(connection.termination_details)", "false"],
  ];
  for (const [expr, want] of table) {
    it(`${expr} → ${want}`, () => {
      const got = evalOn(mtlsTcpInfo(), expr);
      if (typeof want === "string") assert.equal(got, want);
      else assert.match(got, want);
    });
  }

  it("termination details and an upstream transport failure", () => {
    const info = mtlsTcpInfo({ connectionTerminationDetails: "max_downstream_connection_duration", upstreamTransportFailureReason: "TLS_error:certificate verify failed" });
    assert.equal(evalOn(info, "connection.termination_details"), "max_downstream_connection_duration");
    assert.equal(evalOn(info, "upstream.transport_failure_reason"), "TLS_error:certificate verify failed");
  });
});

describe("CEL attributes: the node, when the caller knows it", () => {
  const node = { id: "sidecar~10.0.0.9~reviews-v2-5b6c.default~default.svc.cluster.local", cluster: "reviews.default", metadata: { NAMESPACE: "default", LABELS: { app: "reviews" } } };
  it("xds.node and node", () => {
    assert.equal(evalOn(mtlsHttpInfo(), "xds.node.id", node), node.id);
    assert.equal(evalOn(mtlsHttpInfo(), "node.metadata['NAMESPACE']", node), "default");
    assert.equal(evalOn(mtlsHttpInfo(), "node.metadata.LABELS.app", node), "reviews");
    assert.equal(evalOn(mtlsHttpInfo(), "xds.node.cluster", node), "reviews.default");
  });
  it("without a node, node is unbound", () => {
    assert.match(evalOn(mtlsHttpInfo(), "node.id"), ABSENT);
  });
});

describe("CEL attributes: Istio's telemetry-task expressions", () => {
  const table: Array<[string, StreamInfo, string]> = [
    ["response.code >= 400", mtlsHttpInfo(), "true"],
    ["response.code >= 400", mtlsHttpInfo({ responseCode: 200 }), "false"],
    ["request.host", mtlsHttpInfo(), "reviews:9080"],
    ["request.headers['user-agent']", mtlsHttpInfo(), "curl/8.5.0"],
    ["filter_state['upstream_peer'].workload", mtlsHttpInfo(), "reviews-v2"],
    ["xds.cluster_name", mtlsHttpInfo(), "inbound|9080||"],
    ["request.url_path.startsWith('/reviews') && response.code == 503", mtlsHttpInfo(), "true"],
    ["'x-b3-sampled' in request.headers ? 'traced' : 'untraced'", mtlsHttpInfo(), "untraced"],
  ];
  for (const [expr, info, want] of table) {
    it(`${expr} → ${want}`, () => assert.equal(evalOn(info, expr), want));
  }
});

describe("CEL attributes: laziness", () => {
  it("builds only the top-level attributes an expression reads, each once", () => {
    const reads: string[] = [];
    const inner = streamInfoActivation(mtlsHttpInfo());
    const counting: CelActivation = {
      resolve(name) {
        reads.push(name);
        return inner.resolve(name);
      },
    };
    const r = compileCel("response.code >= 500 || request.host == ''").eval(counting);
    assert.equal(r, true);
    assert.ok(!reads.includes("request"), `request was resolved: ${reads.join(" ")}`);
    // Resolving twice returns the same built value.
    assert.equal(inner.resolve("response"), inner.resolve("response"));
  });
});

describe("CEL attributes: helpers", () => {
  it("response flags in Envoy's bit numbering (past UMSDR the orders differ)", () => {
    assert.equal(envoyResponseFlags(0), 0);
    assert.equal(envoyResponseFlags(FLAG_BIT.LH), 0x1);
    assert.equal(envoyResponseFlags(FLAG_BIT.UMSDR), 0x80000);
    assert.equal(envoyResponseFlags(FLAG_BIT.UPE), 0x800000);
    assert.equal(envoyResponseFlags(FLAG_BIT.NC | FLAG_BIT.OM | FLAG_BIT.NR), 0x1000000 | 0x2000000 | 0x100);
  });
  const ports: Array<[string, number | undefined]> = [
    ["10.0.0.1:80", 80],
    ["[::1]:443", 443],
    ["[::1]", undefined],
    ["10.0.0.1", undefined],
    ["10.0.0.1:", undefined],
    ["10.0.0.1:99999", undefined],
    ["/var/run/sock", undefined],
  ];
  for (const [addr, port] of ports) it(`port of ${addr}`, () => assert.equal(addressPort(addr), port));
});
