// Istio facts tsmesh announces as Istio does. The Istio release whose APIs and generated config tsmesh follows. tsmesh's proxy announces it as
// node metadata ISTIO_VERSION (as istio-proxy announces its own release), so EnvoyFilter
// `match.proxy.proxyVersion` regexes written for Istio (`^1\.31.*`) select tsmesh proxies the way
// they select istio-proxy of that release. istio/istio master of 2026-08 (compatibility profiles up
// to 1.30) is 1.31 in development.
export const ISTIO_COMPATIBLE_VERSION = "1.31.0";

/** The cluster id istiod reports for its own registry and the agent announces when given none (features.ClusterName's default). */
export const DEFAULT_CLUSTER_ID = "Kubernetes";
