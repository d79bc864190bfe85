// The address each Gateway API gateway of an Istio class gets in local mode (`tsmesh up` runs its
// router there; its status reports it): the first loopback IPAddress the Gateway requests, else
// 127.B.255.N, B being the second octet of the mesh's first workload (a mesh relocated to 127.B.x.y
// keeps its gateways there), N counting up past the addresses already taken, in creation order.
import type { AnyResource, Resource } from "../../api/resource.js";
import { classIsIstio, isManaged } from "./gateways.js";

const LOOPBACK = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A requested address up can honour: an IPAddress (the default type) in 127.0.0.0/8. */
export function requestedAddress(gw: Resource<"KubernetesGateway">): string | undefined {
  for (const a of gw.spec.addresses ?? []) if ((a.type ?? "IPAddress") === "IPAddress" && a.value && LOOPBACK.test(a.value)) return a.value;
  return undefined;
}

/** The Istio-class Gateways among `resources` that get a deployment (not a manual one), oldest first, each with its address. */
export function gatewayAddresses(resources: readonly AnyResource[]): Array<{ gateway: Resource<"KubernetesGateway">; address: string }> {
  const classes = new Map<string, Resource<"GatewayClass">>();
  const gateways: Array<Resource<"KubernetesGateway">> = [];
  const taken = new Set<string>();
  for (const r of resources) {
    if (r.kind === "GatewayClass") classes.set(r.metadata.name, r);
    else if (r.kind === "KubernetesGateway") gateways.push(r);
    else if (r.kind === "WorkloadEntry" && r.spec.address) taken.add(r.spec.address);
  }
  // Oldest first (files' copies, which have no creationTimestamp, before applied ones), then by
  // namespace/name: a Gateway applied later takes the next address instead of moving running ones.
  const ours = gateways
    .filter((g) => classIsIstio(g.spec.gatewayClassName, classes) && isManaged(g))
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
  const first = [...taken].sort()[0];
  const octet = (first && LOOPBACK.exec(first)?.[1]) ?? "0";
  for (const g of ours) {
    const a = requestedAddress(g);
    if (a) taken.add(a);
  }
  let next = 1;
  return ours.map((gateway) => {
    let address = requestedAddress(gateway);
    if (!address) {
      while (taken.has(`127.${octet}.255.${next}`)) next++;
      address = `127.${octet}.255.${next++}`;
    }
    return { gateway, address };
  });
}
