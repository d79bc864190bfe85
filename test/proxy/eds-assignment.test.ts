// EDS assignments are checked before they are ACKed (validateAssignment): a table of bad
// ClusterLoadAssignments refused with their field paths (addresses an EDS cluster cannot use —
// names, malformed IPs, pipes, ports outside 1-65535 —, weights, priorities, the cluster it is
// for) and good ones accepted; then end to end through a real ADS server, a bad assignment is
// NACKed with its path while the cluster keeps serving its last good endpoints.
import assert from "node:assert/strict";
import * as http from "node:http";
import { describe, it } from "node:test";
import { ENDPOINT_TYPE } from "../../src/envoy/protos.js";
import type * as v3 from "../../src/envoy/types.js";
import { ProxyServer, validateAssignment } from "../../src/proxy/proxy.js";
import { XdsConfigError } from "../../src/proxy/xds-error.js";
import type { TypeStatus } from "../../src/xds/server/types.js";
import { asDecoded } from "../helpers/xds.js";
import { request } from "./helpers.js";
import { CLUSTER_TYPE, edsPush, fullPush, Harness, LISTENER_TYPE, snapshot } from "../xds/server/helpers.js";

const at = (address: string, portValue: number): v3.LbEndpoint => ({ endpoint: { address: { socketAddress: { address, portValue } } } });

/** A ClusterLoadAssignment for `web` as EDS decodes it. */
function cla(endpoints: v3.LocalityLbEndpoints[], more: v3.ClusterLoadAssignment = {}): v3.ClusterLoadAssignment {
  return asDecoded<v3.ClusterLoadAssignment>(ENDPOINT_TYPE, { clusterName: "web", endpoints, ...more });
}
const one = (e: v3.LbEndpoint, group: v3.LocalityLbEndpoints = {}): v3.ClusterLoadAssignment => cla([{ ...group, lbEndpoints: [e] }]);
const withAddress = (address: v3.Address): v3.LbEndpoint => ({ endpoint: { address } });
const EP = "ClusterLoadAssignment web: endpoints[0].lbEndpoints[0]";
const SA = `${EP}.endpoint.address.socketAddress`;

