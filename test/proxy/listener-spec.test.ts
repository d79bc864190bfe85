// listenerSpec and selectFilterChain as tables: what a decoded Listener compiles to, what is refused
// with its field path (match criteria and listener features the proxy does not implement, bad
// ports, unknown listener filters), and which filter chain a connection takes (Envoy's order:
// destination port, destination IP, server name, transport protocol, ALPN, source IP; the most
// specific set criterion wins; the default chain when none matches).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { anyOf, LISTENER_TYPE } from "../../src/envoy/protos.js";
import type * as v3 from "../../src/envoy/types.js";
import { type ChainMatchInput, listenerSpec, selectFilterChain } from "../../src/proxy/listener-spec.js";
import { XdsConfigError } from "../../src/proxy/xds-error.js";
import { asDecoded, foreignAny } from "../helpers/xds.js";

const TCP: v3.NetworkFilter = { name: "envoy.filters.network.tcp_proxy", typedConfig: anyOf("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { statPrefix: "s", cluster: "c" }) };

const chain = (name: string, filterChainMatch?: v3.FilterChainMatch, more: v3.FilterChain = {}): v3.FilterChain => ({ name, filters: [TCP], ...(filterChainMatch ? { filterChainMatch } : {}), ...more });

/** A listener as LDS decodes it (a protobuf round trip of the typed literal). */
function listener(more: v3.Listener = {}): v3.Listener {
  return asDecoded<v3.Listener>(LISTENER_TYPE, { name: "l", address: { socketAddress: { address: "127.0.0.1", portValue: 8080 } }, filterChains: [chain("a")], ...more });
}

describe("listenerSpec: refused with the field path", () => {
  const cases: Array<[string, v3.Listener, string]> = [
    ["no name", { name: "" }, "name"],
    ["no address", { address: undefined }, "listener l: address"],
    ["a pipe address", { address: { pipe: { path: "tsmesh.sock" } } }, "listener l: address"],
    ["a port above 65535", { address: { socketAddress: { address: "127.0.0.1", portValue: 70000 } } }, "listener l: address.socketAddress.portValue"],
    ["UDP", { address: { socketAddress: { address: "127.0.0.1", portValue: 53, protocol: "UDP" } } }, "listener l: address.socketAddress.protocol"],
    ["additional addresses", { additionalAddresses: [{ address: { socketAddress: { address: "127.0.0.2", portValue: 8080 } } }] }, "listener l: additionalAddresses"],
    ["the generic filter chain matcher", { filterChainMatcher: {} }, "listener l: filterChainMatcher"],
    ["an internal listener", { internalListener: {} }, "listener l: internalListener"],
    ["an unknown listener filter", { listenerFilters: [{ name: "pp", typedConfig: foreignAny("type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol") }] }, "listener l: listenerFilters[0]"],
    ["a listener filter over ECDS", { listenerFilters: [{ name: "x", configDiscovery: { typeUrls: ["t"] } }] }, "listener l: listenerFilters[0].configDiscovery"],
    ["a chain without filters", { filterChains: [{ name: "empty" }] }, "listener l: filterChains[0].filters"],
    ["a default chain without filters", { defaultFilterChain: { name: "d" } }, "listener l: defaultFilterChain.filters"],
    ["destination port 0", { filterChains: [chain("a", { destinationPort: { value: 0 } })] }, "listener l: filterChains[0].filterChainMatch.destinationPort"],
    ["destination port above 65535", { filterChains: [chain("a", { destinationPort: { value: 65536 } })] }, "listener l: filterChains[0].filterChainMatch.destinationPort"],
    ["source ports", { filterChains: [chain("a"), chain("b", { sourcePorts: [1234] })] }, "listener l: filterChains[1].filterChainMatch.sourcePorts"],
    ["direct source prefix ranges", { filterChains: [chain("a", { directSourcePrefixRanges: [{ addressPrefix: "10.0.0.0", prefixLen: { value: 8 } }] })] }, "listener l: filterChains[0].filterChainMatch.directSourcePrefixRanges"],
    ["a source type", { filterChains: [chain("a", { sourceType: "SAME_IP_OR_LOOPBACK" })] }, "listener l: filterChains[0].filterChainMatch.sourceType"],
    ["an address suffix", { filterChains: [chain("a", { addressSuffix: "::1" })] }, "listener l: filterChains[0].filterChainMatch.addressSuffix"],
    ["the PROXY protocol", { filterChains: [chain("a", undefined, { useProxyProto: { value: true } })] }, "listener l: filterChains[0].useProxyProto"],
    ["an on-demand chain", { filterChains: [chain("a", undefined, { onDemandConfiguration: {} })] }, "listener l: filterChains[0].onDemandConfiguration"],
    [
      "an unknown transport socket",
      { filterChains: [chain("a", undefined, { transportSocket: { name: "alts", typedConfig: foreignAny("type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts") } })] },
      "listener l: filterChains[0].transportSocket.typedConfig",
    ],
  ];
  for (const [what, more, path] of cases) {
    it(what, () => {
      assert.throws(
        () => listenerSpec(listener(more)),
        (e: unknown) => e instanceof XdsConfigError && e.path === path,
        `${what}: expected an error at ${path}`,
      );
    });
  }
});

describe("listenerSpec: what a listener compiles to", () => {
  it("address, port, chains and their match criteria", () => {
    const s = listenerSpec(
      listener({
        filterChains: [
          chain("a", {
            destinationPort: { value: 9080 },
            prefixRanges: [{ addressPrefix: "10.0.0.0", prefixLen: { value: 8 } }],
            sourcePrefixRanges: [{ addressPrefix: "127.0.0.1" }],
            serverNames: ["a.example.com"],
            transportProtocol: "tls",
            applicationProtocols: ["h2"],
            sourceType: "ANY",
          }),
        ],
        defaultFilterChain: { name: "d", filters: [TCP] },
      }),
    );
    assert.equal(s.name, "l");
    assert.equal(s.address, "127.0.0.1");
    assert.equal(s.port, 8080);
    assert.equal(s.bindToPort, true);
    assert.equal(s.useOriginalDst, false);
    assert.deepEqual(s.filterChains[0].match, {
      destinationPort: 9080,
      prefixRanges: [{ addressPrefix: "10.0.0.0", prefixLen: 8 }],
      sourcePrefixRanges: [{ addressPrefix: "127.0.0.1", prefixLen: 0 }],
      transportProtocol: "tls",
      applicationProtocols: ["h2"],
      serverNames: ["a.example.com"],
    });
    assert.equal(s.filterChains[0].filters.length, 1);
    assert.equal(s.defaultFilterChain?.name, "d");
  });

  const flags: Array<[string, v3.Listener, { bindToPort: boolean; useOriginalDst: boolean }]> = [
    ["bind_to_port false", { bindToPort: { value: false } }, { bindToPort: false, useOriginalDst: false }],
    ["bind_to_port true", { bindToPort: { value: true } }, { bindToPort: true, useOriginalDst: false }],
    ["use_original_dst (virtualOutbound)", { useOriginalDst: { value: true } }, { bindToPort: true, useOriginalDst: true }],
    ["an API listener binds nothing", { address: undefined, apiListener: {} }, { bindToPort: false, useOriginalDst: false }],
  ];
  for (const [what, more, want] of flags) {
    it(what, () => {
      const s = listenerSpec(listener(more));
      assert.deepEqual({ bindToPort: s.bindToPort, useOriginalDst: s.useOriginalDst }, want);
    });
  }

  it("listener filters the proxy implements are accepted", () => {
    const s = listenerSpec(
      listener({
        listenerFilters: [
          { name: "envoy.filters.listener.tls_inspector", typedConfig: anyOf("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}) },
          { name: "envoy.filters.listener.http_inspector", typedConfig: anyOf("envoy.extensions.filters.listener.http_inspector.v3.HttpInspector", {}) },
          { name: "envoy.filters.listener.original_dst", typedConfig: anyOf("envoy.extensions.filters.listener.original_dst.v3.OriginalDst", {}) },
        ],
      }),
    );
    assert.equal(s.filterChains.length, 1);
  });
});

describe("selectFilterChain: Envoy's filter chain match", () => {
  const l = listenerSpec(
    listener({
      filterChains: [
        chain("port-9080", { destinationPort: { value: 9080 } }),
        chain("ten", { prefixRanges: [{ addressPrefix: "10.0.0.0", prefixLen: { value: 8 } }] }),
        chain("exact-sni", { serverNames: ["api.example.com"], transportProtocol: "tls" }),
        chain("wildcard-sni", { serverNames: ["*.example.com"], transportProtocol: "tls" }),
        chain("deeper-wildcard", { serverNames: ["*.v1.example.com"], transportProtocol: "tls" }),
        chain("tls", { transportProtocol: "tls" }),
        chain("h2", { applicationProtocols: ["h2c"] }),
        chain("http1", { applicationProtocols: ["http/1.1"] }),
        chain("from-local", { sourcePrefixRanges: [{ addressPrefix: "127.0.0.0", prefixLen: { value: 8 } }], applicationProtocols: ["x"] }),
        chain("catch-all"),
      ],
      defaultFilterChain: { name: "default", filters: [TCP] },
    }),
  );
  const conn = (c: Partial<ChainMatchInput>): ChainMatchInput => ({ localAddress: "127.0.0.1", localPort: 8080, remoteAddress: "192.168.0.1", ...c });
  const cases: Array<[string, ChainMatchInput, string]> = [
    ["the destination port wins over everything after it", conn({ localPort: 9080, transport: "tls", sni: "api.example.com" }), "port-9080"],
    ["a destination prefix", conn({ localAddress: "10.1.2.3" }), "ten"],
    ["outside the prefix: the next criteria decide", conn({ localAddress: "11.1.2.3" }), "catch-all"],
    ["an exact server name over wildcards", conn({ transport: "tls", sni: "api.example.com" }), "exact-sni"],
    ["the longest wildcard", conn({ transport: "tls", sni: "a.v1.example.com" }), "deeper-wildcard"],
    ["a wildcard", conn({ transport: "tls", sni: "www.example.com" }), "wildcard-sni"],
    ["a wildcard needs a label before its suffix", conn({ transport: "tls", sni: "example.com" }), "tls"],
    ["TLS without SNI", conn({ transport: "tls" }), "tls"],
    ["ALPN", conn({ alpn: ["h2c"] }), "h2"],
    ["ALPN, one of several offered", conn({ alpn: ["http/1.0", "http/1.1"] }), "http1"],
    ["a source prefix", conn({ alpn: ["x"], remoteAddress: "127.0.0.9" }), "from-local"],
    ["a source prefix that does not match leaves no chain: the default", conn({ alpn: ["x"] }), "default"],
    ["nothing set: the chain with no criteria", conn({}), "catch-all"],
  ];
  for (const [what, c, want] of cases) {
    it(what, () => assert.equal(selectFilterChain(l, c)?.name, want));
  }

  it("no chain and no default: none", () => {
    const only = listenerSpec(listener({ filterChains: [chain("p", { destinationPort: { value: 1 } })] }));
    assert.equal(selectFilterChain(only, conn({})), undefined);
  });
});
