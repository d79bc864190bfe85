// Envoy's RBAC engine, compiled: a table per permission and principal kind against Envoy's
// semantics (HeaderMatcher with repeated headers joined by ",", url_path without the query,
// uri_template, ports and ranges, CIDRs, metadata paths and list values, authenticated peers by URI
// SAN, DNS SAN and subject over real TLS connections, the three source addresses), policy order
// and actions (ALLOW / DENY / LOG and its access log hint), and config refused with its field path.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { envoy } from "../../../src/envoy/types.js";
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { compilePermission, compilePrincipal, compileRbac } from "../../../src/proxy/rbac/engine.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { type InputOptions, rbacInput, tlsPair } from "./rbac-input.js";

type Permission = envoy.config.rbac.v3.Permission;
type Principal = envoy.config.rbac.v3.Principal;
type RBAC = envoy.config.rbac.v3.RBAC;

const TLS_IP = "127.0.91.1";
const UT = "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig";
const template = (t: string): Permission => ({ uriTemplate: { name: "envoy.path.match.uri_template.uri_template_matcher", typedConfig: { "@type": UT, pathTemplate: t } as never } });

function metadata(ns: string, fields: Record<string, unknown>): DynamicMetadata {
  const md = new DynamicMetadata();
  md.set(ns, fields as never);
  return md;
}

const JWT = "envoy.filters.http.jwt_authn";
const claims = metadata(JWT, { payload: { iss: "issuer", groups: ["dev", "ops"], admin: true, level: 3, nothing: null, nested: { deep: "x" } } });
const mdm = (path: string[], value: object, invert = false): Permission => ({ metadata: { filter: JWT, path: path.map((key) => ({ key })), value, invert } });

