// What the RBAC filters share: Envoy's stat names (generateStats with statPrefixJoin, the rules and
// shadow prefixes, per-policy counters) and the denial's response details.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { denialDetail, RbacStats, statPrefixJoin } from "../../../src/proxy/rbac/config.js";
import { StatsStore } from "../../../src/proxy/stats.js";

describe("RBAC stat names (Envoy's generateStats)", () => {
  const table: Array<[string, string, string, string, string[]]> = [
    ["HTTP, no prefixes", "http.inbound_0.0.0.0_80.", "", "", ["http.inbound_0.0.0.0_80.rbac.allowed", "http.inbound_0.0.0.0_80.rbac.denied", "http.inbound_0.0.0.0_80.rbac.shadow_allowed", "http.inbound_0.0.0.0_80.rbac.shadow_denied"]],
    ["HTTP, Istio's dry-run shadow prefix", "http.x.", "", "istio_dry_run_allow_", ["http.x.rbac.allowed", "http.x.rbac.denied", "http.x.rbac.istio_dry_run_allow_.shadow_allowed", "http.x.rbac.istio_dry_run_allow_.shadow_denied"]],
    ["rules prefix with its own dot", "http.x.", "rules.", "", ["http.x.rbac.rules.allowed", "http.x.rbac.rules.denied", "http.x.rbac.shadow_allowed", "http.x.rbac.shadow_denied"]],
    ["network, stat_prefix with a dot", "tcp.", "", "prefix_", ["tcp.rbac.allowed", "tcp.rbac.denied", "tcp.rbac.prefix_.shadow_allowed", "tcp.rbac.prefix_.shadow_denied"]],
    ["network, stat_prefix without a dot", "tcp", "", "", ["tcp.rbac.allowed", "tcp.rbac.denied", "tcp.rbac.shadow_allowed", "tcp.rbac.shadow_denied"]],
  ];
  for (const [name, prefix, rules, shadow, want] of table) {
    it(name, () => {
      const store = new StatsStore();
      const s = new RbacStats(store.scope(""), prefix, rules, shadow);
      s.allowed.inc();
      s.denied.inc();
      s.shadowAllowed.inc();
      s.shadowDenied.inc();
      assert.deepEqual(store.snapshot().counters.map(([n]) => n).sort(), [...want].sort());
    });
  }

  it("per-policy counters", () => {
    const store = new StatsStore();
    const s = new RbacStats(store.scope("http.x."), "", "r", "dry_");
    s.policy("ns[foo]-policy[p]-rule[0]", "denied").inc();
    s.policy("p", "shadow_allowed").inc();
    s.policy("p", "shadow_allowed").inc();
    const c = Object.fromEntries(store.snapshot().counters);
    assert.equal(c["http.x.rbac.r.policy.ns[foo]-policy[p]-rule[0].denied"], 1);
    assert.equal(c["http.x.rbac.dry_.policy.p.shadow_allowed"], 2);
  });

  it("statPrefixJoin", () => {
    assert.equal(statPrefixJoin("", "rbac."), "rbac.");
    assert.equal(statPrefixJoin("a.", "rbac."), "a.rbac.");
    assert.equal(statPrefixJoin("a", "rbac."), "a.rbac.");
  });
});

describe("denial details (Envoy's responseDetail)", () => {
  it("names the matched policy, 'none' without one, blanks as '_'", () => {
    assert.equal(denialDetail("ns[foo]-policy[deny]-rule[0]"), "rbac_access_denied_matched_policy[ns[foo]-policy[deny]-rule[0]]");
    assert.equal(denialDetail(""), "rbac_access_denied_matched_policy[none]");
    assert.equal(denialDetail("a b\tc"), "rbac_access_denied_matched_policy[a_b_c]");
  });
});
