// Hosts from a ClusterLoadAssignment: priorities, localities, health, metadata, hostnames, the
// overprovisioning factor, Host objects kept across updates, and bad assignments with a field path.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ENDPOINT_TYPE } from "../../../src/envoy/protos.js";
import type { ClusterLoadAssignment, SocketAddress } from "../../../src/envoy/types.js";
import { adminEdsHealthStatus, hostsFromClusterLoadAssignment, type HealthStatus } from "../../../src/proxy/upstream/host.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { asDecoded } from "../../helpers/xds.js";
import { cla } from "./lb-helpers.js";

describe("hostsFromClusterLoadAssignment", () => {
  it("builds priorities, localities and hosts from the control plane's golden assignments", () => {
    const dir = new URL("../../../../test/xds/gen/testdata/", import.meta.url);
    for (const file of ["endpoints-locality.json", "endpoints-bookinfo-reviews.json"]) {
      const all = JSON.parse(readFileSync(new URL(file, dir), "utf8")) as Record<string, ClusterLoadAssignment>;
      for (const [name, c] of Object.entries(all)) {
        const { priorities, byKey } = hostsFromClusterLoadAssignment(c, undefined, { requireIp: true });
        const expected = (c.endpoints ?? []).reduce((n, g) => n + (g.lbEndpoints ?? []).length, 0);
        assert.equal(byKey.size, expected, `${file} ${name}`);
        for (const set of priorities) {
          assert.equal(set.overprovisioningFactor, 140);
          assert.equal(set.localities.reduce((n, l) => n + l.hosts.length, 0), set.hosts.length);
        }
      }
    }
    const all = JSON.parse(readFileSync(new URL("endpoints-locality.json", dir), "utf8")) as Record<string, ClusterLoadAssignment>;
    const failover = hostsFromClusterLoadAssignment(all["echo-failover"]).priorities;
    assert.deepEqual(failover.map((s) => s.hosts.length), [2, 1, 1, 1, 1]);
    const echo = hostsFromClusterLoadAssignment(all.echo).priorities[0];
    const sub1 = echo.localities.find((l) => l.localityKey === "us-east/zone1/sub1");
    assert.equal(sub1?.weight, 4);
    assert.deepEqual(sub1?.hosts.map((h) => [h.key, h.weight]), [["10.1.0.1:8080", 1], ["10.1.0.2:8080", 3]]);
  });

  it("EDS health status as Envoy: UNKNOWN and HEALTHY routable (both HEALTHY on /clusters), UNHEALTHY/TIMEOUT/DRAINING not, DEGRADED degraded (table)", () => {
    // [status, healthy (routable), degraded, health_flags, /clusters eds_health_status]
    const table: Array<[HealthStatus | undefined, boolean, boolean, string, HealthStatus]> = [
      [undefined, true, false, "healthy", "HEALTHY"],
      ["UNKNOWN", true, false, "healthy", "HEALTHY"],
      ["HEALTHY", true, false, "healthy", "HEALTHY"],
      ["UNHEALTHY", false, false, "/failed_eds_health", "UNHEALTHY"],
      ["TIMEOUT", false, false, "/failed_eds_health", "UNHEALTHY"],
      ["DRAINING", false, false, "/eds_status_draining", "DRAINING"],
      ["DEGRADED", false, true, "/degraded_eds_health", "DEGRADED"],
    ];
    for (const [status, healthy, degraded, flags, admin] of table) {
      const { byKey } = hostsFromClusterLoadAssignment(cla([{ endpoints: [{ port: 1, ...(status ? { health: status } : {}) }] }]));
      const h = byKey.get("127.0.0.1:1")!;
      const name = status ?? "(absent)";
      assert.equal(h.healthStatus, status ?? "UNKNOWN", name);
      assert.equal(h.healthy, healthy, `${name} healthy`);
      assert.equal(h.degraded, degraded, `${name} degraded`);
      assert.equal(h.healthFlags, flags, `${name} flags`);
      assert.equal(adminEdsHealthStatus(h.healthStatus), admin, `${name} on /clusters`);
    }
  });

  it("reads health, metadata, hostnames, gaps in priorities and the overprovisioning factor", () => {
    const md = { filterMetadata: { "envoy.lb": { fields: { hash_key: { stringValue: "hk-1" } } } } };
    const { priorities, byKey } = hostsFromClusterLoadAssignment(
      cla(
        [
          { endpoints: [{ port: 1, health: "DEGRADED", hostname: "a.example", metadata: md }, { port: 2, health: "DRAINING" }] },
          { priority: 2, endpoints: [{ address: "0:0:0:0:0:0:0:1", port: 3 }] },
        ],
        { overprovisioningFactor: { value: 100 } },
      ),
    );
    assert.equal(priorities.length, 3);
    assert.equal(priorities[1].hosts.length, 0);
    assert.equal(priorities[0].overprovisioningFactor, 100);
    const a = byKey.get("127.0.0.1:1")!;
    assert.equal(a.healthStatus, "DEGRADED");
    assert.equal(a.degraded, true);
    assert.equal(a.healthy, false);
    assert.equal(a.hostname, "a.example");
    assert.equal(a.metadataHashKey, "hk-1");
    assert.equal(byKey.get("127.0.0.1:2")!.healthy, false);
    assert.equal(byKey.get("127.0.0.1:2")!.healthFlags, "/eds_status_draining");
    assert.ok(byKey.has("[::1]:3"), "IPv6 keys are canonical and bracketed");
  });

  it("reuses Host objects by address so counters and ejection survive updates", () => {
    const first = hostsFromClusterLoadAssignment(cla([{ endpoints: [{ port: 1 }, { port: 2 }, { port: 3 }] }]));
    const h1 = first.byKey.get("127.0.0.1:1")!;
    const h2 = first.byKey.get("127.0.0.1:2")!;
    h1.activeRequests = 5;
    h1.activeConnections = 2;
    h2.ejected = true;
    const second = hostsFromClusterLoadAssignment(
      cla([{ locality: { zone: "z" }, endpoints: [{ port: 1, weight: 7 }, { port: 2 }, { port: 4 }] }]),
      first.byKey,
    );
    assert.equal(second.byKey.get("127.0.0.1:1"), h1);
    assert.equal(second.byKey.get("127.0.0.1:2"), h2);
    assert.equal(h1.activeRequests, 5);
    assert.equal(h1.activeConnections, 2);
    assert.equal(h1.weight, 7);
    assert.equal(h1.localityKey, "/z/");
    assert.equal(h2.ejected, true);
    assert.equal(second.byKey.has("127.0.0.1:3"), false);
    assert.notEqual(second.byKey.get("127.0.0.1:4"), undefined);
    // Duplicate addresses: the first occurrence wins.
    const dup = hostsFromClusterLoadAssignment(cla([{ endpoints: [{ port: 1, weight: 2 }] }, { priority: 1, endpoints: [{ port: 1 }] }]));
    assert.equal(dup.byKey.size, 1);
    assert.equal(dup.priorities[1].hosts.length, 0);
  });

  it("rejects bad assignments with a field path", () => {
    const sa = (socketAddress: SocketAddress): ClusterLoadAssignment => ({ endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress } } }] }] });
    const P = "endpoints[0].lbEndpoints[0]";
    const cases: [string, ClusterLoadAssignment, string, RegExp, { requireIp?: boolean }?][] = [
      ["no address", sa({ portValue: 80 }), `${P}.endpoint.address.socketAddress.address`, /needs an address/],
      ["no endpoint address", { endpoints: [{ lbEndpoints: [{ endpoint: {} }] }] }, `${P}.endpoint.address`, /needs an address/],
      ["port out of range", sa({ address: "10.0.0.1", portValue: 70000 }), `${P}.endpoint.address.socketAddress.portValue`, /out of range/],
      ["no port", sa({ address: "10.0.0.1" }), `${P}.endpoint.address.socketAddress.portValue`, /out of range/],
      ["named port", sa({ address: "10.0.0.1", namedPort: "http" }), `${P}.endpoint.address.socketAddress.namedPort`, /not supported/],
      ["pipe", { endpoints: [{ lbEndpoints: [{ endpoint: { address: { pipe: { path: "/var/run/someuds.sock" } } } }] }] }, `${P}.endpoint.address.pipe`, /not supported/],
      ["not an IP", sa({ address: "svc.example", portValue: 80 }), `${P}.endpoint.address.socketAddress.address`, /malformed IP address/, { requireIp: true }],
      ["bad host name", sa({ address: "bad name!", portValue: 80 }), `${P}.endpoint.address.socketAddress.address`, /invalid host name/],
      [
        "zero endpoint weight",
        { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } } }, loadBalancingWeight: {} }] }] },
        `${P}.loadBalancingWeight`,
        /greater than or equal to 1/,
      ],
      ["zero locality weight", { endpoints: [{ loadBalancingWeight: {}, lbEndpoints: [] }] }, "endpoints[0].loadBalancingWeight", /greater than or equal to 1/],
      ["priority too high", { endpoints: [{ priority: 129, lbEndpoints: [] }] }, "endpoints[0].priority", /between 0 and 128/],
      ["zero overprovisioning", { policy: { overprovisioningFactor: {} }, endpoints: [] }, "policy.overprovisioningFactor", /greater than 0/],
      [
        "unknown health status",
        // Only the decoders give an enum value the schema lacks (as its number), so the literal is untyped.
        asDecoded<ClusterLoadAssignment>(ENDPOINT_TYPE, { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } } }, healthStatus: 9 }] }] }),
        `${P}.healthStatus`,
        /unknown health status 9/,
      ],
      ["unknown named endpoint", { endpoints: [{ lbEndpoints: [{ endpointName: "x" }] }] }, `${P}.endpointName`, /unknown named endpoint/],
      ["a name Object.prototype has", { namedEndpoints: {}, endpoints: [{ lbEndpoints: [{ endpointName: "constructor" }] }] }, `${P}.endpointName`, /unknown named endpoint/],
      ["drop overloads", { policy: { dropOverloads: [{ category: "throttle", dropPercentage: { numerator: 10 } }] }, endpoints: [] }, "policy.dropOverloads", /not implemented/],
      ["stale endpoints", { policy: { endpointStaleAfter: { seconds: 5 } }, endpoints: [] }, "policy.endpointStaleAfter", /not implemented/],
      ["LEDS", { endpoints: [{ ledsClusterLocalityConfig: { ledsCollectionName: "x" } }] }, "endpoints[0].ledsClusterLocalityConfig", /LEDS is not implemented/],
      ["load_balancer_endpoints", { endpoints: [{ loadBalancerEndpoints: { lbEndpoints: [] } }] }, "endpoints[0].loadBalancerEndpoints", /use lb_endpoints/],
      [
        "additional addresses",
        { endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 80 } }, additionalAddresses: [{ address: { socketAddress: { address: "::1", portValue: 80 } } }] } }] }] },
        `${P}.endpoint.additionalAddresses`,
        /not implemented/,
      ],
    ];
    for (const [what, c, path, msg, opts] of cases) {
      assert.throws(
        () => hostsFromClusterLoadAssignment(c, undefined, opts),
        (e: unknown) => e instanceof XdsConfigError && e.path === path && msg.test(e.message) && e.message.startsWith(`${path}: `),
        what,
      );
    }
    // Named endpoints resolve.
    const named = hostsFromClusterLoadAssignment({
      namedEndpoints: { a: { address: { socketAddress: { address: "10.0.0.9", portValue: 9 } } } },
      endpoints: [{ lbEndpoints: [{ endpointName: "a" }] }],
    });
    assert.ok(named.byKey.has("10.0.0.9:9"));
  });
});
