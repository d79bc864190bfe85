// proxy-config's command line: istioctl's kinds and aliases, each filter only where istioctl has it,
// --mesh for the mesh (--name is the route filter).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { proxyConfigOptions } from "../../src/cli/proxy-config-flags.js";

describe("proxy-config flags", () => {
  const ok: Array<[string[], Partial<ReturnType<typeof proxyConfigOptions>>]> = [
    [["cluster", "reviews-v1"], { kind: "cluster", workload: "reviews-v1", output: "short" }],
    [["clusters", "default/reviews-v1", "--fqdn", "ratings", "--port", "9080", "--subset", "v1", "--direction", "outbound"], { kind: "cluster", cluster: { fqdn: "ratings", port: 9080, subset: "v1", direction: "outbound" } }],
    [["l", "x", "--address", "127.0.0.1", "--type", "HTTP", "-o", "json"], { kind: "listener", output: "json", listener: { address: "127.0.0.1", port: undefined, type: "HTTP" } }],
    [["r", "x", "--name", "9080", "--mesh", "demo"], { kind: "route", route: { name: "9080" }, name: "demo" }],
    [["ep", "x", "--status", "healthy", "--cluster", "c", "-o", "yaml"], { kind: "endpoint", output: "yaml", endpoint: { address: undefined, port: undefined, cluster: "c", status: "healthy" } }],
    [["log", "x", "--level", "upstream:debug"], { kind: "log", level: "upstream:debug" }],
    [["all", "x", "--state-dir", "/s", "-o", "table"], { kind: "all", stateDir: "/s", output: "short" }],
  ];
  for (const [args, want] of ok) {
    it(args.join(" "), () => {
      const got = proxyConfigOptions(args) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k], v, k);
    });
  }
  const bad: Array<[string[], RegExp]> = [
    [[], /needs a kind/],
    [["clusterz", "x"], /unknown kind "clusterz"/],
    [["cluster"], /needs one WORKLOAD/],
    [["cluster", "a", "b"], /needs one WORKLOAD/],
    [["cluster", "x", "--name", "9080"], /--name is for route \(the mesh's name is --mesh here\)/],
    [["route", "x", "--fqdn", "a"], /--fqdn is for cluster/],
    [["listener", "x", "--status", "HEALTHY"], /--status is for endpoint/],
    [["secret", "x", "--port", "1"], /--port is for cluster, listener, endpoint/],
    [["cluster", "x", "--direction", "sideways"], /--direction must be inbound or outbound/],
    [["cluster", "x", "--port", "0"], /--port must be a port/],
    [["cluster", "x", "--port", "80a"], /--port must be a port/],
    [["cluster", "x", "-o", "xml"], /-o xml: use short, json or yaml/],
    [["cluster", "x", "--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, re] of bad) it(`refuses ${args.join(" ") || "(nothing)"}`, () => assert.throws(() => proxyConfigOptions(args), re));
});
