// Table tests for Istio's semantic rules on AuthorizationPolicy, PeerAuthentication, RequestAuthentication.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertError, assertValid, assertWarning, resource } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: unknown;
  path: string;
  contains?: string | RegExp;
  annotations?: Record<string, string>;
}

function doc(kind: string, c: { spec: unknown; annotations?: Record<string, string> }): object {
  const r = resource(kind, c.spec) as { metadata: object };
  return c.annotations ? { ...r, metadata: { ...r.metadata, annotations: c.annotations } } : r;
}

function table(kind: string, valid: { name: string; spec: unknown; annotations?: Record<string, string> }[], errors: Case[], warnings: Case[]): void {
  describe(`${kind}: valid`, () => {
    for (const c of valid)
      test(c.name, () => {
        assertValid(doc(kind, c));
      });
  });
  describe(`${kind}: errors`, () => {
    for (const c of errors)
      test(c.name, () => {
        const d = assertError(doc(kind, c), c.path, c.contains);
        // The schema layer must have passed: the error comes from the semantic rules.
        assert.ok(!d.some((x) => x.code.startsWith("TSMESH_SCHEMA")), `unexpected schema error: ${JSON.stringify(d)}`);
      });
  });
  describe(`${kind}: warnings`, () => {
    for (const c of warnings)
      test(c.name, () => {
        assertWarning(doc(kind, c), c.path, c.contains);
      });
  });
}

const rule = (r: object) => ({ rules: [r] });
const from = (source: object) => rule({ from: [{ source }] });
const to = (operation: object) => rule({ to: [{ operation }] });
const when = (...conds: object[]) => rule({ when: conds });

