// VirtualService semantic validation (Istio's ValidateVirtualService), as table tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { assertError, assertValid, assertWarning, resource } from "../../helpers/validate.js";
import { validateText } from "../../../src/api/validate.js";
import { packageRoot } from "../../../src/core/paths.js";

interface Case {
  name: string;
  spec: Record<string, unknown>;
  path: string;
  contains?: string | RegExp;
}

const dest = (host: string, extra: Record<string, unknown> = {}) => ({ destination: { host, ...extra } });
const to = (host = "reviews") => [dest(host)];
/** A VirtualService for `reviews` with one HTTP route built from `http`. */
const vs = (http: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ hosts: ["reviews"], http: [{ route: to(), ...http }], ...extra });
/** Same, without the default route (for redirect / directResponse / delegate cases). */
const vsBare = (http: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ hosts: ["reviews"], http: [http], ...extra });
const match = (m: Record<string, unknown>) => vs({ match: [m] });

const invalid: Case[] = [
  // hosts, gateways, delegate VirtualServices
  { name: "delegate with gateways", spec: { gateways: ["istio-system/gw"], http: [{ route: to() }] }, path: "spec.gateways", contains: "delegate" },
  { name: "delegate with tcp", spec: { http: [{ route: to() }], tcp: [{ route: to() }] }, path: "spec.tcp", contains: "delegate" },
  { name: "delegate with tls", spec: { tls: [{ match: [{ sniHosts: ["a.com"] }], route: to() }] }, path: "spec.tls", contains: "delegate" },
  { name: "delegate route delegating again", spec: { http: [{ delegate: { name: "other" } }] }, path: "spec.http[0].delegate", contains: "cannot delegate again" },
  { name: "invalid host", spec: { hosts: ["foo..com"], http: [{ route: to() }] }, path: "spec.hosts[0]", contains: "invalid" },
  { name: "partial wildcard host", spec: { hosts: ["foo*.com"], http: [{ route: to() }] }, path: "spec.hosts[0]" },
  { name: "star host for mesh", spec: { hosts: ["*"], http: [{ route: to() }] }, path: "spec.hosts[0]", contains: "only allowed for VirtualServices bound to gateways" },
  { name: "star host with mesh and gateway", spec: { hosts: ["*"], gateways: ["mesh", "ns/gw"], http: [{ route: to() }] }, path: "spec.hosts[0]" },
  { name: "duplicate hosts", spec: { hosts: ["a.com", "a.com"], http: [{ route: to() }] }, path: "spec.hosts[1]", contains: "duplicate host" },
  { name: "overlapping wildcard hosts", spec: { hosts: ["*.foo.com", "bar.foo.com"], http: [{ route: to() }] }, path: "spec.hosts[1]", contains: "overlaps" },
  { name: "no routes at all", spec: { hosts: ["reviews"] }, path: "spec", contains: "http, tcp or tls" },
  { name: "gateway name not a DNS label", spec: { hosts: ["a.com"], gateways: ["ns/Gw_1"], http: [{ route: to() }] }, path: "spec.gateways[0]", contains: "invalid gateway name" },
  { name: "gateway namespace empty", spec: { hosts: ["a.com"], gateways: ["/gw"], http: [{ route: to() }] }, path: "spec.gateways[0]", contains: "non-empty" },
  { name: "gateway namespace invalid", spec: { hosts: ["a.com"], gateways: ["bad_ns/gw"], http: [{ route: to() }] }, path: "spec.gateways[0]", contains: "invalid namespace" },
  { name: "gateway short name invalid", spec: { hosts: ["a.com"], gateways: ["gw_1"], http: [{ route: to() }] }, path: "spec.gateways[0]" },
  // route / redirect / directResponse / delegate combinations
  { name: "http route without action", spec: vsBare({ timeout: "1s" }), path: "spec.http[0]", contains: "route, redirect, directResponse or delegate" },
  { name: "route and redirect", spec: vsBare({ route: to(), redirect: { uri: "/x" } }), path: "spec.http[0].route", contains: "both route and redirect" },
  { name: "fault and redirect", spec: vsBare({ redirect: { uri: "/x" }, fault: { abort: { httpStatus: 500 } } }), path: "spec.http[0].fault" },
  { name: "rewrite and redirect", spec: vsBare({ redirect: { uri: "/x" }, rewrite: { uri: "/y" } }), path: "spec.http[0].rewrite" },
  { name: "directResponse and redirect", spec: vsBare({ redirect: { uri: "/x" }, directResponse: { status: 200 } }), path: "spec.http[0].directResponse" },
  { name: "route and directResponse", spec: vsBare({ route: to(), directResponse: { status: 200 } }), path: "spec.http[0].route", contains: "directResponse" },
  { name: "fault and directResponse", spec: vsBare({ directResponse: { status: 200 }, fault: { delay: { fixedDelay: "1s" } } }), path: "spec.http[0].fault" },
  { name: "rewrite and directResponse", spec: vsBare({ directResponse: { status: 200 }, rewrite: { uri: "/y" } }), path: "spec.http[0].rewrite" },
  { name: "root delegate with route", spec: vsBare({ delegate: { name: "d", namespace: "ns" }, route: to() }), path: "spec.http[0].route", contains: "delegate" },
  { name: "root delegate with redirect", spec: vsBare({ delegate: { name: "d" }, redirect: { uri: "/x" } }), path: "spec.http[0].redirect" },
  { name: "mirror and mirrors", spec: vs({ mirror: { host: "m" }, mirrors: [{ destination: { host: "m2" } }] }), path: "spec.http[0].mirrors" },
  // destinations and weights
  { name: "negative weight", spec: vs({ route: [{ ...dest("a"), weight: -1 }, { ...dest("b"), weight: 10 }] }), path: "spec.http[0].route[0].weight", contains: "negative" },
  { name: "zero total weight", spec: vs({ route: [dest("a"), dest("b")] }), path: "spec.http[0].route", contains: "total weight of 0" },
  { name: "destination host star", spec: vs({ route: to("*") }), path: "spec.http[0].route[0].destination.host", contains: '"*"' },
  { name: "destination host invalid", spec: vs({ route: to("-bad") }), path: "spec.http[0].route[0].destination.host" },
  { name: "destination subset invalid", spec: vs({ route: [dest("a", { subset: "v_1" })] }), path: "spec.http[0].route[0].destination.subset", contains: "DNS-1123" },
  { name: "destination port zero", spec: vs({ route: [dest("a", { port: {} })] }), path: "spec.http[0].route[0].destination.port.number", contains: "1..65535" },
  { name: "destination port too large", spec: vs({ route: [dest("a", { port: { number: 70000 } })] }), path: "spec.http[0].route[0].destination.port.number" },
  { name: "tcp zero total weight", spec: { hosts: ["a"], tcp: [{ route: [dest("a", { port: { number: 1 } }), dest("b")] }] }, path: "spec.tcp[0].route" },
  // match requests
  { name: "header name invalid", spec: match({ headers: { "bad header": { exact: "x" } } }), path: "spec.http[0].match[0].headers[bad header]", contains: "not a valid header name" },
  { name: "header empty prefix", spec: match({ headers: { "x-a": { prefix: "" } } }), path: "spec.http[0].match[0].headers[x-a].prefix", contains: "must not be empty" },
  { name: "header empty regex", spec: match({ headers: { "x-a": { regex: "" } } }), path: "spec.http[0].match[0].headers[x-a].regex" },
  { name: "uri regex not RE2", spec: match({ uri: { regex: "^/(?=api)" } }), path: "spec.http[0].match[0].uri.regex", contains: "RE2" },
  { name: "uri regex too long", spec: match({ uri: { regex: "a".repeat(1025) } }), path: "spec.http[0].match[0].uri.regex", contains: "too large" },
  { name: "method empty prefix", spec: match({ method: { prefix: "" } }), path: "spec.http[0].match[0].method.prefix" },
  { name: "scheme bad regex", spec: match({ scheme: { regex: "(" } }), path: "spec.http[0].match[0].scheme.regex" },
  { name: "authority bad regex", spec: match({ authority: { regex: "a\\1" } }), path: "spec.http[0].match[0].authority.regex" },
  { name: "query param bad regex", spec: match({ queryParams: { q: { regex: "[" } } }), path: "spec.http[0].match[0].queryParams[q].regex" },
  { name: "withoutHeaders bad regex", spec: match({ withoutHeaders: { "x-a": { regex: "(" } } }), path: "spec.http[0].match[0].withoutHeaders[x-a].regex" },
  { name: "match port too large", spec: match({ port: 70000 }), path: "spec.http[0].match[0].port", contains: "1..65535" },
  { name: "sourceLabels invalid", spec: match({ sourceLabels: { "bad key!": "v" } }), path: "spec.http[0].match[0].sourceLabels", contains: "label key" },
  { name: "match gateways invalid", spec: match({ gateways: ["ns/bad_gw"] }), path: "spec.http[0].match[0].gateways[0]" },
  { name: "sourceNamespace invalid", spec: match({ sourceNamespace: "bad_ns" }), path: "spec.http[0].match[0].sourceNamespace" },
  { name: "JWT claim routing for mesh", spec: match({ headers: { "@request.auth.claims.group": { exact: "a" } } }), path: "spec.http[0].match[0].headers[@request.auth.claims.group]", contains: "gateways" },
  // rewrite and redirect
  { name: "rewrite uri and uriRegexRewrite", spec: vs({ rewrite: { uri: "/a", uriRegexRewrite: { match: "a", rewrite: "b" } } }), path: "spec.http[0].rewrite.uriRegexRewrite", contains: "only one" },
  { name: "rewrite empty", spec: vs({ rewrite: {} }), path: "spec.http[0].rewrite", contains: "at least one" },
  { name: "uriRegexRewrite without rewrite", spec: vs({ rewrite: { uriRegexRewrite: { match: "^/a" } } }), path: "spec.http[0].rewrite.uriRegexRewrite", contains: "both" },
  { name: "uriRegexRewrite bad regex", spec: vs({ rewrite: { uriRegexRewrite: { match: "(?<=a)b", rewrite: "/" } } }), path: "spec.http[0].rewrite.uriRegexRewrite.match" },
  { name: "authority set twice", spec: vs({ rewrite: { authority: "a.com" }, headers: { request: { set: { host: "b.com" } } } }), path: "spec.http[0].headers.request.set[host]", contains: "already set" },
  { name: "redirect without target", spec: vsBare({ redirect: { redirectCode: 301 } }), path: "spec.http[0].redirect", contains: "at least one" },
  { name: "redirect code not 3xx", spec: vsBare({ redirect: { uri: "/x", redirectCode: 200 } }), path: "spec.http[0].redirect.redirectCode", contains: "3xx" },
  { name: "redirect scheme", spec: vsBare({ redirect: { scheme: "ftp" } }), path: "spec.http[0].redirect.scheme", contains: '"http" or "https"' },
  { name: "redirect port", spec: vsBare({ redirect: { port: 70000 } }), path: "spec.http[0].redirect.port" },
  // directResponse
  { name: "directResponse status too high", spec: vsBare({ directResponse: { status: 600 } }), path: "spec.http[0].directResponse.status", contains: "200..599" },
  { name: "directResponse status too low", spec: vsBare({ directResponse: { status: 100 } }), path: "spec.http[0].directResponse.status" },
  { name: "directResponse body too large", spec: vsBare({ directResponse: { status: 200, body: { string: "x".repeat(1024 * 1024 + 1) } } }), path: "spec.http[0].directResponse.body", contains: "1MB" },
  // retries and timeouts
  { name: "negative attempts", spec: vs({ retries: { attempts: -1 } }), path: "spec.http[0].retries.attempts", contains: "negative" },
  { name: "retryOn without attempts", spec: vs({ retries: { retryOn: "5xx" } }), path: "spec.http[0].retries.attempts", contains: "attempts is 0" },
  { name: "perTryTimeout with zero attempts", spec: vs({ retries: { attempts: 0, perTryTimeout: "1s" } }), path: "spec.http[0].retries.attempts" },
  { name: "unknown retryOn policy", spec: vs({ retries: { attempts: 3, retryOn: "5xx,bogus" } }), path: "spec.http[0].retries.retryOn", contains: '"bogus"' },
  { name: "retryOn with spaces", spec: vs({ retries: { attempts: 3, retryOn: "5xx, reset" } }), path: "spec.http[0].retries.retryOn", contains: "without spaces" },
  { name: "retryOn unknown status", spec: vs({ retries: { attempts: 3, retryOn: "599" } }), path: "spec.http[0].retries.retryOn" },
  { name: "perTryTimeout sub-ms", spec: vs({ retries: { attempts: 3, perTryTimeout: "1.5ms" } }), path: "spec.http[0].retries.perTryTimeout", contains: "milliseconds" },
  { name: "timeout sub-ms", spec: vs({ timeout: "1.0005s" }), path: "spec.http[0].timeout", contains: "ms precision" },
  // fault injection
  { name: "fault without abort or delay", spec: vs({ fault: {} }), path: "spec.http[0].fault", contains: "abort and/or a delay" },
  { name: "abort percentage over 100", spec: vs({ fault: { abort: { httpStatus: 500, percentage: { value: 150 } } } }), path: "spec.http[0].fault.abort.percentage.value" },
  { name: "abort percentage tiny", spec: vs({ fault: { abort: { httpStatus: 500, percentage: { value: 0.00001 } } } }), path: "spec.http[0].fault.abort.percentage.value" },
  { name: "abort http status", spec: vs({ fault: { abort: { httpStatus: 700 } } }), path: "spec.http[0].fault.abort.httpStatus", contains: "200..599" },
  { name: "abort grpc status", spec: vs({ fault: { abort: { grpcStatus: "BOGUS" } } }), path: "spec.http[0].fault.abort.grpcStatus", contains: "NOT_FOUND" },
  { name: "abort http2Error", spec: vs({ fault: { abort: { http2Error: "x" } } }), path: "spec.http[0].fault.abort.http2Error", contains: "not supported" },
  { name: "delay percentage negative", spec: vs({ fault: { delay: { fixedDelay: "1s", percentage: { value: -1 } } } }), path: "spec.http[0].fault.delay.percentage.value" },
  { name: "delay exponential", spec: vs({ fault: { delay: { exponentialDelay: "1s" } } }), path: "spec.http[0].fault.delay.exponentialDelay", contains: "not supported" },
  { name: "delay fixed sub-ms", spec: vs({ fault: { delay: { fixedDelay: "1.2ms" } } }), path: "spec.http[0].fault.delay.fixedDelay" },
  // mirrors
  { name: "mirrorPercentage over 100", spec: vs({ mirror: { host: "m" }, mirrorPercentage: { value: 101 } }), path: "spec.http[0].mirrorPercentage.value", contains: "0..100" },
  { name: "mirrors percentage negative", spec: vs({ mirrors: [{ destination: { host: "m" }, percentage: { value: -1 } }] }), path: "spec.http[0].mirrors[0].percentage.value" },
  { name: "mirrors destination invalid", spec: vs({ mirrors: [{ destination: { host: "m", subset: "bad.subset" } }] }), path: "spec.http[0].mirrors[0].destination.subset" },
  { name: "mirror host star", spec: vs({ mirror: { host: "*" } }), path: "spec.http[0].mirror.host" },
  { name: "mirrorPercent over 100", spec: vs({ mirror: { host: "m" }, mirrorPercent: 150 }), path: "spec.http[0].mirrorPercent", contains: "at most 100" },
  // CORS
  { name: "cors origin bad regex", spec: vs({ corsPolicy: { allowOrigins: [{ regex: "(" }] } }), path: "spec.http[0].corsPolicy.allowOrigins[0].regex" },
  { name: "cors origin empty", spec: vs({ corsPolicy: { allowOrigins: [{ exact: "" }] } }), path: "spec.http[0].corsPolicy.allowOrigins[0]", contains: "non-empty" },
  { name: "cors method lower case", spec: vs({ corsPolicy: { allowMethods: ["get"] } }), path: "spec.http[0].corsPolicy.allowMethods[0]", contains: "upper-case" },
  { name: "cors allowHeaders invalid", spec: vs({ corsPolicy: { allowHeaders: ["bad header"] } }), path: "spec.http[0].corsPolicy.allowHeaders[0]" },
  { name: "cors exposeHeaders empty", spec: vs({ corsPolicy: { exposeHeaders: [""] } }), path: "spec.http[0].corsPolicy.exposeHeaders[0]" },
  { name: "cors maxAge sub-second", spec: vs({ corsPolicy: { maxAge: "1.5s" } }), path: "spec.http[0].corsPolicy.maxAge", contains: "whole seconds" },
  // header manipulation
  { name: "request set pseudo-header", spec: vs({ headers: { request: { set: { ":path": "/x" } } } }), path: "spec.http[0].headers.request.set[:path]", contains: "pseudo-headers" },
  { name: "request remove host", spec: vs({ headers: { request: { remove: ["Host"] } } }), path: "spec.http[0].headers.request.remove[0]", contains: "Host" },
  { name: "request remove pseudo-header", spec: vs({ headers: { request: { remove: [":authority"] } } }), path: "spec.http[0].headers.request.remove[0]" },
  { name: "response set host", spec: vs({ headers: { response: { set: { host: "x" } } } }), path: "spec.http[0].headers.response.set[host]" },
  { name: "response add pseudo-header", spec: vs({ headers: { response: { add: { ":status": "200" } } } }), path: "spec.http[0].headers.response.add[:status]" },
  { name: "header value unescaped percent", spec: vs({ headers: { request: { set: { "x-a": "100%" } } } }), path: "spec.http[0].headers.request.set[x-a]", contains: "%%" },
  { name: "header value unterminated variable", spec: vs({ headers: { response: { add: { "x-a": "%START_TIME" } } } }), path: "spec.http[0].headers.response.add[x-a]", contains: "unterminated" },
  { name: "header value control character", spec: vs({ headers: { request: { add: { "x-a": "a\nb" } } } }), path: "spec.http[0].headers.request.add[x-a]", contains: "control" },
  { name: "destination headers pseudo-header", spec: vs({ route: [{ ...dest("a"), headers: { response: { add: { ":status": "1" } } } }] }), path: "spec.http[0].route[0].headers.response.add[:status]" },
  // tcp and tls routes
  { name: "tcp route without destinations", spec: { hosts: ["a"], tcp: [{ match: [{ port: 27017 }] }] }, path: "spec.tcp[0].route", contains: "at least one destination" },
  { name: "tcp destination subnet invalid", spec: { hosts: ["a"], tcp: [{ match: [{ destinationSubnets: ["10.0.0.0/33"] }], route: to() }] }, path: "spec.tcp[0].match[0].destinationSubnets[0]", contains: "CIDR" },
  { name: "tcp match port invalid", spec: { hosts: ["a"], tcp: [{ match: [{ port: 99999 }], route: to() }] }, path: "spec.tcp[0].match[0].port" },
  { name: "tcp sourceLabels invalid", spec: { hosts: ["a"], tcp: [{ match: [{ sourceLabels: { "a/b/c": "x" } }], route: to() }] }, path: "spec.tcp[0].match[0].sourceLabels" },
  { name: "tls sni outside hosts", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: ["b.com"] }], route: to() }] }, path: "spec.tls[0].match[0].sniHosts[0]", contains: "not covered" },
  { name: "tls wildcard sni outside hosts", spec: { hosts: ["a.foo.com"], tls: [{ match: [{ sniHosts: ["*.foo.com"] }], route: to() }] }, path: "spec.tls[0].match[0].sniHosts[0]" },
  { name: "tls sni invalid", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: ["a..com"] }], route: to() }] }, path: "spec.tls[0].match[0].sniHosts[0]", contains: "invalid SNI host" },
  { name: "tls no sni hosts", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: [] }], route: to() }] }, path: "spec.tls[0].match[0].sniHosts" },
  { name: "tls no matches", spec: { hosts: ["a.com"], tls: [{ match: [], route: to() }] }, path: "spec.tls[0].match" },
  { name: "tls no route", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: ["a.com"] }] }] }, path: "spec.tls[0].route" },
  { name: "tls bad outbound sni", spec: { hosts: ["outbound_.80_._"], gateways: ["ns/gw"], tls: [{ match: [{ sniHosts: ["outbound_.80_._"] }], route: to() }] }, path: "spec.hosts[0]", contains: "outbound_" },
  { name: "tls destination subnet", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: ["a.com"], destinationSubnets: ["nope"] }], route: to() }] }, path: "spec.tls[0].match[0].destinationSubnets[0]" },
  // exportTo
  { name: "exportTo duplicate via dot", spec: vs({}, { exportTo: [".", "default"] }), path: "spec.exportTo[1]", contains: "current namespace" },
  { name: "exportTo duplicate via dot, reversed", spec: vs({}, { exportTo: ["default", "."] }), path: "spec.exportTo[1]", contains: "current namespace" },
  { name: "exportTo duplicate", spec: vs({}, { exportTo: ["a", "a"] }), path: "spec.exportTo[1]", contains: "duplicate" },
  { name: "exportTo star and others", spec: vs({}, { exportTo: ["*", "a"] }), path: "spec.exportTo", contains: "alone" },
  { name: "exportTo none", spec: vs({}, { exportTo: ["~"] }), path: "spec.exportTo[0]" },
  { name: "exportTo bad namespace", spec: vs({}, { exportTo: ["Bad_NS"] }), path: "spec.exportTo[0]" },
];

