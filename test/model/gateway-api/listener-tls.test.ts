// A Gateway listener's TLS and the Gateway's own conditions, as istiod's buildTLS and
// reportGatewayStatus give them: a table of listener TLS settings (certificateRefs, the options
// istiod reads, frontend client validation) and the server TLS or the listener condition each
// yields, the Gateway-level Accepted / ResolvedRefs / InsecureFrontendValidationMode, and a
// manually deployed Gateway (a Hostname address) bound to its Service's workloads.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateText } from "../../../src/api/validate.js";
import { conversionProblems, convertGatewayApi } from "../../../src/model/gateway-api/convert.js";
import { gatewayStatus } from "../../../src/model/gateway-api/status.js";

const gateway = (listener: string, spec = "") => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
${spec}  listeners:
  - ${listener}
`;

const GRANT = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]
  to: [{group: "", kind: Secret}]
`;

function convert(...docs: string[]) {
  return convertGatewayApi(
    validateText(docs.join("---\n"), "t.yaml").map((d) => {
      assert.ok(d.resource, JSON.stringify(d.diagnostics));
      return d.resource;
    }),
  );
}

const listenerOf = (protocol: string) => `name: l\n    port: 443\n    protocol: ${protocol}\n    hostname: a.example.com\n    tls:`;
const MODE = "gateway.istio.io/tls-terminate-mode";
const CIPHERS = "gateway.istio.io/tls-cipher-suites";