table(
  "AuthorizationPolicy",
  [
    { name: "allow-nothing (empty spec)", spec: {} },
    { name: "allow-all (empty rule)", spec: rule({}) },
    { name: "deny-all with empty rule", spec: { action: "DENY", rules: [{}] } },
    { name: "AUDIT without rules", spec: { action: "AUDIT" } },
    {
      name: "CUSTOM with provider and rule",
      spec: { action: "CUSTOM", provider: { name: "ext-authz" }, rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] },
    },
    {
      name: "source fields, IPs and CIDRs",
      spec: from({ principals: ["cluster.local/ns/a/sa/b", "*"], ipBlocks: ["10.0.0.1", "10.0.0.0/8", "2001:db8::/32"], notRemoteIpBlocks: ["::1"] }),
    },
    { name: "service accounts", spec: from({ serviceAccounts: ["sa", "ns/sa"] }) },
    { name: "trust domains", spec: from({ trustDomains: ["cluster.local"] }) },
    {
      name: "operation fields and path templates",
      spec: to({ methods: ["GET", "POST"], hosts: ["*.example.com", "example.*"], ports: ["0", "8080"], paths: ["/a/{*}/b", "/{**}", "/x/*", "*/y"] }),
    },
    {
      name: "every supported when key",
      spec: when(
        { key: "request.headers[x-token]", values: ["a"] },
        { key: "source.ip", values: ["10.0.0.0/8"] },
        { key: "remote.ip", notValues: ["1.2.3.4"] },
        { key: "source.namespace", values: ["ns"] },
        { key: "source.principal", values: ["p"] },
        { key: "source.serviceAccount", values: ["ns/sa"] },
        { key: "source.trustDomain", values: ["td"] },
        { key: "request.auth.principal", values: ["iss/sub"] },
        { key: "request.auth.audiences", values: ["aud"] },
        { key: "request.auth.presenter", values: ["p"] },
        { key: "request.auth.claims[groups]", values: ["g"] },
        { key: "destination.ip", values: ["10.1.1.1"] },
        { key: "destination.port", values: ["443"] },
        { key: "connection.sni", values: ["a.example.com"] },
        { key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"] },
      ),
    },
    { name: "DENY with ports is not warned about", spec: { action: "DENY", rules: [{ to: [{ operation: { ports: ["80"], paths: ["/x"] } }] }] } },
    { name: "dry-run on ALLOW", spec: rule({}), annotations: { "istio.io/dry-run": "true" } },
    { name: "targetRefs to a Gateway", spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }], rules: [{}] } },
    { name: "targetRef to a Service", spec: { targetRef: { group: "", kind: "Service", name: "svc" }, rules: [{}] } },
  ],
  [
    { name: "CUSTOM without rules", spec: { action: "CUSTOM", provider: { name: "x" } }, path: "spec.rules", contains: "never triggered" },
    { name: "CUSTOM without provider", spec: { action: "CUSTOM", rules: [{}] }, path: "spec.provider", contains: "provider.name" },
    { name: "CUSTOM with empty provider name", spec: { action: "CUSTOM", provider: {}, rules: [{}] }, path: "spec.provider.name" },
    { name: "provider with ALLOW", spec: { provider: { name: "x" }, rules: [{}] }, path: "spec.provider", contains: "only allowed with action CUSTOM" },
    { name: "provider with DENY", spec: { action: "DENY", provider: { name: "x" }, rules: [{}] }, path: "spec.provider", contains: "DENY" },
    { name: "DENY without rules", spec: { action: "DENY" }, path: "spec.rules", contains: "DENY action without rules" },
    { name: "DENY with empty rules list", spec: { action: "DENY", rules: [] }, path: "spec.rules" },
    {
      name: "CUSTOM with principals",
      spec: { action: "CUSTOM", provider: { name: "x" }, rules: [{ from: [{ source: { principals: ["a"] } }] }] },
      path: "spec.rules[0].from[0].source.principals",
      contains: "CUSTOM",
    },
    {
      name: "CUSTOM with request.auth.claims",
      spec: { action: "CUSTOM", provider: { name: "x" }, rules: [{ when: [{ key: "request.auth.claims[iss]", values: ["a"] }] }] },
      path: "spec.rules[0].when[0].key",
      contains: "CUSTOM",
    },
    { name: "empty from list", spec: rule({ from: [] }), path: "spec.rules[0].from", contains: "must not be empty" },
    { name: "from without source", spec: rule({ from: [{}] }), path: "spec.rules[0].from[0].source", contains: "must set `source`" },
    { name: "empty source", spec: from({}), path: "spec.rules[0].from[0].source", contains: "at least one field" },
    { name: "source with only empty lists", spec: from({ principals: [] }), path: "spec.rules[0].from[0].source", contains: "at least one field" },
    { name: "empty principal", spec: from({ principals: ["a", ""] }), path: "spec.rules[0].from[0].source.principals[1]", contains: "empty value" },
    { name: "empty notNamespace", spec: from({ notNamespaces: [""] }), path: "spec.rules[0].from[0].source.notNamespaces[0]" },
    { name: "bad ipBlock", spec: from({ ipBlocks: ["10.0.0.256"] }), path: "spec.rules[0].from[0].source.ipBlocks[0]", contains: "not a valid IP" },
    { name: "bad CIDR in remoteIpBlocks", spec: from({ remoteIpBlocks: ["10.0.0.0/33"] }), path: "spec.rules[0].from[0].source.remoteIpBlocks[0]", contains: "CIDR" },
    { name: "hostname as ipBlock", spec: from({ notIpBlocks: ["example.com"] }), path: "spec.rules[0].from[0].source.notIpBlocks[0]" },
    { name: "wildcard service account", spec: from({ serviceAccounts: ["ns/*"] }), path: "spec.rules[0].from[0].source.serviceAccounts[0]", contains: "wildcard" },
    { name: "service account with two slashes", spec: from({ serviceAccounts: ["a/b/c"] }), path: "spec.rules[0].from[0].source.serviceAccounts[0]", contains: "namespace/serviceAccount" },
    { name: "service account with empty namespace", spec: from({ notServiceAccounts: ["/sa"] }), path: "spec.rules[0].from[0].source.notServiceAccounts[0]", contains: "empty namespace" },
    { name: "empty to list", spec: rule({ to: [] }), path: "spec.rules[0].to", contains: "must not be empty" },
    { name: "to without operation", spec: rule({ to: [{}] }), path: "spec.rules[0].to[0].operation" },
    { name: "empty operation", spec: to({}), path: "spec.rules[0].to[0].operation", contains: "at least one field" },
    { name: "non-numeric port", spec: to({ ports: ["http"] }), path: "spec.rules[0].to[0].operation.ports[0]", contains: "bad port" },
    { name: "port out of range", spec: to({ notPorts: ["65536"] }), path: "spec.rules[0].to[0].operation.notPorts[0]", contains: "0..65535" },
    { name: "empty method", spec: to({ methods: [""] }), path: "spec.rules[0].to[0].operation.methods[0]", contains: "empty value" },
    { name: "empty host", spec: to({ hosts: ["a.com", ""] }), path: "spec.rules[0].to[0].operation.hosts[1]" },
    { name: "{**} not last", spec: to({ paths: ["/{**}/a/{*}"] }), path: "spec.rules[0].to[0].operation.paths[0]", contains: "{**} must be the last" },
    { name: "unsupported template", spec: to({ paths: ["/a/{id}"] }), path: "spec.rules[0].to[0].operation.paths[0]", contains: "{*} and {**}" },
    { name: "bad literal next to template", spec: to({ notPaths: ["/a*/{*}"] }), path: "spec.rules[0].to[0].operation.notPaths[0]", contains: "not a valid path literal" },
    { name: "empty when key", spec: when({ key: "", values: ["a"] }), path: "spec.rules[0].when[0].key", contains: "must not be empty" },
    { name: "when without values", spec: when({ key: "source.ip" }), path: "spec.rules[0].when[0]", contains: "values or notValues" },
    { name: "unknown when key", spec: when({ key: "source.user", values: ["a"] }), path: "spec.rules[0].when[0].key", contains: "unknown attribute" },
    { name: "header key without name", spec: when({ key: "request.headers", values: ["a"] }), path: "spec.rules[0].when[0].key", contains: "request.headers[<name>]" },
    { name: "claims key with empty name", spec: when({ key: "request.auth.claims[]", values: ["a"] }), path: "spec.rules[0].when[0].key" },
    { name: "destination.namespace", spec: when({ key: "destination.namespace", values: ["a"] }), path: "spec.rules[0].when[0].key", contains: "metadata.namespace" },
    { name: "destination.labels", spec: when({ key: "destination.labels[app]", values: ["a"] }), path: "spec.rules[0].when[0].key", contains: "selector" },
    { name: "destination.user (v1alpha1)", spec: when({ key: "destination.user", values: ["a"] }), path: "spec.rules[0].when[0].key", contains: "v1alpha1" },
    { name: "bad source.ip value", spec: when({ key: "source.ip", values: ["1.2.3"] }), path: "spec.rules[0].when[0].values[0]", contains: "IP" },
    { name: "bad destination.port notValue", spec: when({ key: "destination.port", values: ["80"], notValues: ["x"] }), path: "spec.rules[0].when[0].notValues[0]", contains: "bad port" },
    { name: "empty when value", spec: when({ key: "request.auth.principal", values: [""] }), path: "spec.rules[0].when[0].values[0]", contains: "empty value" },
    { name: "bad source.serviceAccount value", spec: when({ key: "source.serviceAccount", values: ["*"] }), path: "spec.rules[0].when[0].values[0]", contains: "wildcard" },
    { name: "targetRef to a Deployment", spec: { targetRef: { group: "apps", kind: "Deployment", name: "d" } }, path: "spec.targetRef.kind", contains: "not supported" },
    { name: "targetRefs to an HTTPRoute", spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "r" }] }, path: "spec.targetRefs[0].kind" },
    { name: "dry-run on CUSTOM", spec: { action: "CUSTOM", provider: { name: "x" }, rules: [{}] }, annotations: { "istio.io/dry-run": "true" }, path: "metadata.annotations[istio.io/dry-run]", contains: "ALLOW or DENY" },
    { name: "dry-run not a bool", spec: rule({}), annotations: { "istio.io/dry-run": "yes" }, path: "metadata.annotations[istio.io/dry-run]", contains: "boolean" },
  ],
  [
    { name: "selector without labels", spec: { selector: {}, rules: [{}] }, path: "spec.selector", contains: "every workload" },
    { name: "DENY with only HTTP fields in to", spec: { action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] }, path: "spec.rules[0]", contains: "TCP" },
    { name: "DENY with only request principals", spec: { action: "DENY", rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }, path: "spec.rules[0]", contains: "TCP" },
    { name: "lower-case method", spec: to({ methods: ["get"] }), path: "spec.rules[0].to[0].operation.methods[0]", contains: '"GET"' },
    { name: "wildcard in the middle of a host", spec: to({ hosts: ["a.*.com"] }), path: "spec.rules[0].to[0].operation.hosts[0]", contains: "literal" },
    { name: "path without leading slash", spec: to({ paths: ["admin"] }), path: "spec.rules[0].to[0].operation.paths[0]", contains: "never matches" },
  ],
);