const valid: Array<{ name: string; spec: Record<string, unknown> }> = [
  { name: "simple route", spec: vs({}) },
  { name: "delegate VirtualService", spec: { http: [{ match: [{ uri: { prefix: "/a" } }], route: to() }] } },
  { name: "root route with delegate", spec: vsBare({ match: [{ uri: { prefix: "/a" } }], delegate: { name: "d", namespace: "ns" } }) },
  { name: "star host on gateway", spec: { hosts: ["*"], gateways: ["istio-system/ingress"], http: [{ route: to() }] } },
  { name: "IP host", spec: { hosts: ["10.0.0.1"], http: [{ route: to() }] } },
  { name: "FQDN hosts with trailing dot", spec: { hosts: ["a.example.com.", "*.b.example.com"], http: [{ route: to() }] } },
  { name: "mesh plus gateway", spec: { hosts: ["reviews"], gateways: ["mesh", "ns/gw"], http: [{ route: to() }] } },
  { name: "legacy gateway name", spec: { hosts: ["reviews"], gateways: ["gw.ns"], http: [{ route: to() }] } },
  { name: "weights not adding to 100", spec: vs({ route: [{ ...dest("a"), weight: 100 }, { ...dest("b"), weight: 50 }] }) },
  { name: "weight zero on one of two", spec: vs({ route: [{ ...dest("a"), weight: 0 }, { ...dest("b"), weight: 100 }] }) },
  { name: "destination with port and subset", spec: vs({ route: [dest("a.ns.svc.cluster.local", { port: { number: 9080 }, subset: "v1" })] }) },
  { name: "empty uri prefix", spec: match({ uri: { prefix: "" } }) },
  { name: "withoutHeaders presence", spec: match({ withoutHeaders: { "x-a": { regex: "*" } } }) },
  { name: "header presence match", spec: match({ headers: { "x-a": {} } }) },
  { name: "pseudo-header match", spec: match({ headers: { ":authority": { exact: "a" } } }) },
  { name: "RE2 regexes", spec: match({ uri: { regex: "^/api/v[0-9]+/.*$" }, headers: { "x-a": { regex: "(?i)abc" } } }) },
  { name: "JWT claim routing on gateway", spec: { hosts: ["a.com"], gateways: ["ns/gw"], http: [{ match: [{ headers: { "@request.auth.claims[group]": { exact: "a" } } }], route: to() }] } },
  { name: "match details", spec: match({ port: 8080, sourceLabels: { app: "x", "app.kubernetes.io/name": "y" }, gateways: ["mesh"], sourceNamespace: "foo" }) },
  { name: "authority via header only", spec: vs({ headers: { request: { set: { Host: "b.com" } } } }) },
  { name: "rewrite uri and authority", spec: vs({ rewrite: { uri: "/", authority: "x.com" } }) },
  { name: "uriRegexRewrite", spec: vs({ rewrite: { uriRegexRewrite: { match: "^/service/([^/]+)(/.*)$", rewrite: "\\2/instance/\\1" } } }) },
  { name: "redirect with derivePort", spec: vsBare({ redirect: { derivePort: "FROM_PROTOCOL_DEFAULT", redirectCode: 308 } }) },
  { name: "redirect scheme and port", spec: vsBare({ redirect: { scheme: "https", port: 8443 } }) },
  { name: "directResponse with body", spec: vsBare({ directResponse: { status: 503, body: { string: "unavailable" } } }) },
  { name: "directResponse bytes body", spec: vsBare({ directResponse: { status: 200, body: { bytes: "aGVsbG8=" } } }) },
  { name: "retries", spec: vs({ retries: { attempts: 3, perTryTimeout: "2s", retryOn: "5xx,gateway-error,503,retriable-status-codes,unavailable", backoff: "25ms" } }) },
  { name: "retries disabled", spec: vs({ retries: { attempts: 0 } }) },
  { name: "timeout", spec: vs({ timeout: "1.5s" }) },
  { name: "fault delay and abort", spec: vs({ fault: { delay: { fixedDelay: "7s", percentage: { value: 0.1 } }, abort: { httpStatus: 500, percentage: { value: 100 } } } }) },
  { name: "fault grpc abort", spec: vs({ fault: { abort: { grpcStatus: "UNAVAILABLE", percentage: { value: 0 } } } }) },
  { name: "mirror", spec: vs({ mirror: { host: "m", subset: "v2" }, mirrorPercentage: { value: 50 } }) },
  { name: "mirrors", spec: vs({ mirrors: [{ destination: { host: "m" }, percentage: { value: 10 } }, { destination: { host: "n" } }] }) },
  { name: "cors", spec: vs({ corsPolicy: { allowOrigins: [{ exact: "https://a.com" }, { regex: "https?://.*\\.b\\.com" }], allowMethods: ["GET", "POST", "*"], allowHeaders: ["x-a", "*"], exposeHeaders: ["x-b"], maxAge: "24h", allowCredentials: true } }) },
  { name: "header manipulation", spec: vs({ headers: { request: { set: { "x-a": "%DOWNSTREAM_REMOTE_ADDRESS%" }, add: { "x-b": "100%%" }, remove: ["x-c"] }, response: { set: { "x-d": "%REQ(x-e)%" }, remove: ["x-f"] } } }) },
  { name: "header value with arguments", spec: vs({ headers: { request: { set: { "x-a": '%PER_REQUEST_STATE(["a", "b"])%' } } } }) },
  { name: "tcp route", spec: { hosts: ["mongo"], tcp: [{ match: [{ port: 27017, destinationSubnets: ["10.0.0.0/8", "10.1.2.3"] }], route: [dest("mongo", { port: { number: 5555 } })] }] } },
  { name: "tls route with wildcard host", spec: { hosts: ["*.foo.com"], gateways: ["ns/gw"], tls: [{ match: [{ sniHosts: ["a.foo.com", "*.b.foo.com"], port: 443 }], route: to("a.foo.com") }] } },
  { name: "tls route for mesh", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: ["a.com"] }], route: to("a.com") }] } },
  { name: "auto passthrough SNI host", spec: { hosts: ["outbound_.80_._.e2e.foobar.mesh"], gateways: ["ns/gw"], tls: [{ match: [{ sniHosts: ["outbound_.80_._.e2e.foobar.mesh"] }], route: to() }] } },
  { name: "exportTo", spec: vs({}, { exportTo: [".", "other"] }) },
  { name: "exportTo star", spec: vs({}, { exportTo: ["*"] }) },
];

