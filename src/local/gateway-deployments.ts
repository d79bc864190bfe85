// Istio's automated deployment of Gateway API gateways, in local mode: istiod deploys a proxy
// (Deployment `NAME-CLASS`, labelled gateway.networking.k8s.io/gateway-name) for every Gateway of
// the `istio` class; `tsmesh up` runs a router workload for it instead, on an address it assigns,
// and the Istio Gateways converted from its listeners select that workload by the same label. The
// Gateway's spec.infrastructure.labels are the workload's labels too, as on istiod's pods.
import type { AnyResource, Resource } from "../api/resource.js";
import { ISTIO_CLASS } from "../model/gateway-api/conditions.js";
import { gatewayAddresses } from "../model/gateway-api/addresses.js";
import { classIsIstio, convertGateway, GATEWAY_NAME_LABEL, isManaged } from "../model/gateway-api/gateways.js";
import { registryServiceEntries } from "../registry/kube-service.js";
import { ReferenceGrants, serviceSelectorsOf, type ConversionContext } from "../model/gateway-api/references.js";

/** Labels istiod puts on a deployed gateway (pilot/pkg/config/kube/gateway deploymentcontroller). */
export const MANAGED_LABEL = "gateway.istio.io/managed";
const MANAGED_VALUE = "istio.io-gateway-controller";
const GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name";

export interface GatewayDeployment {
  /** `namespace/name` of the Gateway. */
  gateway: string;
  /** The router workload, as a WorkloadEntry (named as istiod names the Deployment: NAME-CLASS). */
  workloadEntry: Resource<"WorkloadEntry">;
  /** The Istio Gateways converted from its listeners (they select the workload). */
  gateways: Array<Resource<"Gateway">>;
}

function conversionContext(resources: readonly AnyResource[]): ConversionContext {
  const grants = resources.filter((r): r is Resource<"ReferenceGrant"> => r.kind === "ReferenceGrant");
  const namespaces = new Set(resources.map((r) => r.metadata.namespace));
  const serviceSelectors = serviceSelectorsOf(registryServiceEntries(resources));
  return { domainSuffix: "cluster.local", grants: new ReferenceGrants(grants), serviceHosts: new Set<string>(), namespaces, serviceSelectors };
}

/**
 * The Istio Gateways of manually deployed Gateways (a Hostname address) among `resources`: no
 * router is started for them; they select the workloads of the Service they name (the plan makes
 * those routers). `resources` must hold the ServiceEntries.
 */
export function manualGateways(resources: readonly AnyResource[]): Array<Resource<"Gateway">> {
  const classes = new Map(resources.filter((r): r is Resource<"GatewayClass"> => r.kind === "GatewayClass").map((c) => [c.metadata.name, c]));
  const ctx = conversionContext(resources);
  return resources
    .filter((r): r is Resource<"KubernetesGateway"> => r.kind === "KubernetesGateway" && classIsIstio(r.spec.gatewayClassName, classes) && !isManaged(r))
    .flatMap((gw) => convertGateway(ctx, gw).istioGateways);
}

/** The deployments for every Gateway of an Istio class among `resources`, on the addresses gatewayAddresses gives. */
export function gatewayDeployments(resources: readonly AnyResource[]): GatewayDeployment[] {
  const ctx = conversionContext(resources);
  return gatewayAddresses(resources).map(({ gateway: gw, address }) => {
    const name = `${gw.metadata.name}-${gw.spec.gatewayClassName || ISTIO_CLASS}`;
    const workloadEntry: Resource<"WorkloadEntry"> = {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: { name, namespace: gw.metadata.namespace },
      spec: {
        address,
        // As istiod's kube-gateway template labels the pods: spec.infrastructure.labels over the
        // canonical name, the gateway's own labels over both (policy selectors match them).
        labels: {
          "service.istio.io/canonical-name": name,
          ...gw.spec.infrastructure?.labels,
          [GATEWAY_NAME_LABEL]: gw.metadata.name,
          [GATEWAY_CLASS_LABEL]: gw.spec.gatewayClassName,
          [MANAGED_LABEL]: MANAGED_VALUE,
        },
        serviceAccount: name,
      },
    };
    return { gateway: `${gw.metadata.namespace}/${gw.metadata.name}`, workloadEntry, gateways: convertGateway(ctx, gw).istioGateways };
  });
}
