// istiod's SecretGen rules as tables: resource names, who may read which secret (gateways, sidecars
// through a DestinationRule's credentialName, CA halves, other namespaces refused), the exact
// Secret resources (inline bytes, through a protobuf round trip), and the generator's push
// skipping: a credential change reaches only the Secret watchers of that credential.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Credential, credentialKey } from "../../../src/config/credential-files.js";
import { IstioGenerator, SECRET_KIND, type ConnectedProxy } from "../../../src/controlplane/generator.js";
import { decodeMessage, encodeMessage, CLUSTER_TYPE, LISTENER_TYPE, SECRET_TYPE } from "../../../src/envoy/protos.js";
import { proxyNodeId } from "../../../src/model/proxy.js";
import { buildSecret, parseSecretResourceName, redactedSecret, secretDenial, type CredentialSource, type SecretReference } from "../../../src/xds/gen/secrets.js";
import type { PushRequest, WatchedResource } from "../../../src/xds/server/types.js";
import { tlsFixture } from "../../helpers/tls-fixtures.js";
import { assertRoundTrip, pushContext, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const fixture = tlsFixture;
const CRT = fixture("server.crt");
const KEY = fixture("server.key");
const CA = fixture("ca.crt");
const OTHER_CA = fixture("client-ca.crt");

class Credentials implements CredentialSource {
  readonly m = new Map<string, Credential>();
  add(ns: string, name: string, parts: { crt?: Buffer; key?: Buffer; ca?: Buffer }, version = "v1"): Credential {
    const c = new Credential(ns, name, parts.crt, parts.key, parts.ca, version, []);
    this.m.set(credentialKey(ns, name), c);
    return c;
  }
  get(ns: string, name: string): Credential | undefined {
    return this.m.get(credentialKey(ns, name));
  }
}

const ref = (name: string, ns: string): SecretReference => {
  const r = parseSecretResourceName(name, ns);
  if ("error" in r) throw new Error(r.error);
  return r;
};

test("secret resource names: Istio's kubernetes:// forms; everything else refused", () => {
  const rows: Array<[string, SecretReference | RegExp]> = [
    ["kubernetes://httpbin-credential", { resourceName: "kubernetes://httpbin-credential", namespace: "istio-system", name: "httpbin-credential", caOnly: false }],
    ["kubernetes://httpbin-credential-cacert", { resourceName: "kubernetes://httpbin-credential-cacert", namespace: "istio-system", name: "httpbin-credential-cacert", caOnly: true }],
    ["kubernetes://bookinfo/x", { resourceName: "kubernetes://bookinfo/x", namespace: "bookinfo", name: "x", caOnly: false }],
    ["default", /unknown secret resource "default"/],
    ["ROOTCA", /unknown secret resource/],
    ["httpbin-credential", /kubernetes:\/\/NAME credentials only/],
    ["kubernetes-gateway://istio-system/x", /unknown secret resource/],
    ["file:///etc/passwd", /unknown secret resource/],
    ["kubernetes://", /invalid secret resource/],
    ["kubernetes://a/b/c", /invalid secret resource/],
    ["kubernetes:///x", /invalid secret resource/],
  ];
  for (const [name, want] of rows) {
    const got = parseSecretResourceName(name, "istio-system");
    if (want instanceof RegExp) assert.match("error" in got ? got.error : "(parsed)", want, name);
    else assert.deepEqual(got, want, name);
  }
});

const DRS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mtls-upstream, namespace: default}
spec:
  host: secure.example.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: MUTUAL, credentialName: client-credential}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: everywhere, namespace: shared}