const warnings: Case[] = [
  { name: "legacy gateway reference", spec: { hosts: ["a"], gateways: ["my-gw.istio-system"], http: [{ route: to() }] }, path: "spec.gateways[0]", contains: "istio-system/my-gw" },
  { name: "upper-case header match", spec: match({ headers: { "X-User": { exact: "a" } } }), path: "spec.http[0].match[0].headers[X-User]", contains: "x-user" },
  { name: "deprecated mirrorPercent", spec: vs({ mirror: { host: "m" }, mirrorPercent: 50 }), path: "spec.http[0].mirrorPercent", contains: "mirrorPercentage" },
  { name: "deprecated delay.percent", spec: vs({ fault: { delay: { fixedDelay: "1s", percent: 10 } } }), path: "spec.http[0].fault.delay.percent" },
  { name: "deprecated allowOrigin", spec: vs({ corsPolicy: { allowOrigin: ["*"] } }), path: "spec.http[0].corsPolicy.allowOrigin" },
  { name: "abort without error type", spec: vs({ fault: { abort: { percentage: { value: 10 } } } }), path: "spec.http[0].fault.abort", contains: "httpStatus" },
  { name: "large direct response", spec: vsBare({ directResponse: { status: 200, body: { string: "x".repeat(200 * 1024) } } }), path: "spec.http[0].directResponse.body", contains: "100KB" },
  { name: "IP SNI host", spec: { hosts: ["a.com"], tls: [{ match: [{ sniHosts: ["10.0.0.1"] }], route: to() }] }, path: "spec.tls[0].match[0].sniHosts[0]", contains: "IP address" },
  { name: "rule after catch-all", spec: { hosts: ["a"], http: [{ route: to() }, { match: [{ uri: { prefix: "/a" } }], route: to() }] }, path: "spec.http[1]", contains: "never used" },
  { name: "two catch-all rules", spec: { hosts: ["a"], http: [{ route: to() }, { route: to() }] }, path: "spec.http[1]" },
  { name: "duplicate match", spec: { hosts: ["a"], http: [{ match: [{ uri: { exact: "/a" } }], route: to() }, { match: [{ name: "again", uri: { exact: "/a" } }], route: to() }] }, path: "spec.http[1].match[0]", contains: "same match" },
  { name: "all matches duplicated", spec: { hosts: ["a"], http: [{ match: [{ uri: { exact: "/a" } }], route: to() }, { name: "r2", match: [{ uri: { exact: "/a" } }], route: to() }] }, path: "spec.http[1]", contains: '"r2"' },
  { name: "prefix shadowed", spec: { hosts: ["a"], http: [{ match: [{ uri: { prefix: "/api" } }], route: to() }, { match: [{ uri: { prefix: "/api/v1" } }], route: to() }] }, path: "spec.http[1].match[0]", contains: "covers" },
  { name: "tcp duplicate match", spec: { hosts: ["a"], tcp: [{ match: [{ port: 1 }], route: to() }, { match: [{ port: 1 }], route: to() }] }, path: "spec.tcp[1].match[0]" },
];

