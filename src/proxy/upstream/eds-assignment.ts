// An EDS ClusterLoadAssignment checked before the proxy ACKs it (the ADS client's validation step).
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { hostsFromClusterLoadAssignment } from "./host.js";

/**
 * Checks an EDS ClusterLoadAssignment before it is ACKed, as Envoy's EDS cluster takes one: it is
 * for the cluster it was sent as (EdsClusterImpl: "Unexpected EDS cluster"), and every endpoint is
 * one the cluster can use — hostsFromClusterLoadAssignment with IP literals required (an EDS cluster
 * resolves no names: Envoy's "malformed IP address"): a socket address with an IPv4 or IPv6 literal
 * and a port in 1-65535, no pipe or internal address, load_balancing_weight ≥ 1 where set,
 * priority ≤ 128, weight sums within uint32, known health statuses and named endpoints, and none of
 * the fields tsmesh does not implement. A bad assignment is NACKed with its field path and every
 * cluster keeps its last good endpoints (applying it after the ACK could no longer fail half-way).
 */
export function validateAssignment(name: string, cla: v3.ClusterLoadAssignment): void {
  const at = `ClusterLoadAssignment ${name}: `;
  if (!cla.clusterName) throw new XdsConfigError(`${at}clusterName`, "a ClusterLoadAssignment needs a cluster_name");
  if (cla.clusterName !== name) throw new XdsConfigError(`${at}clusterName`, `Unexpected EDS cluster (expecting ${name}): ${cla.clusterName}`);
  try {
    hostsFromClusterLoadAssignment(cla, undefined, { requireIp: true });
  } catch (err) {
    throw err instanceof XdsConfigError ? err.within(at) : err;
  }
}