spec:
  host: api.example.com
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: MUTUAL, credentialName: shared-credential}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: private, namespace: shared}
spec:
  host: private.example.com
  exportTo: ["."]
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: private-credential}
`;

test("who may read which secret (Istio's SecretGen rules, local mode's grants)", () => {
  const push = pushContext(resourcesFromYaml(DRS));
  const gateway = testProxy({ type: "router", ip: "127.0.9.1", name: "istio-ingressgateway", namespace: "istio-system" });
  const sidecar = testProxy({ ip: "127.0.9.2", name: "app", namespace: "default" });
  const rows: Array<[string, ReturnType<typeof testProxy>, string, RegExp | undefined]> = [
    ["gateway, own namespace, certificate and key", gateway, "kubernetes://httpbin-credential", undefined],
    ["gateway, own namespace, CA", gateway, "kubernetes://httpbin-credential-cacert", undefined],
    ["gateway, explicit own namespace", gateway, "kubernetes://istio-system/httpbin-credential", undefined],
    ["gateway, another namespace", gateway, "kubernetes://default/client-credential", /in namespace default, the proxy in istio-system/],
    ["sidecar, a DestinationRule in its namespace names it", sidecar, "kubernetes://client-credential", undefined],
    ["sidecar, a DestinationRule exported from another namespace names it", sidecar, "kubernetes://shared-credential", undefined],
    ["sidecar, only a rule not exported to it names it", sidecar, "kubernetes://private-credential", /sidecars read a certificate and key only when a DestinationRule/],
    ["sidecar, no rule names it", sidecar, "kubernetes://httpbin-credential", /sidecars read a certificate and key only/],
    ["sidecar, a CA half in its namespace", sidecar, "kubernetes://anything-cacert", undefined],
    ["sidecar, the gateway's secret by explicit namespace", sidecar, "kubernetes://istio-system/httpbin-credential", /in namespace istio-system, the proxy in default/],
    ["sidecar, a CA half in another namespace", sidecar, "kubernetes://istio-system/httpbin-credential-cacert", /in namespace istio-system/],
  ];
  for (const [what, proxy, name, want] of rows) {
    const denied = secretDenial(proxy, ref(name, proxy.namespace), push);
    if (want) assert.match(denied ?? "(allowed)", want, what);
    else assert.equal(denied, undefined, what);
  }
});

test("the Secret resources: tls_certificate and validation_context with inline bytes, exactly", () => {
  const creds = new Credentials();
  creds.add("istio-system", "gw", { crt: CRT, key: KEY, ca: CA });
  creds.add("istio-system", "split", { crt: CRT, key: KEY, ca: CA });
  creds.add("istio-system", "split-cacert", { ca: OTHER_CA });
  creds.add("istio-system", "ca-only", { ca: CA });
  creds.add("istio-system", "no-ca", { crt: CRT, key: KEY });
  const build = (name: string) => buildSecret(ref(name, "istio-system"), creds);

  const tls = build("kubernetes://gw");
  assert.deepEqual(tls, { secret: { name: "kubernetes://gw", tlsCertificate: { certificateChain: { inlineBytes: CRT }, privateKey: { inlineBytes: KEY } } } });
  const ca = build("kubernetes://gw-cacert");
  assert.deepEqual(ca, { secret: { name: "kubernetes://gw-cacert", validationContext: { trustedCa: { inlineBytes: CA } } } });
  // A credential named NAME-cacert wins over NAME's own CA (Istio's GetCaCert).
  assert.deepEqual(build("kubernetes://split-cacert"), { secret: { name: "kubernetes://split-cacert", validationContext: { trustedCa: { inlineBytes: OTHER_CA } } } });
  assert.deepEqual(build("kubernetes://ca-only-cacert"), { secret: { name: "kubernetes://ca-only-cacert", validationContext: { trustedCa: { inlineBytes: CA } } } });
  // A CA-only credential named as it is (a Gateway's caCertCredentialName, which Istio uses without the -cacert suffix).
  assert.deepEqual(build("kubernetes://ca-only"), { secret: { name: "kubernetes://ca-only", validationContext: { trustedCa: { inlineBytes: CA } } } });
  assert.deepEqual(build("kubernetes://no-ca-cacert"), { error: "credential istio-system/no-ca has no CA certificate (ca.crt, cacert or NAME.ca.crt)" });
  assert.deepEqual(build("kubernetes://missing"), { error: "no credential istio-system/missing" });
  assert.deepEqual(build("kubernetes://missing-cacert"), { error: "no credential istio-system/missing-cacert or istio-system/missing" });

  for (const r of [tls, ca]) {
    assert.ok("secret" in r);
    assertRoundTrip(SECRET_TYPE, r.secret, r.secret.name ?? "");
    // The wire form carries the PEM bytes unchanged.
    const back = decodeMessage(SECRET_TYPE, encodeMessage(SECRET_TYPE, r.secret)) as { tlsCertificate?: { privateKey?: { inlineBytes?: Uint8Array } } };
    if (back.tlsCertificate) assert.equal(Buffer.from(back.tlsCertificate.privateKey!.inlineBytes!).toString(), KEY.toString());
  }
  // One object per credential and name, shared by every proxy that reads it.
  assert.equal((build("kubernetes://gw") as { secret: object }).secret, (tls as { secret: object }).secret);

  // The debug form: the certificate (base64, as Envoy's JSON), the key redacted.
  const shown = JSON.stringify(redactedSecret((tls as { secret: Parameters<typeof redactedSecret>[0] }).secret));
  assert.ok(!shown.includes(KEY.toString("base64").slice(0, 40)) && !shown.includes("PRIVATE KEY"), shown);
  assert.deepEqual(JSON.parse(shown), { name: "kubernetes://gw", tlsCertificate: { certificateChain: { inlineBytes: CRT.toString("base64") }, privateKey: { inlineString: "[redacted]" } } });
});

function connect(gen: IstioGenerator, type: "sidecar" | "router", ip: string, name: string, ns: string): ConnectedProxy {
  return gen.connect({ id: proxyNodeId(type, ip, name, ns), metadata: { NAMESPACE: ns, INTERCEPTION_MODE: "NONE" } }, "test");
}

const watch = (...names: string[]): WatchedResource => ({ typeUrl: SECRET_TYPE, wildcard: false, names: new Set(names) });

test("the generator serves a proxy only the secrets it may read; a refusal is reported once per proxy and name", () => {
  const gen = new IstioGenerator();
  const creds = new Credentials();
  creds.add("istio-system", "gw", { crt: CRT, key: KEY, ca: CA });
  creds.add("default", "gw", { crt: CRT, key: KEY, ca: CA });
  gen.credentials = creds;
  const problems: string[] = [];
  gen.onSecretError = (m) => problems.push(m);
  const push = pushContext([]);
  const request: PushRequest = { full: true, reasons: ["proxyrequest"], start: 0, context: push };
  const gateway = connect(gen, "router", "127.0.9.1", "istio-ingressgateway", "istio-system");
  const sidecar = connect(gen, "sidecar", "127.0.9.2", "app", "default");

  const names = (r: ReturnType<IstioGenerator["generate"]>) => r?.resources.map((x) => x.name).sort();
  assert.deepEqual(names(gen.generate(gateway, SECRET_TYPE, watch("kubernetes://gw", "kubernetes://gw-cacert", "kubernetes://nope"), request)), ["kubernetes://gw", "kubernetes://gw-cacert"]);
  assert.deepEqual(problems, [`proxy ${gateway.proxy.id} asked for secret kubernetes://nope: no credential istio-system/nope`]);

  // A sidecar in another namespace asking for the gateway's credential gets nothing; nor does it
  // get its own namespace's certificate and key without a DestinationRule naming them.
  problems.length = 0;
  for (let i = 0; i < 2; i++) {
    const got = gen.generate(sidecar, SECRET_TYPE, watch("kubernetes://istio-system/gw", "kubernetes://gw", "kubernetes://gw-cacert"), request);
    assert.deepEqual(names(got), ["kubernetes://gw-cacert"]);
  }
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /kubernetes:\/\/istio-system\/gw: refused: the secret is in namespace istio-system, the proxy in default/);
  assert.match(problems[1], /kubernetes:\/\/gw: refused: sidecars read a certificate and key only when a DestinationRule/);
  // A wildcard watch lists no secret.
  assert.deepEqual(names(gen.generate(gateway, SECRET_TYPE, { typeUrl: SECRET_TYPE, wildcard: true, names: new Set() }, request)), []);
});