describe("listener TLS → the Istio server's TLS (istiod's buildTLS)", () => {
  const cases: Array<{ name: string; tls: string; protocol?: string; spec?: string; grant?: boolean; want: Record<string, unknown> | { reason: string; accepted?: string } }> = [
    { name: "one Secret: SIMPLE with its credentialName", tls: "{certificateRefs: [{name: c}]}", want: { mode: "SIMPLE", credentialName: "c" } },
    { name: "two Secrets (RSA beside ECDSA): credentialNames", tls: "{certificateRefs: [{name: rsa}, {name: ec}]}", want: { mode: "SIMPLE", credentialNames: ["rsa", "ec"] } },
    { name: "three Secrets: refused", tls: "{certificateRefs: [{name: a}, {name: b}, {name: c}]}", want: { reason: "InvalidCertificateRef" } },
    { name: "one good reference of two is enough", tls: "{certificateRefs: [{name: a, namespace: certs}, {name: b}]}", want: { mode: "SIMPLE", credentialName: "b" } },
    { name: "a ReferenceGrant lets a Secret in another namespace in", tls: "{certificateRefs: [{name: a, namespace: certs}]}", grant: true, want: { mode: "SIMPLE", credentialName: "certs/a" } },
    { name: "terminate-mode MUTUAL: the CA is the credential's -cacert", tls: `{certificateRefs: [{name: c}], options: {${MODE}: MUTUAL}}`, want: { mode: "MUTUAL", credentialName: "c" } },
    { name: "terminate-mode OPTIONAL_MUTUAL", tls: `{certificateRefs: [{name: c}], options: {${MODE}: OPTIONAL_MUTUAL}}`, want: { mode: "OPTIONAL_MUTUAL", credentialName: "c" } },
    { name: "terminate-mode ISTIO_SIMPLE: the workload's own certificate", tls: `{options: {${MODE}: ISTIO_SIMPLE}}`, want: { mode: "SIMPLE", credentialName: "builtin://" } },
    { name: "terminate-mode ISTIO_MUTUAL: the mesh's certificates", tls: `{options: {${MODE}: ISTIO_MUTUAL}}`, want: { mode: "ISTIO_MUTUAL" } },
    { name: "an unknown terminate mode is ignored (as istiod)", tls: `{certificateRefs: [{name: c}], options: {${MODE}: FOO}}`, want: { mode: "SIMPLE", credentialName: "c" } },
    {
      name: "cipher suites: trimmed, deduplicated, unknown ones dropped (Istio's FilterCipherSuites)",
      tls: `{certificateRefs: [{name: c}], options: {${CIPHERS}: "ECDHE-RSA-AES128-GCM-SHA256, NOPE,ECDHE-RSA-AES128-GCM-SHA256,AES256-SHA"}}`,
      want: { mode: "SIMPLE", credentialName: "c", cipherSuites: ["ECDHE-RSA-AES128-GCM-SHA256", "AES256-SHA"] },
    },
    { name: "Passthrough keeps cipher suites too", protocol: "TLS", tls: `{mode: Passthrough, options: {${CIPHERS}: AES128-SHA}}`, want: { mode: "PASSTHROUGH", cipherSuites: ["AES128-SHA"] } },
    {
      name: "frontend validation with a CA Secret: MUTUAL, the CA credential NAME-cacert",
      tls: "{certificateRefs: [{name: c}]}",
      spec: '  tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: Secret, name: client-ca}]}}}}\n',
      want: { mode: "MUTUAL", credentialName: "c", insecureSkipVerify: false, caCertCredentialName: "client-ca-cacert" },
    },
    {
      name: "AllowInsecureFallback: OPTIONAL_MUTUAL, insecureSkipVerify",
      tls: "{certificateRefs: [{name: c}]}",
      spec: '  tls: {frontend: {default: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{group: "", kind: Secret, name: ca}]}}}}\n',
      want: { mode: "OPTIONAL_MUTUAL", credentialName: "c", insecureSkipVerify: true, caCertCredentialName: "ca-cacert" },
    },
    {
      name: "a port's own frontend settings win over the default; an explicit terminate mode over the fallback",
      tls: `{certificateRefs: [{name: c}], options: {${MODE}: MUTUAL}}`,
      spec:
        '  tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: Secret, name: other}]}}, perPort: [{port: 443, tls: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{group: "", kind: Secret, name: ca, namespace: certs}]}}}]}}\n',
      grant: true,
      want: { mode: "MUTUAL", credentialName: "c", insecureSkipVerify: false, caCertCredentialName: "certs/ca-cacert" },
    },
    {
      name: "a CA in another namespace without a ReferenceGrant: not accepted",
      tls: "{certificateRefs: [{name: c}]}",
      spec: '  tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: Secret, name: ca, namespace: certs}]}}}}\n',
      want: { reason: "RefNotPermitted", accepted: "NoValidCACertificate" },
    },
    {
      name: "a CA ConfigMap (tsmesh reads Secrets only): not accepted",
      tls: "{certificateRefs: [{name: c}]}",
      spec: '  tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]}}}}\n',
      want: { reason: "InvalidCACertificateRef", accepted: "NoValidCACertificate" },
    },
    {
      name: "a CA of another kind",
      tls: "{certificateRefs: [{name: c}]}",
      spec: "  tls: {frontend: {default: {validation: {caCertificateRefs: [{group: x.io, kind: Bundle, name: ca}]}}}}\n",
      want: { reason: "InvalidCACertificateKind", accepted: "NoValidCACertificate" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const conv = convert(gateway(`${listenerOf(c.protocol ?? "HTTPS")} ${c.tls}`, c.spec), ...(c.grant ? [GRANT] : []));
      const l = conv.converted.get("infra/gw")!.listeners[0];
      const byType = Object.fromEntries(l.conditions.map((x) => [x.type, x]));
      if ("reason" in c.want) {
        assert.equal(l.server, undefined, "not programmed");
        assert.equal(byType.ResolvedRefs.reason, c.want.reason, byType.ResolvedRefs.message);
        assert.equal(byType.Programmed.status, "False");
        assert.equal(byType.Accepted.reason, c.want.accepted ?? "Accepted");
      } else {
        assert.deepEqual(l.server?.tls, c.want);
        assert.equal(byType.ResolvedRefs.status, "True");
      }
    });
  }
});

