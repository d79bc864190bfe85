// Istio's automated deployment of Gateway API gateways, in local mode: istiod deploys a proxy
// (Deployment `NAME-CLASS`, labelled gateway.networking.k8s.io/gateway-name) for every Gateway of
// the `istio` class; `tsmesh up` runs a router workload for it instead, on an address it assigns,
// and the Istio Gateways converted from its listeners select that workload by the same label.
import type { AnyResource, Resource } from "../api/resource.js";
import { ISTIO_CLASS } from "../model/gateway-api/conditions.js";
import { classIsIstio, convertGateway, GATEWAY_NAME_LABEL } from "../model/gateway-api/gateways.js";
import { ReferenceGrants } from "../model/gateway-api/references.js";

/** Labels istiod puts on a deployed gateway (pilot/pkg/config/kube/gateway deploymentcontroller). */
export const MANAGED_LABEL = "gateway.istio.io/managed";
const MANAGED_VALUE = "istio.io-gateway-controller";

export interface GatewayDeployment {
  /** `namespace/name` of the Gateway. */
  gateway: string;
  /** The router workload, as a WorkloadEntry (named as istiod names the Deployment: NAME-CLASS). */
  workloadEntry: Resource<"WorkloadEntry">;
  /** The Istio Gateways converted from its listeners (they select the workload). */
  gateways: Array<Resource<"Gateway">>;
}

const IPV4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A requested address up can honour: an IPAddress in 127.0.0.0/8. */
function requestedAddress(gw: Resource<"KubernetesGateway">): string | undefined {
  for (const a of gw.spec.addresses ?? []) if ((a.type ?? "IPAddress") === "IPAddress" && a.value && IPV4.test(a.value)) return a.value;
  return undefined;
}

/**
 * The deployments for every Gateway of an Istio class among `resources`. A Gateway gets the first
 * loopback address it requests in spec.addresses, else one up picks: 127.B.255.N, B being the second
 * octet of the mesh's first workload (so a mesh relocated to 127.B.x.y keeps its gateways there),
 * N counting up past the addresses already taken.
 */
export function gatewayDeployments(resources: readonly AnyResource[]): GatewayDeployment[] {
  const classes = new Map<string, Resource<"GatewayClass">>();
  const gateways: Array<Resource<"KubernetesGateway">> = [];
  const grants: Array<Resource<"ReferenceGrant">> = [];
  const taken = new Set<string>();
  for (const r of resources) {
    if (r.kind === "GatewayClass") classes.set(r.metadata.name, r);
    else if (r.kind === "KubernetesGateway") gateways.push(r);
    else if (r.kind === "ReferenceGrant") grants.push(r);
    else if (r.kind === "WorkloadEntry" && r.spec.address) taken.add(r.spec.address);
  }
  const ours = gateways
    .filter((g) => classIsIstio(g.spec.gatewayClassName, classes))
    .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const first = [...taken].sort()[0];
  const octet = first ? IPV4.exec(first)?.[1] ?? "0" : "0";
  for (const g of ours) {
    const a = requestedAddress(g);
    if (a) taken.add(a);
  }
  let next = 1;
  const ctx = { domainSuffix: "cluster.local", grants: new ReferenceGrants(grants), serviceHosts: new Set<string>() };
  return ours.map((gw) => {
    let address = requestedAddress(gw);
    if (!address) {
      while (taken.has(`127.${octet}.255.${next}`)) next++;
      address = `127.${octet}.255.${next++}`;
    }
    const name = `${gw.metadata.name}-${gw.spec.gatewayClassName || ISTIO_CLASS}`;
    const workloadEntry: Resource<"WorkloadEntry"> = {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: { name, namespace: gw.metadata.namespace },
      spec: {
        address,
        labels: { [GATEWAY_NAME_LABEL]: gw.metadata.name, [MANAGED_LABEL]: MANAGED_VALUE, "service.istio.io/canonical-name": name },
        serviceAccount: name,
      },
    };
    return { gateway: `${gw.metadata.namespace}/${gw.metadata.name}`, workloadEntry, gateways: convertGateway(ctx, gw).istioGateways };
  });
}
