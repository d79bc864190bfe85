// bench:proxy's policy configuration (issue 14): the HTTP filters the control plane generates for
// the mTLS pair's server side from Istio YAML — a RequestAuthentication (Istio's test issuer, keys
// inline) and an ALLOW AuthorizationPolicy requiring both the client's SPIFFE identity and the
// token's principal — by the same generators `tsmesh up` serves (jwt_authn, then rbac), as proto
// JSON for the static bootstrap; and the token every request carries.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Resource } from "../../src/api/resource.js";
import { validateText } from "../../src/api/validate.js";
import { packageRoot } from "../../src/core/paths.js";
import { toProtoJson } from "../../src/envoy/proto-json.js";
import { parseProxy, proxyNodeId } from "../../src/model/proxy.js";
import { PushContext, pushInputFrom } from "../../src/model/push-context.js";
import { policyFilters } from "../../src/xds/gen/policy-filters.js";
import { MTLS_SERVER_IP } from "./settings.js";

const JWT = join(packageRoot(), "test", "fixtures", "jwt");

/** Istio's demo.jwt (issuer and subject testing@secure.istio.io), as the load's Authorization. */
export const POLICY_TOKEN = readFileSync(join(JWT, "demo.jwt"), "utf8").trim();

function policyYaml(): string {
  const jwks = readFileSync(join(JWT, "jwks.json"), "utf8").trim();
  return `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: bench}
spec:
  selector: {matchLabels: {app: server}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: '${jwks}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server, namespace: bench}
spec:
  selector: {matchLabels: {app: server}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bench/sa/client"]
        requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
    to:
    - operation:
        methods: ["GET"]
        paths: ["/*"]
`;
}

/** The server side's policy HTTP filters (before the router), as proto JSON. */
export function serverPolicyFiltersJson(): unknown[] {
  const docs = validateText(policyYaml(), "bench-policy.yaml");
  const bad = docs.filter((d) => !d.valid);
  if (bad.length) throw new Error(`bench policy YAML is invalid: ${JSON.stringify(bad.map((d) => d.diagnostics))}`);
  const push = new PushContext(pushInputFrom(docs.map((d) => d.resource as Resource)));
  const proxy = parseProxy({ id: proxyNodeId("sidecar", MTLS_SERVER_IP, "server", "bench"), metadata: { NAMESPACE: "bench", LABELS: { app: "server" } } });
  const { http } = policyFilters(proxy, push);
  if (http.length !== 2) throw new Error(`expected jwt_authn and rbac, got ${http.map((f) => f.name).join(", ")}`);
  return http.map((f) => toProtoJson("envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", f as never));
}