describe("the Gateway's own conditions (istiod's reportGatewayStatus)", () => {
  const conditions = (yaml: string) => {
    const conv = convert(yaml);
    const s = gatewayStatus(conv, { metadata: { name: "gw", namespace: "infra" } }, "127.0.255.1") as { conditions: Array<{ type: string; status: string; reason: string }> };
    return s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  };
  const HTTP = "{name: http, port: 80, protocol: HTTP}";

  it("all listeners valid: Accepted, Programmed, ResolvedRefs", () => {
    assert.deepEqual(conditions(gateway(HTTP)), ["Accepted=True/Accepted", "Programmed=True/Programmed", "ResolvedRefs=True/ResolvedRefs"]);
  });

  it("some listeners invalid: Accepted with ListenersNotValid; none valid: not Accepted", () => {
    const some = gateway(`${HTTP}\n  - {name: udp, port: 53, protocol: UDP}`);
    assert.deepEqual(conditions(some), ["Accepted=True/ListenersNotValid", "Programmed=False/Invalid", "ResolvedRefs=True/ResolvedRefs"]);
    assert.deepEqual(conditions(gateway("{name: udp, port: 53, protocol: UDP}")).slice(0, 1), ["Accepted=False/ListenersNotValid"]);
  });

  it("a parametersRef to anything but a ConfigMap: not Accepted (InvalidParameters)", () => {
    const bad = gateway(HTTP, "  infrastructure: {parametersRef: {group: x.io, kind: Params, name: p}}\n");
    assert.deepEqual(conditions(bad).slice(0, 1), ["Accepted=False/InvalidParameters"]);
    // …and the control plane's console says so.
    assert.deepEqual(conversionProblems(convert(bad)), ["Gateway.gateway.networking.k8s.io infra/gw: Accepted InvalidParameters: Unsupported parametersRef group/kind x.io/Params, only ConfigMap is supported"]);
    const cm = gateway(HTTP, '  infrastructure: {parametersRef: {group: "", kind: ConfigMap, name: p}}\n');
    assert.deepEqual(conditions(cm).slice(0, 1), ["Accepted=True/Accepted"]);
  });

  it("a backend client certificate that is not a Secret, or in another namespace without a grant: ResolvedRefs=False", () => {
    const kind = gateway(HTTP, "  tls: {backend: {clientCertificateRef: {group: x.io, kind: Cert, name: c}}}\n");
    assert.deepEqual(conditions(kind).slice(2), ["ResolvedRefs=False/InvalidClientCertificateRef"]);
    const ns = gateway(HTTP, "  tls: {backend: {clientCertificateRef: {name: c, namespace: certs}}}\n");
    assert.deepEqual(conditions(ns).slice(2), ["ResolvedRefs=False/RefNotPermitted"]);
    assert.deepEqual(conditions(gateway(HTTP, "  tls: {backend: {clientCertificateRef: {name: c}}}\n")).slice(2), ["ResolvedRefs=True/ResolvedRefs"]);
  });

  it("AllowInsecureFallback anywhere: InsecureFrontendValidationMode", () => {
    const spec = '  tls: {frontend: {default: {validation: {caCertificateRefs: [{group: "", kind: Secret, name: ca}]}}, perPort: [{port: 443, tls: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{group: "", kind: Secret, name: ca}]}}}]}}\n';
    assert.deepEqual(conditions(gateway(HTTP, spec)).slice(3), ["InsecureFrontendValidationMode=True/ConfigurationChanged"]);
  });
});

describe("manual deployment: a Hostname address names the gateway Service to run on (istiod's IsManaged)", () => {
  const INGRESS = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  hosts: [istio-ingressgateway.istio-system.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {istio: ingressgateway}}
`;
  const manual = (addresses: string) => gateway("{name: http, port: 8080, protocol: HTTP}", `  addresses: ${addresses}\n`);
  const status = (...docs: string[]) =>
    gatewayStatus(convert(...docs), { metadata: { name: "gw", namespace: "infra" } }, undefined) as { addresses?: unknown; conditions: Array<{ type: string; status: string; reason: string; message: string }> };

  it("the Istio Gateways select the Service's workloads; status names the Service", () => {
    const conv = convert(manual("[{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}]"), INGRESS);
    assert.deepEqual(conv.gateways[0].spec.selector, { istio: "ingressgateway" });
    const s = status(manual("[{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}]"), INGRESS);
    assert.deepEqual(s.addresses, [{ type: "Hostname", value: "istio-ingressgateway.istio-system.svc.cluster.local" }]);
    assert.deepEqual(
      s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ["Accepted=True/Accepted", "Programmed=True/Programmed", "ResolvedRefs=True/ResolvedRefs"],
    );
    assert.equal(s.conditions[1].message, "Resource programmed, assigned to service(s) istio-ingressgateway.istio-system.svc.cluster.local:8080");
  });

  it("a short name is a Service in the Gateway's namespace; IPs beside it are ignored (UnsupportedAddress); no such Service: not programmed", () => {
    const s = status(manual("[{type: Hostname, value: ingress}, {value: 127.0.0.7}]"), INGRESS);
    assert.equal(s.addresses, undefined);
    assert.deepEqual(
      s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ["Accepted=False/UnsupportedAddress", "Programmed=False/AddressNotAssigned", "ResolvedRefs=True/ResolvedRefs"],
    );
    assert.match(s.conditions[1].message, /ingress\.infra\.svc\.cluster\.local/);
    // Selecting no workload, the generated Gateway has no selector (it applies to none), and the console says so.
    const alone = convert(manual("[{type: Hostname, value: ingress}]"));
    assert.equal(alone.gateways[0].spec.selector, undefined);
    assert.deepEqual(conversionProblems(alone), [
      "Gateway.gateway.networking.k8s.io infra/gw: no workload serves it: no ServiceEntry with a workloadSelector has host ingress.infra.svc.cluster.local (manual deployment)",
    ]);
  });
});