describe("permissions", () => {
  const table: Array<[string, Permission, InputOptions, boolean]> = [
    ["any", { any: true }, {}, true],
    ["header exact", { header: { name: "x-a", exactMatch: "v" } }, { headers: { "x-a": "v" } }, true],
    ["header exact, other value", { header: { name: "x-a", exactMatch: "v" } }, { headers: { "x-a": "w" } }, false],
    ["repeated header: values joined with ','", { header: { name: "x-a", exactMatch: "a,b" } }, { headers: { "x-a": ["a", "b"] } }, true],
    ["repeated header: one value alone does not match exact", { header: { name: "x-a", exactMatch: "a" } }, { headers: { "x-a": ["a", "b"] } }, false],
    ["header prefix (string_match)", { header: { name: "x-a", stringMatch: { prefix: "AB", ignoreCase: true } } }, { headers: { "x-a": "abc" } }, true],
    ["header present, missing", { header: { name: "x-a", presentMatch: true } }, {}, false],
    ["header present inverted, missing", { header: { name: "x-a", presentMatch: true, invertMatch: true } }, {}, true],
    ["header exact inverted, missing header does not match", { header: { name: "x-a", exactMatch: "v", invertMatch: true } }, {}, false],
    [":method", { header: { name: ":method", exactMatch: "POST" } }, { method: "POST" }, true],
    [":authority", { header: { name: ":authority", stringMatch: { suffix: ".example.com" } } }, { authority: "api.example.com" }, true],
    [":path header keeps the query", { header: { name: ":path", exactMatch: "/a?x=1" } }, { path: "/a?x=1" }, true],
    ["url_path ignores the query", { urlPath: { path: { exact: "/a" } } }, { path: "/a?x=1" }, true],
    ["url_path ignores the fragment", { urlPath: { path: { exact: "/a" } } }, { path: "/a#f" }, true],
    ["url_path prefix ignore_case", { urlPath: { path: { prefix: "/API/", ignoreCase: true } } }, { path: "/api/v1" }, true],
    ["url_path case-sensitive", { urlPath: { path: { prefix: "/API/" } } }, { path: "/api/v1" }, false],
    ["url_path on a connection (no path)", { urlPath: { path: { prefix: "/" } } }, { path: undefined }, false],
    ["and_rules", { andRules: { rules: [{ any: true }, { destinationPort: 8080 }] } }, {}, true],
    ["and_rules, one fails", { andRules: { rules: [{ any: true }, { destinationPort: 9 }] } }, {}, false],
    ["or_rules", { orRules: { rules: [{ destinationPort: 9 }, { destinationPort: 8080 }] } }, {}, true],
    ["not_rule", { notRule: { destinationPort: 8080 } }, {}, false],
    ["destination_ip in /8", { destinationIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 8 } } }, { localAddress: "10.9.8.7" }, true],
    ["destination_ip outside /8", { destinationIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 8 } } }, { localAddress: "11.0.0.1" }, false],
    ["destination_ip: bits past prefix_len ignored", { destinationIp: { addressPrefix: "10.1.2.3", prefixLen: { value: 8 } } }, { localAddress: "10.200.0.1" }, true],
    ["destination_ip /32", { destinationIp: { addressPrefix: "10.0.0.2", prefixLen: { value: 32 } } }, {}, true],
    ["destination_ip: IPv4-mapped peer is IPv4", { destinationIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 8 } } }, { localAddress: "::ffff:10.0.0.2" }, true],
    ["destination_ip: IPv6 address never in an IPv4 range", { destinationIp: { addressPrefix: "0.0.0.0", prefixLen: { value: 0 } } }, { localAddress: "2001:db8::1" }, false],
    ["destination_ip: IPv6 /32", { destinationIp: { addressPrefix: "2001:db8::", prefixLen: { value: 32 } } }, { localAddress: "2001:db8:0:0::1" }, true],
    ["destination_ip: IPv6 outside", { destinationIp: { addressPrefix: "2001:db8::", prefixLen: { value: 32 } } }, { localAddress: "2001:db9::1" }, false],
    ["destination_port", { destinationPort: 8080 }, {}, true],
    ["destination_port other", { destinationPort: 8081 }, {}, false],
    ["destination_port_range start inclusive", { destinationPortRange: { start: 8080, end: 8090 } }, {}, true],
    ["destination_port_range end exclusive", { destinationPortRange: { start: 8000, end: 8080 } }, {}, false],
    ["metadata nested string", mdm(["payload", "iss"], { stringMatch: { exact: "issuer" } }), { metadata: claims }, true],
    ["metadata deeper path", mdm(["payload", "nested", "deep"], { stringMatch: { exact: "x" } }), { metadata: claims }, true],
    ["metadata list one_of", mdm(["payload", "groups"], { listMatch: { oneOf: { stringMatch: { exact: "ops" } } } }), { metadata: claims }, true],
    ["metadata list one_of, absent value", mdm(["payload", "groups"], { listMatch: { oneOf: { stringMatch: { exact: "qa" } } } }), { metadata: claims }, false],
    ["metadata string matcher on a list", mdm(["payload", "groups"], { stringMatch: { exact: "dev" } }), { metadata: claims }, false],
    ["metadata bool", mdm(["payload", "admin"], { boolMatch: true }), { metadata: claims }, true],
    ["metadata present", mdm(["payload", "level"], { presentMatch: true }), { metadata: claims }, true],
    ["metadata present, missing", mdm(["payload", "nope"], { presentMatch: true }), { metadata: claims }, false],
    ["metadata null", mdm(["payload", "nothing"], { nullMatch: {} }), { metadata: claims }, true],
    ["metadata null, missing is not null", mdm(["payload", "nope"], { nullMatch: {} }), { metadata: claims }, false],
    ["metadata double range", mdm(["payload", "level"], { doubleMatch: { range: { start: 1, end: 3.5 } } }), { metadata: claims }, true],
    ["metadata double exact", mdm(["payload", "level"], { doubleMatch: { exact: 4 } }), { metadata: claims }, false],
    ["metadata invert, missing", mdm(["payload", "nope"], { stringMatch: { exact: "x" } }, true), { metadata: claims }, true],
    ["metadata invert, matching", mdm(["payload", "iss"], { stringMatch: { exact: "issuer" } }, true), { metadata: claims }, false],
    ["metadata through a non-struct", mdm(["payload", "iss", "x"], { presentMatch: true }), { metadata: claims }, false],
    ["requested_server_name on plaintext is ''", { requestedServerName: { exact: "" } }, {}, true],
    ["requested_server_name of TLS passed through (tls_inspector's SNI)", { requestedServerName: { suffix: ".svc" } }, { sni: "db.data.svc" }, true],
    ["uri_template *", template("/foo/*"), { path: "/foo/bar" }, true],
    ["uri_template * is one segment", template("/foo/*"), { path: "/foo/bar/baz" }, false],
    ["uri_template * is not empty", template("/foo/*"), { path: "/foo/" }, false],
    ["uri_template ** many segments", template("/foo/**"), { path: "/foo/a/b/c" }, true],
    ["uri_template ** may be empty", template("/foo/**"), { path: "/foo/" }, true],
    ["uri_template ** needs the slash", template("/foo/**"), { path: "/foo" }, false],
    ["uri_template ignores the query", template("/foo/*"), { path: "/foo/bar?a=b/c" }, true],
    ["uri_template {name}", template("/v1/{id}/items"), { path: "/v1/42/items" }, true],
    ["uri_template {name=*}", template("/v1/{id=*}/items"), { path: "/v1/4/2/items" }, false],
    ["uri_template {name=**}", template("/files/{path=**}"), { path: "/files/a/b.txt" }, true],
    ["uri_template literal inside a variable", template("/api/{v=v1/*}/x"), { path: "/api/v1/y/x" }, true],
    ["uri_template literal inside a variable, other", template("/api/{v=v1/*}/x"), { path: "/api/v2/y/x" }, false],
    ["uri_template suffix", template("/{name}.jpg"), { path: "/cat.jpg" }, true],
    ["uri_template suffix, other", template("/{name}.jpg"), { path: "/cat.png" }, false],
    ["uri_template ** suffix", template("/**.m3u8"), { path: "/a/b/c.m3u8" }, true],
    ["uri_template trailing slash kept", template("/foo/"), { path: "/foo" }, false],
    ["uri_template literal '.' is not a regex dot", template("/a.b"), { path: "/axb" }, false],
    ["uri_template characters outside pchar do not match *", template("/foo/*"), { path: "/foo/a b" }, false],
    ["not_rule over uri_template (Istio notPaths)", { notRule: template("/admin/**") }, { path: "/admin/x" }, false],
    ["not_rule over uri_template, other path", { notRule: template("/admin/**") }, { path: "/public" }, true],
    ["uri_template on a connection (no path)", template("/**"), { path: undefined }, false],
    // What Istio writes for paths "/path/template/{*}" and "/{**}/path/template".
    ["Istio's {*} as *", template("/path/template/*"), { path: "/path/template/x" }, true],
    ["Istio's {**} as ** before a literal", template("/**/path/template"), { path: "/a/b/path/template" }, true],
    ["** before a literal keeps its slash", template("/**/path/template"), { path: "/path/template" }, false],
  ];
  for (const [name, p, input, want] of table) {
    it(name, () => assert.equal(compilePermission(p, "p")(rbacInput(input)), want));
  }
});

