// Short names for the Envoy types tsmesh uses most, from the generated gen/types.ts (whose
// namespaces mirror the proto packages: envoy.config.cluster.v3.Cluster…). Type-only: importing
// this module loads nothing at run time. Names are Envoy's own; where two packages share a message
// name, the short name says which (UpstreamHttpProtocolOptions is core.v3's, HttpProtocolOptions
// the upstreams.http.v3 extension Istio sets on clusters).
import type { envoy, google } from "./gen/types.js";

export type { AnyOf, KnownAny, Messages, RawAny, TypeUrl, envoy, google, udpa, xds } from "./gen/types.js";

// ---- well-known types ----
export type Any = google.protobuf.Any;
export type Duration = google.protobuf.Duration;
export type Struct = google.protobuf.Struct;
export type Value = google.protobuf.Value;
export type BoolValue = google.protobuf.BoolValue;
export type UInt32Value = google.protobuf.UInt32Value;
export type StringValue = google.protobuf.StringValue;

// ---- xDS resources ----
export type Listener = envoy.config.listener.v3.Listener;
export type RouteConfiguration = envoy.config.route.v3.RouteConfiguration;
export type Cluster = envoy.config.cluster.v3.Cluster;
export type ClusterLoadAssignment = envoy.config.endpoint.v3.ClusterLoadAssignment;
export type Secret = envoy.extensions.transport_sockets.tls.v3.Secret;

// ---- discovery ----
export type DiscoveryRequest = envoy.service.discovery.v3.DiscoveryRequest;
export type DiscoveryResponse = envoy.service.discovery.v3.DiscoveryResponse;
export type DeltaDiscoveryRequest = envoy.service.discovery.v3.DeltaDiscoveryRequest;
export type DeltaDiscoveryResponse = envoy.service.discovery.v3.DeltaDiscoveryResponse;
export type Bootstrap = envoy.config.bootstrap.v3.Bootstrap;

// ---- core ----
export type Node = envoy.config.core.v3.Node;
export type Address = envoy.config.core.v3.Address;
export type SocketAddress = envoy.config.core.v3.SocketAddress;
export type Metadata = envoy.config.core.v3.Metadata;
export type Locality = envoy.config.core.v3.Locality;
export type ConfigSource = envoy.config.core.v3.ConfigSource;
export type TransportSocket = envoy.config.core.v3.TransportSocket;
export type TypedExtensionConfig = envoy.config.core.v3.TypedExtensionConfig;
export type HeaderValueOption = envoy.config.core.v3.HeaderValueOption;
export type DataSource = envoy.config.core.v3.DataSource;
export type UpstreamHttpProtocolOptions = envoy.config.core.v3.UpstreamHttpProtocolOptions;
export type Http1ProtocolOptions = envoy.config.core.v3.Http1ProtocolOptions;
export type Http2ProtocolOptions = envoy.config.core.v3.Http2ProtocolOptions;
export type CommonHttpProtocolOptions = envoy.config.core.v3.HttpProtocolOptions;
export type RuntimeFractionalPercent = envoy.config.core.v3.RuntimeFractionalPercent;
export type FractionalPercent = envoy.type.v3.FractionalPercent;
export type Percent = envoy.type.v3.Percent;

// ---- listeners ----
export type FilterChain = envoy.config.listener.v3.FilterChain;
export type FilterChainMatch = envoy.config.listener.v3.FilterChainMatch;
export type NetworkFilter = envoy.config.listener.v3.Filter;
export type ListenerFilter = envoy.config.listener.v3.ListenerFilter;
export type ListenerFilterChainMatchPredicate = envoy.config.listener.v3.ListenerFilterChainMatchPredicate;
export type HttpConnectionManager = envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
export type HttpFilter = envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
export type TcpProxy = envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
export type Router = envoy.extensions.filters.http.router.v3.Router;
export type HTTPFault = envoy.extensions.filters.http.fault.v3.HTTPFault;
export type Cors = envoy.extensions.filters.http.cors.v3.Cors;
export type CorsPolicy = envoy.extensions.filters.http.cors.v3.CorsPolicy;
export type AccessLog = envoy.config.accesslog.v3.AccessLog;

// ---- routes ----
export type VirtualHost = envoy.config.route.v3.VirtualHost;
export type Route = envoy.config.route.v3.Route;
export type RouteMatch = envoy.config.route.v3.RouteMatch;
export type RouteAction = envoy.config.route.v3.RouteAction;
export type RedirectAction = envoy.config.route.v3.RedirectAction;
export type DirectResponseAction = envoy.config.route.v3.DirectResponseAction;
export type WeightedCluster = envoy.config.route.v3.WeightedCluster;
export type ClusterWeight = envoy.config.route.v3.WeightedCluster.ClusterWeight;
export type HeaderMatcher = envoy.config.route.v3.HeaderMatcher;
export type QueryParameterMatcher = envoy.config.route.v3.QueryParameterMatcher;
export type RetryPolicy = envoy.config.route.v3.RetryPolicy;
export type HashPolicy = envoy.config.route.v3.RouteAction.HashPolicy;
export type Decorator = envoy.config.route.v3.Decorator;
export type StringMatcher = envoy.type.matcher.v3.StringMatcher;
export type RegexMatcher = envoy.type.matcher.v3.RegexMatcher;

// ---- clusters and endpoints ----
export type CircuitBreakers = envoy.config.cluster.v3.CircuitBreakers;
export type OutlierDetection = envoy.config.cluster.v3.OutlierDetection;
export type LocalityLbEndpoints = envoy.config.endpoint.v3.LocalityLbEndpoints;
export type LbEndpoint = envoy.config.endpoint.v3.LbEndpoint;
export type HttpProtocolOptions = envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
export type UpstreamTlsContext = envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
export type DownstreamTlsContext = envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
export type CommonTlsContext = envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
export type SdsSecretConfig = envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
