// Short names for the Envoy types tsmesh uses most, from the generated gen/types.ts (whose
// namespaces mirror the proto packages: envoy.config.cluster.v3.Cluster…). Type-only: importing
// this module loads nothing at run time. Names are Envoy's own; where two packages share a message
// name, the short name says which (UpstreamHttpProtocolOptions is core.v3's, HttpProtocolOptions
// the upstreams.http.v3 extension Istio sets on clusters).
// `export import` (not `export type X = …`) so that a message's nested types come along: Cluster.LbPolicy.
import { envoy, google } from "./gen/types.js";

export type { AnyOf, KnownAny, Messages, RawAny, TypeUrl, envoy, google, udpa, xds } from "./gen/types.js";

// ---- well-known types ----
export import Any = google.protobuf.Any;
export import Duration = google.protobuf.Duration;
export import Struct = google.protobuf.Struct;
export import Value = google.protobuf.Value;
export import BoolValue = google.protobuf.BoolValue;
export import UInt32Value = google.protobuf.UInt32Value;
export import StringValue = google.protobuf.StringValue;
export import UInt64Value = google.protobuf.UInt64Value;

// ---- xDS resources ----
export import Listener = envoy.config.listener.v3.Listener;
export import RouteConfiguration = envoy.config.route.v3.RouteConfiguration;
export import Cluster = envoy.config.cluster.v3.Cluster;
export import ClusterLoadAssignment = envoy.config.endpoint.v3.ClusterLoadAssignment;
export import Secret = envoy.extensions.transport_sockets.tls.v3.Secret;

/** A resource ADS serves. */
export type XdsResource = Listener | RouteConfiguration | Cluster | ClusterLoadAssignment | Secret;

// ---- discovery ----
export import DiscoveryRequest = envoy.service.discovery.v3.DiscoveryRequest;
export import DiscoveryResponse = envoy.service.discovery.v3.DiscoveryResponse;
export import DeltaDiscoveryRequest = envoy.service.discovery.v3.DeltaDiscoveryRequest;
export import DeltaDiscoveryResponse = envoy.service.discovery.v3.DeltaDiscoveryResponse;
export import Bootstrap = envoy.config.bootstrap.v3.Bootstrap;

// ---- core ----
export import Node = envoy.config.core.v3.Node;
export import Address = envoy.config.core.v3.Address;
export import SocketAddress = envoy.config.core.v3.SocketAddress;
export import CidrRange = envoy.config.core.v3.CidrRange;
export import Metadata = envoy.config.core.v3.Metadata;
export import Locality = envoy.config.core.v3.Locality;
export import ConfigSource = envoy.config.core.v3.ConfigSource;
export import TransportSocket = envoy.config.core.v3.TransportSocket;
export import TypedExtensionConfig = envoy.config.core.v3.TypedExtensionConfig;
export import HeaderValueOption = envoy.config.core.v3.HeaderValueOption;
export import DataSource = envoy.config.core.v3.DataSource;
export import UpstreamHttpProtocolOptions = envoy.config.core.v3.UpstreamHttpProtocolOptions;
export import Http1ProtocolOptions = envoy.config.core.v3.Http1ProtocolOptions;
export import Http2ProtocolOptions = envoy.config.core.v3.Http2ProtocolOptions;
export import CommonHttpProtocolOptions = envoy.config.core.v3.HttpProtocolOptions;
export import RuntimeFractionalPercent = envoy.config.core.v3.RuntimeFractionalPercent;
export import RoutingPriority = envoy.config.core.v3.RoutingPriority;
export import RuntimeDouble = envoy.config.core.v3.RuntimeDouble;
export import HealthStatus = envoy.config.core.v3.HealthStatus;
export import FractionalPercent = envoy.type.v3.FractionalPercent;
export import Percent = envoy.type.v3.Percent;

