// AuthorizationPolicy → Envoy RBAC / ext_authz filters (src/xds/gen/authz), as Istio's authz builder
// generates them: golden files for representative policies (UPDATE_GOLDEN=1 refreshes them; every
// filter also survives a protobuf round trip), then a table of Istio's tricky cases asserted field
// by field: HTTP-only attributes on TCP chains per action, path templates, nested claims, empty
// `from`, dry-run, trust domain aliases, CUSTOM providers that cannot be used.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { AnyResource } from "../../../src/api/resource.js";
import type { HttpFilter, NetworkFilter } from "../../../src/envoy/types.js";
import type { MeshConfig } from "../../../src/model/push-context.js";
import { buildAuthzFilters, type WorkloadAuthzFilters } from "../../../src/xds/gen/authz/builder.js";
import { assertGolden, assertRoundTrip, pushContext, resourcesFromYaml } from "../../helpers/xds.js";

const WORKLOAD = { namespace: "foo", labels: { app: "httpbin", version: "v1" } };

const EXT_AUTHZ_SERVICES = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext-authz, namespace: foo}
spec:
  hosts: [ext-authz.foo.svc.cluster.local]
  ports: [{number: 8000, name: http, protocol: HTTP}, {number: 9000, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.9}]
`;

const HTTP_PROVIDER: MeshConfig["extensionProviders"][number] = {
  name: "ext-authz-http",
  kind: "envoyExtAuthzHttp",
  envoyExtAuthzHttp: {
    service: "foo/ext-authz.foo.svc.cluster.local",
    port: 8000,
    timeoutMs: 10_000,
    pathPrefix: "/check",
    failOpen: true,
    statusOnError: "503",
    includeRequestHeadersInCheck: ["x-ext-authz", "x-prefix-*", "*-suffix"],
    includeHeadersInCheck: ["ignored-when-the-new-field-is-set"],
    includeAdditionalHeadersInCheck: { "x-header-2": "b", "x-header-1": "a" },
    headersToUpstreamOnAllow: ["x-user"],
    headersToDownstreamOnAllow: ["set-cookie"],
    headersToDownstreamOnDeny: ["x-reason", "content-type"],
    includeRequestBodyInCheck: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: false },
  },
};

const GRPC_PROVIDER: MeshConfig["extensionProviders"][number] = {
  name: "ext-authz-grpc",
  kind: "envoyExtAuthzGrpc",
  envoyExtAuthzGrpc: { service: "ext-authz.foo.svc.cluster.local", port: 9000, failOpen: false, statusOnError: "" },
};

function policy(name: string, spec: string, annotations = "", namespace = "foo"): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${namespace}${annotations ? `, annotations: {${annotations}}` : ""}}
spec:
${spec.replace(/^/gm, "  ")}
`;
}

function build(yaml: string[], mesh: Partial<MeshConfig> = {}, validated = true): WorkloadAuthzFilters {
  const text = [EXT_AUTHZ_SERVICES, ...yaml].join("---\n");
  // Unvalidated: what validation refuses but the builder must still survive as Istio's does.
  const resources = validated ? resourcesFromYaml(text) : parseAllDocuments(text).map((d) => d.toJS() as AnyResource);
  const push = pushContext(resources, { extensionProviders: [HTTP_PROVIDER, GRPC_PROVIDER], ...mesh });
  return buildAuthzFilters(push, push.authzPolicies.forWorkload(WORKLOAD));
}