table(
  "PeerAuthentication",
  [
    { name: "empty spec", spec: {} },
    { name: "namespace-wide STRICT", spec: { mtls: { mode: "STRICT" } } },
    { name: "port level with selector", spec: { selector: { matchLabels: { app: "a" } }, mtls: { mode: "STRICT" }, portLevelMtls: { "8080": { mode: "DISABLE" } } } },
  ],
  [
    { name: "dry-run annotation", spec: {}, annotations: { "istio.io/dry-run": "true" }, path: "metadata.annotations[istio.io/dry-run]", contains: "only supported on AuthorizationPolicy" },
  ],
  [
    { name: "selector without labels", spec: { selector: {} }, path: "spec.selector" },
    { name: "port level mode UNSET", spec: { selector: { matchLabels: { app: "a" } }, portLevelMtls: { "80": { mode: "UNSET" } } }, path: "spec.portLevelMtls[80].mode", contains: "no effect" },
    { name: "port level without mode", spec: { selector: { matchLabels: { app: "a" } }, portLevelMtls: { "80": {} } }, path: "spec.portLevelMtls[80].mode" },
  ],
);

const jwt = (r: object) => ({ jwtRules: [{ issuer: "https://issuer.example.com", ...r }] });
const JWKS = JSON.stringify({ keys: [{ kty: "RSA", n: "abc", e: "AQAB", kid: "1" }] });