describe("principals", () => {
  const table: Array<[string, Principal, InputOptions, boolean]> = [
    ["any", { any: true }, {}, true],
    ["source_ip: the connection's remote address", { sourceIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 24 } } }, { remoteAddress: "10.0.0.9", downstreamRemoteAddress: "1.2.3.4" }, true],
    ["direct_remote_ip: the socket's peer", { directRemoteIp: { addressPrefix: "10.0.0.9", prefixLen: { value: 32 } } }, { directRemoteAddress: "10.0.0.9", downstreamRemoteAddress: "1.2.3.4" }, true],
    ["remote_ip: the downstream remote address (XFF)", { remoteIp: { addressPrefix: "1.2.3.0", prefixLen: { value: 24 } } }, { remoteAddress: "10.0.0.9", downstreamRemoteAddress: "1.2.3.4" }, true],
    ["remote_ip is not the peer", { remoteIp: { addressPrefix: "10.0.0.9", prefixLen: { value: 32 } } }, { remoteAddress: "10.0.0.9", downstreamRemoteAddress: "1.2.3.4" }, false],
    ["header", { header: { name: "x-user", exactMatch: "alice" } }, { headers: { "x-user": "alice" } }, true],
    ["url_path", { urlPath: { path: { exact: "/x" } } }, { path: "/x?q" }, true],
    ["metadata", { metadata: { filter: JWT, path: [{ key: "payload" }, { key: "iss" }], value: { stringMatch: { exact: "issuer" } } } }, { metadata: claims }, true],
    ["and_ids", { andIds: { ids: [{ any: true }, { header: { name: "x", presentMatch: true } }] } }, {}, false],
    ["or_ids", { orIds: { ids: [{ header: { name: "x", presentMatch: true } }, { any: true }] } }, {}, true],
    ["not_id", { notId: { any: true } }, {}, false],
    ["authenticated on plaintext", { authenticated: {} }, {}, false],
  ];
  for (const [name, p, input, want] of table) {
    it(name, () => assert.equal(compilePrincipal(p, "p")(rbacInput(input)), want));
  }

  describe("authenticated over real TLS connections", () => {
    const pairs: Array<{ close(): void }> = [];
    let withClient: Awaited<ReturnType<typeof tlsPair>>;
    let dnsOnly: Awaited<ReturnType<typeof tlsPair>>;
    let noCert: Awaited<ReturnType<typeof tlsPair>>;
    before(async () => {
      withClient = await tlsPair(TLS_IP, { cert: "client.crt", key: "client.key", servername: "api.example.com" });
      dnsOnly = await tlsPair(TLS_IP, { cert: "revoked.crt", key: "revoked.key" });
      noCert = await tlsPair(TLS_IP, {});
      pairs.push(withClient, dnsOnly, noCert);
    });
    after(() => pairs.forEach((p) => p.close()));

    const table: Array<[string, Principal, "client" | "dns" | "none", boolean]> = [
      ["no principal_name: any TLS connection", { authenticated: {} }, "none", true],
      ["no peer certificate: the subject is ''", { authenticated: { principalName: { exact: "spiffe://cluster.local/ns/default/sa/client" } } }, "none", false],
      ["URI SAN exact", { authenticated: { principalName: { exact: "spiffe://cluster.local/ns/default/sa/client" } } }, "client", true],
      ["URI SAN prefix (Istio namespaces)", { authenticated: { principalName: { prefix: "spiffe://cluster.local/ns/default/" } } }, "client", true],
      ["URI SAN, other identity", { authenticated: { principalName: { exact: "spiffe://cluster.local/ns/default/sa/other" } } }, "client", false],
      ["DNS SAN when URI SANs do not match", { authenticated: { principalName: { exact: "client.example.com" } } }, "client", true],
      ["DNS SAN of a certificate without URI SANs", { authenticated: { principalName: { exact: "revoked.example.com" } } }, "dns", true],
      ["subject (RFC 2253) when no SAN matches", { authenticated: { principalName: { exact: "CN=revoked.example.com" } } }, "dns", true],
      ["subject of the URI-SAN certificate", { authenticated: { principalName: { exact: "CN=client.example.com" } } }, "client", true],
      ["e-mail SANs are not read", { authenticated: { principalName: { exact: "client@example.com" } } }, "client", false],
    ];
    for (const [name, p, which, want] of table) {
      it(name, () => {
        const socket = (which === "client" ? withClient : which === "dns" ? dnsOnly : noCert).server;
        assert.equal(compilePrincipal(p, "p")(rbacInput({ tls: socket })), want);
      });
    }

    it("requested_server_name reads the SNI", () => {
      assert.equal(compilePermission({ requestedServerName: { exact: "api.example.com" } }, "p")(rbacInput({ tls: withClient.server })), true);
      assert.equal(compilePermission({ requestedServerName: { exact: "api.example.com" } }, "p")(rbacInput({ tls: noCert.server })), false);
    });
  });
});