// ---- listeners ----
export import FilterChain = envoy.config.listener.v3.FilterChain;
export import FilterChainMatch = envoy.config.listener.v3.FilterChainMatch;
export import NetworkFilter = envoy.config.listener.v3.Filter;
export import ListenerFilter = envoy.config.listener.v3.ListenerFilter;
export import ListenerFilterChainMatchPredicate = envoy.config.listener.v3.ListenerFilterChainMatchPredicate;
export import HttpConnectionManager = envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
export import HttpFilter = envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
export import TcpProxy = envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy;
export import Router = envoy.extensions.filters.http.router.v3.Router;
export import HTTPFault = envoy.extensions.filters.http.fault.v3.HTTPFault;
export import Cors = envoy.extensions.filters.http.cors.v3.Cors;
export import CorsPolicy = envoy.extensions.filters.http.cors.v3.CorsPolicy;
/** The deprecated `cors` of a virtual host or route action: the same fields as the filter's CorsPolicy. */
export import RouteCorsPolicy = envoy.config.route.v3.CorsPolicy;
export import AccessLog = envoy.config.accesslog.v3.AccessLog;

// ---- routes ----
export import VirtualHost = envoy.config.route.v3.VirtualHost;
export import Route = envoy.config.route.v3.Route;
export import RouteMatch = envoy.config.route.v3.RouteMatch;
export import RouteAction = envoy.config.route.v3.RouteAction;
export import RedirectAction = envoy.config.route.v3.RedirectAction;
export import DirectResponseAction = envoy.config.route.v3.DirectResponseAction;
export import WeightedCluster = envoy.config.route.v3.WeightedCluster;
export import ClusterWeight = envoy.config.route.v3.WeightedCluster.ClusterWeight;
export import HeaderMatcher = envoy.config.route.v3.HeaderMatcher;
export import QueryParameterMatcher = envoy.config.route.v3.QueryParameterMatcher;
export import RetryPolicy = envoy.config.route.v3.RetryPolicy;
export import HedgePolicy = envoy.config.route.v3.HedgePolicy;
export import RequestMirrorPolicy = envoy.config.route.v3.RouteAction.RequestMirrorPolicy;
export import HashPolicy = envoy.config.route.v3.RouteAction.HashPolicy;
export import RateLimit = envoy.config.route.v3.RateLimit;
export import Decorator = envoy.config.route.v3.Decorator;
export import StringMatcher = envoy.type.matcher.v3.StringMatcher;
export import RegexMatcher = envoy.type.matcher.v3.RegexMatcher;
export import RegexMatchAndSubstitute = envoy.type.matcher.v3.RegexMatchAndSubstitute;

// ---- clusters and endpoints ----
export import CircuitBreakers = envoy.config.cluster.v3.CircuitBreakers;
export import OutlierDetection = envoy.config.cluster.v3.OutlierDetection;
export import LocalityLbEndpoints = envoy.config.endpoint.v3.LocalityLbEndpoints;
export import LbEndpoint = envoy.config.endpoint.v3.LbEndpoint;
export import Endpoint = envoy.config.endpoint.v3.Endpoint;
export import LoadBalancingPolicy = envoy.config.cluster.v3.LoadBalancingPolicy;
export import RoundRobin = envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin;
export import LeastRequest = envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest;
export import RingHash = envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash;
export import Maglev = envoy.extensions.load_balancing_policies.maglev.v3.Maglev;
export import LocalityLbConfig = envoy.extensions.load_balancing_policies.common.v3.LocalityLbConfig;
export import HttpProtocolOptions = envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
export import UpstreamTlsContext = envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext;
export import DownstreamTlsContext = envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext;
export import CommonTlsContext = envoy.extensions.transport_sockets.tls.v3.CommonTlsContext;
export import SdsSecretConfig = envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig;
export import TlsCertificate = envoy.extensions.transport_sockets.tls.v3.TlsCertificate;
export import Thresholds = envoy.config.cluster.v3.CircuitBreakers.Thresholds;
export import SlowStartConfig = envoy.config.cluster.v3.Cluster.SlowStartConfig;
export import UpstreamConnectionOptions = envoy.config.cluster.v3.UpstreamConnectionOptions;
export import TcpKeepalive = envoy.config.core.v3.TcpKeepalive;
export import KeepaliveSettings = envoy.config.core.v3.KeepaliveSettings;
export import SubjectAltNameMatcher = envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher;
export import CertificateValidationContext = envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext;
export import TlsParameters = envoy.extensions.transport_sockets.tls.v3.TlsParameters;
export import FaultAbort = envoy.extensions.filters.http.fault.v3.FaultAbort;