table(
  "RequestAuthentication",
  [
    { name: "empty spec", spec: {} },
    { name: "issuer with jwksUri", spec: jwt({ jwksUri: "https://issuer.example.com/jwks.json", audiences: ["a"], timeout: "5s" }) },
    { name: "jwksUri without issuer", spec: { jwtRules: [{ jwksUri: "https://issuer.example.com/jwks.json" }] } },
    { name: "snake_case jwks_uri", spec: jwt({ jwks_uri: "http://issuer.example.com:8080/jwks" }) },
    { name: "inline JWK Set", spec: jwt({ jwks: JWKS }) },
    { name: "inline single JWK", spec: jwt({ jwks: JSON.stringify({ kty: "EC", crv: "P-256", x: "a", y: "b" }) }) },
    { name: "headers and claims", spec: jwt({ fromHeaders: [{ name: "x-jwt", prefix: "Bearer " }], outputClaimToHeaders: [{ claim: "sub", header: "x-sub" }] }) },
  ],
  [
    { name: "no issuer and no jwksUri", spec: { jwtRules: [{ jwks: JWKS }] }, path: "spec.jwtRules[0].issuer", contains: "issuer is required" },
    { name: "jwks not JSON", spec: jwt({ jwks: "{not json" }), path: "spec.jwtRules[0].jwks", contains: "not valid JSON" },
    { name: "jwks is an array", spec: jwt({ jwks: "[]" }), path: "spec.jwtRules[0].jwks", contains: "JSON object" },
    { name: "jwks keys not a list", spec: jwt({ jwks: '{"keys": {}}' }), path: "spec.jwtRules[0].jwks", contains: "array" },
    { name: "jwk without kty", spec: jwt({ jwks: '{"keys": [{"n": "a"}]}' }), path: "spec.jwtRules[0].jwks", contains: "kty" },
    { name: "RSA jwk without modulus", spec: jwt({ jwks: '{"keys": [{"kty": "RSA", "e": "AQAB"}]}' }), path: "spec.jwtRules[0].jwks", contains: '"n"' },
    { name: "unknown kty", spec: jwt({ jwks: '{"kty": "DSA"}' }), path: "spec.jwtRules[0].jwks", contains: "unsupported kty" },
    { name: "jwksUri with bad port", spec: jwt({ jwksUri: "https://issuer.example.com:99999/jwks" }), path: "spec.jwtRules[0].jwksUri", contains: "not a valid URL" },
    { name: "sub-millisecond timeout", spec: jwt({ timeout: "1.5ms" }), path: "spec.jwtRules[0].timeout", contains: "ms precision" },
    { name: "header name with newline", spec: jwt({ fromHeaders: [{ name: "x-a\nb" }] }), path: "spec.jwtRules[0].fromHeaders[0].name", contains: "CR or LF" },
    { name: "targetRef to a Pod", spec: { targetRef: { kind: "Pod", name: "p" } }, path: "spec.targetRef.kind" },
  ],
  [
    { name: "duplicate output header", spec: jwt({ outputClaimToHeaders: [{ claim: "sub", header: "x-a" }, { claim: "iss", header: "X-A" }] }), path: "spec.jwtRules[0].outputClaimToHeaders[1].header", contains: "already written" },
    { name: "header name with a space", spec: jwt({ fromHeaders: [{ name: "x jwt" }] }), path: "spec.jwtRules[0].fromHeaders[0].name", contains: "not valid in an HTTP header name" },
    { name: "payload header with a colon", spec: jwt({ outputPayloadToHeader: "x:payload" }), path: "spec.jwtRules[0].outputPayloadToHeader" },
    { name: "selector without labels", spec: { selector: { matchLabels: {} } }, path: "spec.selector" },
  ],
);