for (const c of invalid) {
  test(`VirtualService invalid: ${c.name}`, () => {
    const d = assertError(resource("VirtualService", c.spec), c.path, c.contains);
    assert.ok(
      d.some((x) => x.path === c.path && x.severity === "error" && !x.code.startsWith("TSMESH_SCHEMA")),
      `expected Istio's semantic rules (not the CRD schema) to report ${c.path}`,
    );
  });
}

for (const c of valid) {
  test(`VirtualService valid: ${c.name}`, () => {
    assertValid(resource("VirtualService", c.spec));
  });
}

for (const c of warnings) {
  test(`VirtualService warning: ${c.name}`, () => {
    assertWarning(resource("VirtualService", c.spec), c.path, c.contains);
  });
}

test("VirtualService: prefix matches that differ in headers are not reported as shadowed", () => {
  const d = assertValid(
    resource("VirtualService", {
      hosts: ["a"],
      http: [
        { match: [{ uri: { prefix: "/api" }, headers: { "x-a": { exact: "1" } } }], route: to() },
        { match: [{ uri: { prefix: "/api/v1" } }], route: to() },
        { route: to() },
      ],
    }),
  );
  assert.deepEqual(d, []);
});

test("Istio samples: every VirtualService and Gateway stays valid", () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(f)) files.push(p);
    }
  };
  // Istio's samples: the ones the repository ships and the test-only copies of the rest.
  walk(join(packageRoot(), "samples"));
  walk(join(packageRoot(), "test", "fixtures", "istio", "samples"));
  let checked = 0;
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    if (!/networking\.istio\.io/.test(text)) continue;
    for (const doc of validateText(text, file)) {
      if ((doc.kind !== "VirtualService" && doc.kind !== "Gateway") || !doc.apiVersion?.startsWith("networking.istio.io/")) continue;
      checked++;
      const errors = doc.diagnostics.filter((d) => d.severity === "error");
      assert.deepEqual(errors, [], `${file}: ${doc.kind} ${doc.name}`);
    }
  }
  assert.ok(checked > 10, `expected to check the samples, checked ${checked}`);
});