describe("validateAssignment: bad assignments are refused with their field path", () => {
  const cases: Array<[string, v3.ClusterLoadAssignment, string, RegExp?]> = [
    ["no cluster_name", cla([], { clusterName: "" }), "ClusterLoadAssignment web: clusterName"],
    ["another cluster's assignment", cla([], { clusterName: "api" }), "ClusterLoadAssignment web: clusterName", /Unexpected EDS cluster \(expecting web\): api/],
    ["an endpoint without an address", one({ endpoint: {} }), `${EP}.endpoint.address`],
    ["an LbEndpoint without an endpoint", one({}), `${EP}.endpoint`],
    ["a pipe", one(withAddress({ pipe: { path: "/run/app.sock" } })), `${EP}.endpoint.address.pipe`],
    ["an internal address", one(withAddress({ envoyInternalAddress: { serverListenerName: "x" } })), `${EP}.endpoint.address.envoyInternalAddress`],
    ["no socket address", one(withAddress({})), SA],
    ["an empty address", one(at("", 8080)), `${SA}.address`],
    ["a host name (an EDS cluster resolves none)", one(at("web.default.svc", 8080)), `${SA}.address`, /malformed IP address: web\.default\.svc/],
    ["IPv4 with an octet above 255", one(at("10.0.0.256", 8080)), `${SA}.address`, /malformed IP address/],
    ["IPv4 with a leading zero", one(at("010.0.0.1", 8080)), `${SA}.address`, /malformed IP address/],
    ["IPv4 with three parts", one(at("10.0.1", 8080)), `${SA}.address`, /malformed IP address/],
    ["IPv6 with two '::'", one(at("fd00::1::2", 8080)), `${SA}.address`, /malformed IP address/],
    ["IPv6 in brackets", one(at("[::1]", 8080)), `${SA}.address`, /malformed IP address/],
    ["port 0", one(at("10.0.0.1", 0)), `${SA}.portValue`],
    ["port 65536", one(at("10.0.0.1", 65536)), `${SA}.portValue`],
    ["a named port", one(withAddress({ socketAddress: { address: "10.0.0.1", namedPort: "http" } })), `${SA}.namedPort`],
    ["a custom resolver", one(withAddress({ socketAddress: { address: "10.0.0.1", portValue: 80, resolverName: "r" } })), `${SA}.resolverName`],
    ["UDP", one(withAddress({ socketAddress: { address: "10.0.0.1", portValue: 80, protocol: "UDP" } })), `${SA}.protocol`],
    ["the third endpoint's port", cla([{ lbEndpoints: [at("10.0.0.1", 80), at("10.0.0.2", 80), at("10.0.0.3", 70000)] }]), "ClusterLoadAssignment web: endpoints[0].lbEndpoints[2].endpoint.address.socketAddress.portValue"],
    ["the second locality's endpoint", cla([{ lbEndpoints: [at("10.0.0.1", 80)] }, { lbEndpoints: [at("::1", 80), at("nope", 80)] }]), "ClusterLoadAssignment web: endpoints[1].lbEndpoints[1].endpoint.address.socketAddress.address"],
    ["an endpoint weight of 0", one({ ...at("10.0.0.1", 80), loadBalancingWeight: { value: 0 } }), `${EP}.loadBalancingWeight`],
    ["a locality weight of 0", one(at("10.0.0.1", 80), { loadBalancingWeight: { value: 0 } }), "ClusterLoadAssignment web: endpoints[0].loadBalancingWeight"],
    ["priority 129", one(at("10.0.0.1", 80), { priority: 129 }), "ClusterLoadAssignment web: endpoints[0].priority"],
    ["endpoint weights above 2^32-1 in a locality", cla([{ lbEndpoints: [{ ...at("10.0.0.1", 80), loadBalancingWeight: { value: 4294967295 } }, { ...at("10.0.0.2", 80), loadBalancingWeight: { value: 1 } }] }]), "ClusterLoadAssignment web: endpoints[0].lbEndpoints"],
    ["an unknown named endpoint", one({ endpointName: "missing" }), `${EP}.endpointName`],
    ["a bad named endpoint", cla([{ lbEndpoints: [{ endpointName: "n" }] }], { namedEndpoints: { n: { address: { socketAddress: { address: "host", portValue: 80 } } } } }), 'ClusterLoadAssignment web: namedEndpoints["n"].address.socketAddress.address'],
    ["a health check port above 65535", one({ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } }, healthCheckConfig: { portValue: 65536 } } }), `${EP}.endpoint.healthCheckConfig.portValue`],
    ["a health status the schema lacks", one({ ...at("10.0.0.1", 80), healthStatus: 42 as unknown as v3.HealthStatus }), `${EP}.healthStatus`],
    ["an overprovisioning factor of 0", cla([], { policy: { overprovisioningFactor: { value: 0 } } }), "ClusterLoadAssignment web: policy.overprovisioningFactor"],
    ["drop_overloads (not implemented)", cla([], { policy: { dropOverloads: [{ category: "lb", dropPercentage: { numerator: 1 } }] } }), "ClusterLoadAssignment web: policy.dropOverloads"],
    ["additional addresses (not implemented)", one({ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } }, additionalAddresses: [{ address: { socketAddress: { address: "10.0.0.2", portValue: 80 } } }] } }), `${EP}.endpoint.additionalAddresses`],
  ];
  for (const [what, assignment, path, message] of cases) {
    it(what, () => {
      assert.throws(
        () => validateAssignment("web", assignment),
        (e: unknown) => e instanceof XdsConfigError && e.path === path && (message === undefined || message.test(e.message)),
        `${what}: expected an error at ${path}`,
      );
    });
  }
});

describe("validateAssignment: good assignments are accepted", () => {
  const cases: Array<[string, v3.ClusterLoadAssignment]> = [
    ["no endpoints (a cluster with no hosts)", cla([])],
    ["IPv4 and IPv6 literals, ports 1 and 65535", cla([{ lbEndpoints: [at("10.0.0.1", 1), at("2001:db8::1", 65535), at("::1", 8080), at("::ffff:127.0.0.1", 80)] }])],
    ["weights, localities and priorities with a gap", cla([{ locality: { zone: "a" }, loadBalancingWeight: { value: 3 }, lbEndpoints: [{ ...at("10.0.0.1", 80), loadBalancingWeight: { value: 7 } }] }, { priority: 2, lbEndpoints: [at("10.0.0.2", 80)] }])],
    ["priority 128", one(at("10.0.0.1", 80), { priority: 128 })],
    ["a host name hint beside an IP address", one({ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } }, hostname: "web.default.svc.cluster.local" } })],
    ["a named endpoint", cla([{ lbEndpoints: [{ endpointName: "n" }] }], { namedEndpoints: { n: { address: { socketAddress: { address: "10.0.0.9", portValue: 80 } } } } })],
    ["health statuses", cla([{ lbEndpoints: [{ ...at("10.0.0.1", 80), healthStatus: "DRAINING" }, { ...at("10.0.0.2", 80), healthStatus: "DEGRADED" }] }])],
    ["the same address twice (kept once, as Envoy)", cla([{ lbEndpoints: [at("10.0.0.1", 80), at("10.0.0.1", 80)] }])],
  ];
  for (const [what, assignment] of cases) it(what, () => validateAssignment("web", assignment));
});

// ---- end to end: a real ADS server (in-memory generator), a real proxy, a real backend ----

const IP = "127.0.151.1";
const BACKEND_IP = "127.0.151.2";
const PORT = 18151;