describe("engine: policy order and actions", () => {
  const policy = (header: string) => ({ permissions: [{ any: true }], principals: [{ header: { name: header, presentMatch: true } }] });
  const rules = (action: RBAC["action"]): RBAC => ({ action, policies: { "b-policy": policy("x-b"), "a-policy": policy("x-a"), Z: policy("x-z") } });

  it("the first policy in byte order is the effective one", () => {
    const e = compileRbac(rules("ALLOW"), "r", false);
    assert.deepEqual(e.evaluate(rbacInput({ headers: { "x-a": "1", "x-b": "1" } })), { allowed: true, policyId: "a-policy" });
    // Upper case sorts before lower case in byte order.
    assert.deepEqual(e.evaluate(rbacInput({ headers: { "x-a": "1", "x-z": "1" } })), { allowed: true, policyId: "Z" });
    assert.deepEqual(e.evaluate(rbacInput({})), { allowed: false, policyId: "" });
  });

  it("orders by UTF-8 bytes, not UTF-16 code units", () => {
    const e = compileRbac({ action: "DENY", policies: { "\u{1F600}": policy("x"), "\uFFFF": policy("x") } }, "r", false);
    assert.deepEqual(e.evaluate(rbacInput({ headers: { x: "1" } })), { allowed: false, policyId: "\uFFFF" });
  });

  it("DENY denies what matches and allows the rest", () => {
    const e = compileRbac(rules("DENY"), "r", false);
    assert.deepEqual(e.evaluate(rbacInput({ headers: { "x-b": "1" } })), { allowed: false, policyId: "b-policy" });
    assert.deepEqual(e.evaluate(rbacInput({})), { allowed: true, policyId: "" });
  });

  it("ALLOW with no policies denies everything; DENY with none allows everything", () => {
    assert.equal(compileRbac({ action: "ALLOW" }, "r", false).evaluate(rbacInput()).allowed, false);
    assert.equal(compileRbac({ action: "DENY" }, "r", false).evaluate(rbacInput()).allowed, true);
    // ALLOW is the default action.
    assert.equal(compileRbac({}, "r", false).evaluate(rbacInput()).allowed, false);
  });

  it("LOG allows and sets envoy.common access_log_hint when enforced, never in shadow", () => {
    const md = new DynamicMetadata();
    const e = compileRbac(rules("LOG"), "r", false);
    assert.deepEqual(e.evaluate(rbacInput({ headers: { "x-a": "1" }, metadata: md })), { allowed: true, policyId: "a-policy" });
    assert.deepEqual({ ...md.get("envoy.common") }, { access_log_hint: true });
    assert.deepEqual(e.evaluate(rbacInput({ metadata: md })), { allowed: true, policyId: "" });
    assert.deepEqual({ ...md.get("envoy.common") }, { access_log_hint: false });
    const shadowMd = new DynamicMetadata();
    compileRbac(rules("LOG"), "r", true).evaluate(rbacInput({ headers: { "x-a": "1" }, metadata: shadowMd }));
    assert.equal(shadowMd.get("envoy.common"), undefined);
  });

  it("an audit condition without loggers is accepted (it logs nothing)", () => {
    assert.equal(compileRbac({ action: "DENY", auditLoggingOptions: { auditCondition: "ON_DENY" } }, "r", false).evaluate(rbacInput()).allowed, true);
  });

  it("a policy needs a permission and a principal that match", () => {
    const e = compileRbac({ action: "ALLOW", policies: { p: { permissions: [{ destinationPort: 1 }, { destinationPort: 8080 }], principals: [{ notId: { any: true } }, { any: true }] } } }, "r", false);
    assert.equal(e.evaluate(rbacInput()).allowed, true);
    assert.equal(e.evaluate(rbacInput({ localPort: 2 })).allowed, false);
  });
});