test("push skipping: a credential change reaches only the Secret type, only for proxies watching that credential", () => {
  const gen = new IstioGenerator();
  const gateway = connect(gen, "router", "127.0.9.1", "istio-ingressgateway", "istio-system");
  const sidecar = connect(gen, "sidecar", "127.0.9.2", "app", "default");
  const secretPush = (...keys: string[]): PushRequest => ({
    full: true,
    configKinds: new Set([SECRET_KIND]),
    configsUpdated: new Set(keys.map((k) => `${SECRET_KIND}/${k}`)),
    reasons: ["secret"],
    start: 0,
    context: undefined,
  });
  const rows: Array<[string, ConnectedProxy, string, PushRequest, WatchedResource, boolean]> = [
    ["the changed credential", gateway, SECRET_TYPE, secretPush("istio-system/gw"), watch("kubernetes://gw"), true],
    ["its CA half watched", gateway, SECRET_TYPE, secretPush("istio-system/gw"), watch("kubernetes://gw-cacert"), true],
    ["a separate NAME-cacert credential changed, NAME watched", gateway, SECRET_TYPE, secretPush("istio-system/gw-cacert"), watch("kubernetes://gw"), true],
    ["another credential", gateway, SECRET_TYPE, secretPush("istio-system/other"), watch("kubernetes://gw"), false],
    ["same name, another namespace", sidecar, SECRET_TYPE, secretPush("istio-system/gw"), watch("kubernetes://gw"), false],
    ["explicit namespace in the name", sidecar, SECRET_TYPE, secretPush("istio-system/gw"), watch("kubernetes://istio-system/gw"), true],
    ["changed keys unknown", gateway, SECRET_TYPE, { ...secretPush(), configsUpdated: undefined }, watch("kubernetes://gw"), true],
    ["clusters never read credentials", gateway, CLUSTER_TYPE, secretPush("istio-system/gw"), watch(), false],
    ["listeners never read credentials", gateway, LISTENER_TYPE, secretPush("istio-system/gw"), watch(), false],
    ["a DestinationRule change may grant a sidecar a credential", sidecar, SECRET_TYPE, { full: true, configKinds: new Set(["DestinationRule"]), reasons: ["config"], start: 0, context: undefined }, watch("kubernetes://gw"), true],
    ["but never changes what a gateway may read", gateway, SECRET_TYPE, { full: true, configKinds: new Set(["DestinationRule"]), reasons: ["config"], start: 0, context: undefined }, watch("kubernetes://gw"), false],
    ["a VirtualService change", gateway, SECRET_TYPE, { full: true, configKinds: new Set(["VirtualService"]), reasons: ["config"], start: 0, context: undefined }, watch("kubernetes://gw"), false],
    ["an unknown change", gateway, SECRET_TYPE, { full: true, reasons: ["global"], start: 0, context: undefined }, watch("kubernetes://gw"), true],
  ];
  for (const [what, cp, type, req, w, want] of rows) assert.equal(gen.needsPush(cp, type, req, w), want, what);
});