const get = (path: string) => request(`http://${IP}:${PORT}${path}`);

const edsCluster: v3.Cluster = { name: "web", type: "EDS", edsClusterConfig: { edsConfig: { ads: {} } }, connectTimeout: { seconds: 1 } };
const listener: v3.Listener = {
  name: "web",
  address: { socketAddress: { address: IP, portValue: PORT } },
  filterChains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            statPrefix: "web",
            routeConfig: { name: "web", virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "web" } }] }] },
            httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          },
        },
      ],
    },
  ],
};
const assignment = (port: number, address = BACKEND_IP): v3.ClusterLoadAssignment => ({ clusterName: "web", endpoints: [{ lbEndpoints: [at(address, port)] }] });

describe("over xDS: a bad EDS assignment is NACKed with its path and the last good endpoints keep serving", () => {
  it("NACK (bad port, host name, another cluster's assignment), traffic unaffected, then a good one is ACKed", async () => {
    const backend = http.createServer((_req, res) => res.end("backend"));
    await new Promise<void>((r) => backend.listen(0, BACKEND_IP, () => r()));
    const backendPort = (backend.address() as { port: number }).port;
    const h = await Harness.start();
    const proxy = new ProxyServer({ discoveryAddress: `127.0.0.1:${h.port}`, node: { id: `sidecar~${IP}~web.default~default.svc.cluster.local` }, ip: IP, log: () => {} });
    const status = (type: string): TypeStatus | undefined => h.server.connections()[0]?.types.find((t) => t.typeUrl === type);
    const until = async (what: string, cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    // (Spread: the harness takes plain records.)
    const state = (cla: v3.ClusterLoadAssignment) => snapshot({ clusters: [{ ...edsCluster }], clas: [{ ...cla }], listeners: [{ ...listener }] });
    /** Pushes an assignment on the EDS path; resolves with the NACK message, or undefined when ACKed. */
    const pushEds = async (snap: ReturnType<typeof snapshot>): Promise<string | undefined> => {
      const before = status(ENDPOINT_TYPE)?.sentNonce;
      h.server.push(edsPush(snap, ["web"]));
      await until("the assignment sent", () => status(ENDPOINT_TYPE)?.sentNonce !== before);
      const sent = status(ENDPOINT_TYPE)!.sentNonce;
      await until("its ACK or NACK", () => status(ENDPOINT_TYPE)?.ackedNonce === sent || status(ENDPOINT_TYPE)?.nack?.nonce === sent);
      const st = status(ENDPOINT_TYPE)!;
      return st.nack?.nonce === sent ? st.nack?.message : undefined;
    };
    try {
      h.server.setContext(fullPush(state(assignment(backendPort))));
      await proxy.start();
      await proxy.ready();
      assert.equal((await get("/")).body, "backend");
      assert.ok(status(CLUSTER_TYPE)?.ackedNonce && status(LISTENER_TYPE)?.ackedNonce);

      const badPort = await pushEds(state({ clusterName: "web", endpoints: [{ lbEndpoints: [at(BACKEND_IP, backendPort), at(BACKEND_IP, 0)] }] }));
      assert.match(badPort ?? "", /^ClusterLoadAssignment web: endpoints\[0\]\.lbEndpoints\[1\]\.endpoint\.address\.socketAddress\.portValue: port 0 is out of range/);
      const hostName = await pushEds(state(assignment(backendPort, "backend.default.svc")));
      assert.match(hostName ?? "", /endpoints\[0\]\.lbEndpoints\[0\]\.endpoint\.address\.socketAddress\.address: malformed IP address: backend\.default\.svc/);
      // A resource named web whose assignment is another cluster's (Delta names resources apart from their contents).
      const misnamed = state(assignment(backendPort));
      misnamed[ENDPOINT_TYPE] = { web: { ...assignment(backendPort), clusterName: "api" } };
      assert.match((await pushEds(misnamed)) ?? "", /clusterName: Unexpected EDS cluster \(expecting web\): api/);

      // The last good assignment still serves, its host untouched.
      assert.deepEqual(
        proxy.cluster("web")?.hosts().map((x) => `${x.address}:${x.port}`),
        [`${BACKEND_IP}:${backendPort}`],
      );
      for (let i = 0; i < 3; i++) assert.equal((await get("/")).body, "backend");

      // A good one is ACKed and applied.
      assert.equal(await pushEds(state({ clusterName: "web", endpoints: [{ lbEndpoints: [at(BACKEND_IP, backendPort), at("127.0.151.3", 9)] }] })), undefined);
      assert.equal(proxy.cluster("web")?.hosts().length, 2);
    } finally {
      await proxy.close();
      await h.close();
      backend.closeAllConnections();
      await new Promise<void>((r) => backend.close(() => r()));
    }
  });
});