describe("config the engine cannot implement is refused with its field path", () => {
  const p = (permissions: unknown[], principals: unknown[] = [{ any: true }]) => ({ action: "ALLOW", policies: { pol: { permissions, principals } } }) as RBAC;
  const table: Array<[string, RBAC, RegExp]> = [
    ["a CEL condition", { policies: { pol: { permissions: [{ any: true }], principals: [{ any: true }], condition: {} } } }, /^r\.policies\["pol"\]\.condition: CEL/],
    ["a checked CEL condition", { policies: { pol: { permissions: [{ any: true }], principals: [{ any: true }], checkedCondition: {} } } }, /^r\.policies\["pol"\]\.checkedCondition: /],
    ["no permissions", p([]), /^r\.policies\["pol"\]\.permissions: /],
    ["no principals", p([{ any: true }], []), /^r\.policies\["pol"\]\.principals: /],
    ["an empty permission", p([{}]), /^r\.policies\["pol"\]\.permissions\[0\]: a permission needs one rule/],
    ["empty and_rules", p([{ andRules: { rules: [] } }]), /permissions\[0\]\.andRules\.rules: /],
    ["a matcher extension", p([{ matcher: { name: "m" } }]), /permissions\[0\]\.matcher: /],
    ["filter_state", p([{ any: true }], [{ filterState: { key: "k", stringMatch: { exact: "v" } } }]), /principals\[0\]\.filterState: /],
    ["a malformed CIDR", p([{ destinationIp: { addressPrefix: "10.0.0.256", prefixLen: { value: 8 } } }]), /permissions\[0\]\.destinationIp\.addressPrefix: malformed/],
    ["a prefix_len past 32", p([{ destinationIp: { addressPrefix: "10.0.0.0", prefixLen: { value: 33 } } }]), /destinationIp\.prefixLen: /],
    ["a port range start >= end", p([{ destinationPortRange: { start: 90, end: 90 } }]), /destinationPortRange: range start 90 cannot be greater or equal than range end 90/],
    ["a port range past 65536", p([{ destinationPortRange: { start: 1, end: 70000 } }]), /range end 70000 is out of bounds/],
    ["a metadata matcher without path", p([{ metadata: { filter: "f", value: { presentMatch: true } } }]), /permissions\[0\]\.metadata\.path: /],
    ["a uri_template of another type", p([{ uriTemplate: { name: "x", typedConfig: { "@type": "type.googleapis.com/google.protobuf.Empty" } as never } }]), /permissions\[0\]\.uriTemplate\.typedConfig: Didn't find a registered implementation/],
    ["audit loggers", { action: "ALLOW", auditLoggingOptions: { auditCondition: "ON_DENY", loggerConfigs: [{ auditLogger: { name: "stdout" } }] } }, /^r\.auditLoggingOptions\.loggerConfigs: /],
  ];
  for (const [name, r, re] of table) {
    it(name, () =>
      assert.throws(
        () => compileRbac(r, "r", false),
        (e: unknown) => e instanceof XdsConfigError && re.test(e.message),
      ),
    );
  }

  const templates: Array<[string, RegExp]> = [
    ["foo/*", /Invalid pattern/],
    ["/foo/**/bar/*", /Glob after text glob/],
    ["/**/{x}", /Implicit variable path glob after text glob/],
    ["/{a}/{a}", /Repeated variable name/],
    ["/{a}/{b}/{c}/{d}/{e}/{f}", /Exceeded variable count limit/],
    ["/{abcdefghijklmnopq}", /Invalid variable name length/],
    ["/{x", /Unmatched variable bracket/],
    ["/{1x}", /Invalid variable name/],
    ["/foo*", /Invalid literal/],
    ["/foo/{**}", /Invalid variable name/],
    ["/{x}.a/b", /Prefix match not supported/],
    ["/a b", /Invalid pattern/],
  ];
  for (const [t, re] of templates) {
    it(`uri_template '${t}'`, () =>
      assert.throws(
        () => compilePermission(template(t), "p"),
        (e: unknown) => e instanceof XdsConfigError && e.path === "p.uriTemplate.typedConfig.pathTemplate" && re.test(e.message),
      ),
    );
  }
});