/** Every filter's typed config encodes and decodes to itself. */
function roundTrip(filters: ReadonlyArray<HttpFilter | NetworkFilter>): void {
  for (const f of filters) {
    const { "@type": url, ...config } = f.typedConfig as unknown as { "@type": string };
    assertRoundTrip(url.replace(/^type\.googleapis\.com\//, ""), config, f.name ?? "");
  }
}

const FULL_RULE = `selector: {matchLabels: {app: httpbin}}
rules:
- from:
  - source:
      principals: [cluster.local/ns/foo/sa/sleep, "*/sa/admin", "prefix-*"]
      notPrincipals: ["*"]
      requestPrincipals: ["https://issuer.example/alice", "*"]
      notRequestPrincipals: ["https://evil.example/*"]
      namespaces: [foo, "bar-*"]
      notNamespaces: [kube-system]
      ipBlocks: [10.0.0.1, 192.168.0.0/16]
      notIpBlocks: [10.0.0.2]
      remoteIpBlocks: [203.0.113.0/24]
      notRemoteIpBlocks: [203.0.113.7]
      trustDomains: [cluster.local, "*.example"]
  - source: {serviceAccounts: [sleep, other/curl], notServiceAccounts: [bad]}
  to:
  - operation:
      hosts: [httpbin.foo, "*.example.com"]
      notHosts: ["admin.*"]
      methods: [GET, HEAD]
      notMethods: [DELETE]
      paths: [/headers, "/api/*", "*.png", "/v1/{*}/items/{**}"]
      notPaths: [/admin]
      ports: ["8000"]
      notPorts: ["9000"]
  when:
  - {key: "request.headers[x-token]", values: [secret, "bearer *"], notValues: ["*-revoked"]}
  - {key: "request.auth.claims[groups]", values: [admins]}
  - {key: "request.auth.claims[realm][roles]", notValues: [guest]}
  - {key: request.auth.audiences, values: [httpbin]}
  - {key: request.auth.presenter, values: [web]}
  - {key: request.auth.principal, values: [https://issuer.example/bob]}
  - {key: source.ip, values: [10.1.0.0/16]}
  - {key: remote.ip, notValues: [198.51.100.1]}
  - {key: source.namespace, values: [foo]}
  - {key: source.principal, values: [cluster.local/ns/foo/sa/sleep]}
  - {key: destination.ip, values: [10.2.0.1]}
  - {key: destination.port, values: ["8000"]}
  - {key: connection.sni, values: ["*.example.com"]}
  - {key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]", select]}
`;

describe("authz builder: golden filters", () => {
  const golden: Array<[string, string[], Partial<MeshConfig>?]> = [
    ["allow-full-rule", [policy("full", FULL_RULE)]],
    ["deny-audit-allow", [policy("deny", "action: DENY\nrules: [{to: [{operation: {methods: [DELETE]}}]}]"), policy("audit", "action: AUDIT\nrules: [{to: [{operation: {paths: [/audit]}}]}]"), policy("allow", "rules: [{from: [{source: {namespaces: [foo]}}]}]")]],
    ["allow-nothing-and-deny-all", [policy("allow-nothing", "{}"), policy("deny-all", "action: DENY\nrules: [{}]")]],
    [
      "dry-run-mix",
      [
        policy("dry-allow", "rules: [{to: [{operation: {paths: [/a]}}]}]", '"istio.io/dry-run": "true"'),
        policy("enforced-allow", "rules: [{to: [{operation: {paths: [/b]}}]}]"),
        policy("dry-deny", "action: DENY\nrules: [{to: [{operation: {paths: [/c]}}]}]", '"istio.io/dry-run": "true"'),
      ],
    ],
    ["custom-http-provider", [policy("ext", "action: CUSTOM\nprovider: {name: ext-authz-http}\nrules: [{to: [{operation: {paths: [/admin/*]}}]}]"), policy("ext-2", "action: CUSTOM\nprovider: {name: ext-authz-http}\nrules: [{to: [{operation: {paths: [/two]}}]}]")]],
    ["custom-grpc-provider", [policy("ext", "action: CUSTOM\nprovider: {name: ext-authz-grpc}\nrules: [{to: [{operation: {ports: [\"3306\"]}}]}]")]],
    ["trust-domain-aliases", [policy("td", "rules: [{from: [{source: {principals: [cluster.local/ns/foo/sa/sleep, old-td/ns/foo/sa/curl, other.org/ns/foo/sa/x, \"*/ns/foo/sa/y\"], trustDomains: [td1]}}]}]")], { trustDomain: "td1", trustDomainAliases: ["old-td", "*.legacy"] }],
  ];
  for (const [name, yaml, mesh] of golden) {
    it(name, () => {
      const f = build(yaml, mesh);
      roundTrip([...f.custom.http, ...f.local.http, ...f.custom.tcp, ...f.local.tcp]);
      assertGolden(`authz/${name}`, { http: [...f.custom.http, ...f.local.http], tcp: [...f.custom.tcp, ...f.local.tcp], messages: [...f.custom.messages, ...f.local.messages] });
    });
  }
});

type Rbac = { rules?: { action?: string; policies?: Record<string, unknown> }; shadowRules?: { action?: string; policies?: Record<string, unknown> }; shadowRulesStatPrefix?: string; statPrefix?: string };
const rbacOf = (f: HttpFilter | NetworkFilter): Rbac => f.typedConfig as unknown as Rbac;
const policyNames = (r: Rbac["rules"]): string[] => Object.keys(r?.policies ?? {});
const json = (v: unknown): string => JSON.stringify(v);

describe("authz builder: Istio's tricky cases", () => {
  it("HTTP-only fields on TCP: an ALLOW rule is dropped whole (a narrower allow), with Istio's message", () => {
    const f = build([policy("a", "rules:\n- to: [{operation: {methods: [GET], ports: [\"80\"]}}]\n- to: [{operation: {ports: [\"81\"]}}]")]);
    assert.deepEqual(policyNames(rbacOf(f.local.http[0]).rules), ["ns[foo]-policy[a]-rule[0]", "ns[foo]-policy[a]-rule[1]"]);
    const tcp = rbacOf(f.local.tcp[0]);
    assert.equal(f.local.tcp[0].name, "envoy.filters.network.rbac");
    assert.equal(tcp.statPrefix, "tcp.");
    assert.deepEqual(policyNames(tcp.rules), ["ns[foo]-policy[a]-rule[1]"]);
    assert.deepEqual(f.local.messages, ['skipped rule ns[foo]-policy[a]-rule[0] on TCP filter chain: ":method" is HTTP only']);
  });

  for (const action of ["DENY", "AUDIT"]) {
    it(`HTTP-only fields on TCP: a ${action} rule keeps the rest of its conditions (a wider ${action.toLowerCase()})`, () => {
      const f = build([policy("d", `action: ${action}\nrules: [{to: [{operation: {methods: [GET], ports: ["80"]}}], when: [{key: "request.headers[x]", values: [y]}]}]`)]);
      const rules = rbacOf(f.local.tcp[0]).rules!;
      assert.equal(rules.action, action === "DENY" ? "DENY" : "LOG");
      const p = rules.policies!["ns[foo]-policy[d]-rule[0]"] as { permissions: unknown[]; principals: unknown[] };
      assert.equal(json(p.permissions), json([{ andRules: { rules: [{ orRules: { rules: [{ destinationPort: 80 }] } }] } }]));
      assert.equal(json(p.principals), json([{ andIds: { ids: [{ any: true }] } }]));
      assert.deepEqual(f.local.messages, []);
    });
  }

  it("HTTP-only `from` fields on TCP: requestPrincipals fail an ALLOW rule, are left out of a DENY", () => {
    const allow = build([policy("a", "rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]")]);
    assert.deepEqual(policyNames(rbacOf(allow.local.tcp[0]).rules), []);
    const deny = build([policy("d", "action: DENY\nrules: [{from: [{source: {notRequestPrincipals: [\"*\"], namespaces: [foo]}}]}]")]);
    const p = rbacOf(deny.local.tcp[0]).rules!.policies!["ns[foo]-policy[d]-rule[0]"] as { principals: unknown[] };
    assert.equal(json(p.principals), json([{ andIds: { ids: [{ orIds: { ids: [{ authenticated: { principalName: { safeRegex: { regex: ".*/ns/foo/.*" } } } }] } }] } }]));
  });

  it("notPaths with templates become a negated uri_template (`{*}` → `*`, `{**}` → `**`)", () => {
    const f = build([policy("t", "rules: [{to: [{operation: {notPaths: [\"/api/{*}/admin/{**}\", /exact]}}]}]")]);
    const p = rbacOf(f.local.http[0]).rules!.policies!["ns[foo]-policy[t]-rule[0]"] as { permissions: unknown[] };
    assert.equal(
      json(p.permissions),
      json([
        {
          andRules: {
            rules: [
              {
                notRule: {
                  orRules: {
                    rules: [
                      { uriTemplate: { name: "uri-template", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig", pathTemplate: "/api/*/admin/**" } } },
                      { urlPath: { path: { exact: "/exact" } } },
                    ],
                  },
                },
              },
            ],
          },
        },
      ]),
    );
  });

  it("nested claims: request.auth.claims[a][b] looks under jwt_authn's payload, a list or a string", () => {
    const f = build([policy("c", "rules: [{when: [{key: \"request.auth.claims[realm_access][roles]\", values: [admin, \"ops-*\"]}]}]")]);
    const p = rbacOf(f.local.http[0]).rules!.policies!["ns[foo]-policy[c]-rule[0]"] as { principals: Array<{ andIds: { ids: unknown[] } }> };
    const value = { orMatch: { valueMatchers: [{ stringMatch: { exact: "admin" } }, { stringMatch: { prefix: "ops-" } }] } };
    assert.equal(
      json(p.principals[0].andIds.ids),
      json([{ metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key: "realm_access" }, { key: "roles" }], value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: value } }, value] } } } }]),
    );
  });

  it("a malformed claim key (`[a]b`) is one bracketed name, as Istio reads it", () => {
    const f = build([policy("c", "rules: [{when: [{key: \"request.auth.claims[a]b\", values: [x]}]}]")], {}, false);
    // Istio's extractNameInNestedBrackets falls back to extractNameInBrackets, which fails: the rule is skipped.
    assert.deepEqual(policyNames(rbacOf(f.local.http[0]).rules), []);
    assert.match(f.local.messages.join("\n"), /skipped rule ns\[foo\]-policy\[c\]-rule\[0\] on HTTP filter chain: expecting format \[<NAME>\], but found \[a\]b/);
  });

  it("an empty `from` and `to` match anything: any principal, any permission", () => {
    const f = build([policy("e", "rules: [{from: [{source: {}}], to: [{operation: {}}]}]")], {}, false);
    const p = rbacOf(f.local.http[0]).rules!.policies!["ns[foo]-policy[e]-rule[0]"];
    assert.equal(json(p), json({ permissions: [{ andRules: { rules: [{ any: true }] } }], principals: [{ andIds: { ids: [{ any: true }] } }] }));
  });

  it("dry-run: shadow rules with Istio's stat prefix per action; rules absent when every policy is dry-run", () => {
    const allow = rbacOf(build([policy("a", "rules: [{}]", '"istio.io/dry-run": "true"')]).local.http[0]);
    assert.deepEqual([allow.rules, policyNames(allow.shadowRules), allow.shadowRulesStatPrefix], [undefined, ["ns[foo]-policy[a]-rule[0]"], "istio_dry_run_allow_"]);
    const deny = rbacOf(build([policy("d", "action: DENY\nrules: [{}]", '"istio.io/dry-run": "true"')]).local.http[0]);
    assert.deepEqual([deny.shadowRules?.action, deny.shadowRulesStatPrefix], ["DENY", "istio_dry_run_deny_"]);
    const audit = rbacOf(build([policy("l", "action: AUDIT\nrules: [{}]", '"istio.io/dry-run": "true"')], {}, false).local.http[0]);
    assert.deepEqual([audit.shadowRules?.action, audit.shadowRulesStatPrefix], ["LOG", undefined]);
    // Without shadow rules Istio still writes the allow prefix (it reads a nil RBAC's action).
    assert.equal(rbacOf(build([policy("d", "action: DENY\nrules: [{}]")]).local.http[0]).shadowRulesStatPrefix, "istio_dry_run_allow_");
  });

  it("dry-run: a value that is not a boolean is enforced, and said", () => {
    const f = build([policy("a", "rules: [{}]", '"istio.io/dry-run": "maybe"')], {}, false);
    assert.deepEqual(policyNames(rbacOf(f.local.http[0]).rules), ["ns[foo]-policy[a]-rule[0]"]);
    assert.match(f.local.messages[0], /failed to parse the value of istio\.io\/dry-run/);
  });

  it("trust domain aliases: a principal of the trust domain, an alias or cluster.local matches under each", () => {
    const f = build([policy("td", "rules: [{from: [{source: {principals: [cluster.local/ns/foo/sa/sleep]}}]}]")], { trustDomain: "td1", trustDomainAliases: ["old-td"] });
    const p = rbacOf(f.local.http[0]).rules!.policies!["ns[foo]-policy[td]-rule[0]"] as { principals: Array<{ andIds: { ids: Array<{ orIds: { ids: unknown[] } }> } }> };
    assert.equal(
      json(p.principals[0].andIds.ids[0].orIds.ids),
      json([{ authenticated: { principalName: { exact: "spiffe://td1/ns/foo/sa/sleep" } } }, { authenticated: { principalName: { exact: "spiffe://old-td/ns/foo/sa/sleep" } } }]),
    );
  });

  it("an unknown `when` key skips the rule (whatever the action)", () => {
    for (const action of ["ALLOW", "DENY"]) {
      const f = build([policy("u", `action: ${action}\nrules: [{when: [{key: request.unknown, values: [x]}]}, {}]`)], {}, false);
      assert.deepEqual(policyNames(rbacOf(f.local.http[0]).rules), ["ns[foo]-policy[u]-rule[1]"]);
      assert.match(f.local.messages[0], /skipped invalid rule ns\[foo\]-policy\[u\]-rule\[0\]: unknown attribute request.unknown/);
    }
  });

  it("order: AUDIT, DENY, ALLOW filters; CUSTOM kept apart (it goes before jwt_authn)", () => {
    const f = build([policy("al", "rules: [{}]"), policy("de", "action: DENY\nrules: [{}]"), policy("au", "action: AUDIT\nrules: [{}]"), policy("cu", "action: CUSTOM\nprovider: {name: ext-authz-http}\nrules: [{}]")]);
    assert.deepEqual(f.local.http.map((x) => rbacOf(x).rules?.action ?? "ALLOW"), ["LOG", "DENY", "ALLOW"]);
    assert.deepEqual(f.custom.http.map((x) => x.name), ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz"]);
    assert.deepEqual(policyNames(rbacOf(f.custom.http[0]).shadowRules), ["istio-ext-authz-ext-authz-http-ns[foo]-policy[cu]-rule[0]"]);
    // An HTTP provider has no TCP form: CUSTOM is left off TCP chains, said.
    assert.deepEqual(f.custom.tcp, []);
    assert.match(f.custom.messages.join("\n"), /ignored CUSTOM action with HTTP provider on TCP filter chain for provider ext-authz-http/);
  });

  it("CUSTOM with an unknown provider, or a service not in the registry: deny rules, renamed", () => {
    const unknown = build([policy("cu", "action: CUSTOM\nprovider: {name: nope}\nrules: [{}]")]);
    assert.equal(unknown.custom.http.length, 1);
    const rules = rbacOf(unknown.custom.http[0]).rules!;
    assert.deepEqual([rules.action, policyNames(rules)], ["DENY", ["istio-ext-authz-nope-ns[foo]-policy[cu]-rule[0]-deny-due-to-bad-CUSTOM-action"]]);
    assert.match(unknown.custom.messages[0], /failed to process CUSTOM action for provider nope, will generate deny configs: available providers are \[ext-authz-http ext-authz-grpc\] but found "nope"/);
    const missing = build([policy("cu", "action: CUSTOM\nprovider: {name: ext-authz-grpc}\nrules: [{}]")], {
      extensionProviders: [{ ...GRPC_PROVIDER, kind: "envoyExtAuthzGrpc", envoyExtAuthzGrpc: { service: "gone.foo.svc.cluster.local", port: 9000, failOpen: false, statusOnError: "" } }],
    });
    assert.equal(rbacOf(missing.custom.tcp[0]).rules!.action, "DENY");
    assert.match(missing.custom.messages[0], /could not find service gone\.foo\.svc\.cluster\.local in Istio service registry/);
  });

  it("CUSTOM: two providers on one workload are refused (Istio's default), both denied", () => {
    const f = build([policy("a", "action: CUSTOM\nprovider: {name: ext-authz-http}\nrules: [{}]"), policy("b", "action: CUSTOM\nprovider: {name: ext-authz-grpc}\nrules: [{}]")]);
    assert.deepEqual(
      f.custom.http.map((x) => policyNames(rbacOf(x).rules)),
      [["istio-ext-authz-ext-authz-grpc-ns[foo]-policy[b]-rule[0]-deny-due-to-bad-CUSTOM-action"], ["istio-ext-authz-ext-authz-http-ns[foo]-policy[a]-rule[0]-deny-due-to-bad-CUSTOM-action"]],
    );
    assert.match(f.custom.messages[0], /multiple CUSTOM authorization providers per workload requires PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS/);
  });

  it("CUSTOM: a provider whose name or header lists Istio refuses is a bad provider (deny)", () => {
    const bad = (p: MeshConfig["extensionProviders"][number]) => build([policy("cu", `action: CUSTOM\nprovider: {name: ${p.name}}\nrules: [{}]`)], { extensionProviders: [p] });
    const upper = bad({ ...HTTP_PROVIDER, name: "Ext" } as MeshConfig["extensionProviders"][number]);
    assert.match(upper.custom.messages[0], /uppercase letters not allowed/);
    const http = (HTTP_PROVIDER as Extract<MeshConfig["extensionProviders"][number], { kind: "envoyExtAuthzHttp" }>).envoyExtAuthzHttp;
    const star = bad({ name: "star", kind: "envoyExtAuthzHttp", envoyExtAuthzHttp: { ...http, headersToUpstreamOnAllow: ["*"] } });
    assert.match(star.custom.messages[0], /a single wildcard \("\*"\) is not supported.*HeadersToUpstreamOnAllow/);
    assert.equal(rbacOf(star.custom.http[0]).rules!.action, "DENY");
  });

  it("no policy: no filter at all", () => {
    const f = build([policy("other", "selector: {matchLabels: {app: other}}\nrules: [{}]")]);
    assert.deepEqual([f.custom.http, f.local.http, f.custom.tcp, f.local.tcp], [[], [], [], []]);
  });
});
