// The rate-limit service's configuration: envoyproxy/ratelimit's YAML read and checked as the
// reference does (table of valid and invalid files, errors naming file and field path), and the
// descriptor lookup (nested, wildcards, most specific first, depth must match, detailed_metric,
// value_to_metric, share_threshold, overrides) — including Istio's task ConfigMap loaded as-is.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { RateLimitConfig, RateLimitConfigError, wildcardMatch, type RequestDescriptor } from "../../src/ratelimit/config.js";
import { parseConfigFile } from "../../src/ratelimit/config-yaml.js";
import { ConfigWatcher, readConfigFiles, runtimeConfigPath } from "../../src/ratelimit/config-source.js";
import { RateLimitStatsManager } from "../../src/ratelimit/stats.js";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";

function load(...files: string[]): RateLimitConfig {
  return new RateLimitConfig(
    files.map((text, i) => ({ name: `f${i}.yaml`, root: parseConfigFile(`f${i}.yaml`, text) })),
    new RateLimitStatsManager(),
  );
}

function d(...kv: Array<[string, string]>): RequestDescriptor {
  return { entries: kv.map(([key, value]) => ({ key, value })) };
}

const TASK = `
domain: ratelimit
descriptors:
  - key: PATH
    value: "/productpage"
    rate_limit:
      unit: minute
      requests_per_unit: 1
  - key: PATH
    value: "api"
    rate_limit:
      unit: minute
      requests_per_unit: 2
  - key: PATH
    rate_limit:
      unit: minute
      requests_per_unit: 100
`;

describe("ratelimit config: lookups", () => {
  const cases: Array<{ name: string; yaml: string[]; domain: string; descriptor: RequestDescriptor; want?: { rpu: number; unit: string; key: string; shadow?: boolean; unlimited?: boolean; name?: string } }> = [
    { name: "task: exact value", yaml: [TASK], domain: "ratelimit", descriptor: d(["PATH", "/productpage"]), want: { rpu: 1, unit: "MINUTE", key: "ratelimit.PATH_/productpage" } },
    { name: "task: second exact value", yaml: [TASK], domain: "ratelimit", descriptor: d(["PATH", "api"]), want: { rpu: 2, unit: "MINUTE", key: "ratelimit.PATH_api" } },
    { name: "task: any other value falls back to the key", yaml: [TASK], domain: "ratelimit", descriptor: d(["PATH", "/reviews"]), want: { rpu: 100, unit: "MINUTE", key: "ratelimit.PATH" } },
    { name: "unknown domain", yaml: [TASK], domain: "other", descriptor: d(["PATH", "/"]) },
    { name: "unknown key", yaml: [TASK], domain: "ratelimit", descriptor: d(["METHOD", "GET"]) },
    {
      name: "nested: two levels",
      yaml: ["domain: messaging\ndescriptors:\n  - key: message_type\n    value: marketing\n    descriptors:\n      - key: to_number\n        rate_limit: {unit: day, requests_per_unit: 5}\n  - key: to_number\n    rate_limit: {unit: day, requests_per_unit: 100}\n"],
      domain: "messaging",
      descriptor: d(["message_type", "marketing"], ["to_number", "2061111111"]),
      want: { rpu: 5, unit: "DAY", key: "messaging.message_type_marketing.to_number" },
    },
    {
      name: "nested: the placeholder level has no limit of its own",
      yaml: ["domain: messaging\ndescriptors:\n  - key: message_type\n    value: marketing\n    descriptors:\n      - key: to_number\n        rate_limit: {unit: day, requests_per_unit: 5}\n"],
      domain: "messaging",
      descriptor: d(["message_type", "marketing"]),
    },
    {
      name: "depth must match: more entries than levels",
      yaml: ["domain: example4\ndescriptors:\n  - key: key\n    value: value\n    rate_limit: {requests_per_unit: 300, unit: second}\n"],
      domain: "example4",
      descriptor: d(["key", "value"], ["subkey", "subvalue"]),
    },
    {
      name: "most specific first (example 3)",
      yaml: ["domain: edge\ndescriptors:\n  - key: remote_address\n    rate_limit: {unit: second, requests_per_unit: 10}\n  - key: remote_address\n    value: 50.0.0.5\n    rate_limit: {unit: second, requests_per_unit: 0}\n"],
      domain: "edge",
      descriptor: d(["remote_address", "50.0.0.5"]),
      want: { rpu: 0, unit: "SECOND", key: "edge.remote_address_50.0.0.5" },
    },
    { name: "trailing wildcard", yaml: ["domain: w\ndescriptors:\n  - key: key1\n    value: value*\n    rate_limit: {unit: minute, requests_per_unit: 20}\n"], domain: "w", descriptor: d(["key1", "valueXYZ"]), want: { rpu: 20, unit: "MINUTE", key: "w.key1_value*" } },
    { name: "trailing wildcard: no match", yaml: ["domain: w\ndescriptors:\n  - key: key1\n    value: value*\n    rate_limit: {unit: minute, requests_per_unit: 20}\n"], domain: "w", descriptor: d(["key1", "valu"]) },
    { name: "middle wildcard", yaml: ["domain: w\ndescriptors:\n  - key: path\n    value: /api/*/action\n    rate_limit: {unit: minute, requests_per_unit: 7}\n"], domain: "w", descriptor: d(["path", "/api/123/action"]), want: { rpu: 7, unit: "MINUTE", key: "w.path_/api/*/action" } },
    { name: "middle wildcard: suffix differs", yaml: ["domain: w\ndescriptors:\n  - key: path\n    value: /api/*/action\n    rate_limit: {unit: minute, requests_per_unit: 7}\n"], domain: "w", descriptor: d(["path", "/api/123/other"]) },
    {
      name: "exact value beats a wildcard",
      yaml: ["domain: w\ndescriptors:\n  - key: k\n    value: a*\n    rate_limit: {unit: minute, requests_per_unit: 1}\n  - key: k\n    value: abc\n    rate_limit: {unit: minute, requests_per_unit: 2}\n"],
      domain: "w",
      descriptor: d(["k", "abc"]),
      want: { rpu: 2, unit: "MINUTE", key: "w.k_abc" },
    },
    {
      name: "wildcards in file order",
      yaml: ["domain: w\ndescriptors:\n  - key: k\n    value: a*\n    rate_limit: {unit: minute, requests_per_unit: 1}\n  - key: k\n    value: ab*\n    rate_limit: {unit: minute, requests_per_unit: 2}\n"],
      domain: "w",
      descriptor: d(["k", "abc"]),
      want: { rpu: 1, unit: "MINUTE", key: "w.k_a*" },
    },
    { name: "shadow mode flag", yaml: ["domain: s\ndescriptors:\n  - key: user\n    shadow_mode: true\n    rate_limit: {unit: second, requests_per_unit: 10}\n"], domain: "s", descriptor: d(["user", "a"]), want: { rpu: 10, unit: "SECOND", key: "s.user", shadow: true } },
    { name: "unlimited", yaml: ["domain: i\ndescriptors:\n  - key: ldap\n    rate_limit: {unlimited: true}\n"], domain: "i", descriptor: d(["ldap", "x"]), want: { rpu: 0, unit: "SECOND", key: "i.ldap", unlimited: true } },
    { name: "unit is case-insensitive; week", yaml: ["domain: u\ndescriptors:\n  - key: a\n    rate_limit: {unit: Week, requests_per_unit: 3, name: weekly}\n"], domain: "u", descriptor: d(["a", ""]), want: { rpu: 3, unit: "WEEK", key: "u.a", name: "weekly" } },
    { name: "a number value is its text (YAML 1.1, as the reference decodes)", yaml: ["domain: n\ndescriptors:\n  - key: code\n    value: 0429\n    rate_limit: {unit: hour, requests_per_unit: 0x10}\n"], domain: "n", descriptor: d(["code", "0429"]), want: { rpu: 16, unit: "HOUR", key: "n.code_0429" } },
    {
      name: "detailed_metric: the value goes into the stats key",
      yaml: ["domain: example8\ndescriptors:\n  - key: key1\n    detailed_metric: true\n    rate_limit: {unit: minute, requests_per_unit: 10}\n"],
      domain: "example8",
      descriptor: d(["key1", "unspecified_value"]),
      want: { rpu: 10, unit: "MINUTE", key: "example8.key1_unspecified_value" },
    },
    {
      name: "value_to_metric",
      yaml: ["domain: example10\ndescriptors:\n  - key: route\n    value_to_metric: true\n    descriptors:\n      - key: http_method\n        value_to_metric: true\n        descriptors:\n          - key: subject_id\n            rate_limit: {unit: minute, requests_per_unit: 60}\n"],
      domain: "example10",
      descriptor: d(["route", "api"], ["http_method", "GET"], ["subject_id", "123"]),
      want: { rpu: 60, unit: "MINUTE", key: "example10.route_api.http_method_GET.subject_id" },
    },
    {
      name: "share_threshold with value_to_metric keys by the wildcard prefix",
      yaml: ["domain: ex11\ndescriptors:\n  - key: route\n    value: api/*\n    share_threshold: true\n    value_to_metric: true\n    descriptors:\n      - key: method\n        rate_limit: {unit: minute, requests_per_unit: 60}\n"],
      domain: "ex11",
      descriptor: d(["route", "api/v1"], ["method", "GET"]),
      want: { rpu: 60, unit: "MINUTE", key: "ex11.route_api/*.method" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const cfg = load(...c.yaml);
      const l = cfg.getLimit(c.domain, c.descriptor);
      if (!c.want) {
        assert.equal(l, undefined);
        return;
      }
      assert.ok(l, "a limit applies");
      assert.equal(l.requestsPerUnit, c.want.rpu);
      assert.equal(l.unit, c.want.unit);
      assert.equal(l.fullKey, c.want.key);
      assert.equal(l.stats.key, c.want.key);
      assert.equal(l.shadowMode, c.want.shadow ?? false);
      assert.equal(l.unlimited, c.want.unlimited ?? false);
      assert.equal(l.name, c.want.name ?? "");
    });
  }

  it("counts domain_not_found under the reference's name", () => {
    const stats = new RateLimitStatsManager();
    const cfg = new RateLimitConfig([{ name: "t", root: parseConfigFile("t", TASK) }], stats);
    cfg.getLimit("nope", d(["PATH", "/"]));
    cfg.getLimit("nope", d(["PATH", "/"]));
    assert.equal(stats.value("ratelimit.service.rate_limit.nope.domain_not_found"), 2);
  });

  it("share_threshold: every value under the wildcard shares one pattern", () => {
    const cfg = load("domain: ex11\ndescriptors:\n  - key: files\n    value: files/*\n    share_threshold: true\n    rate_limit: {unit: hour, requests_per_unit: 10}\n  - key: other\n    value: other/*\n    rate_limit: {unit: hour, requests_per_unit: 10}\n");
    assert.deepEqual(cfg.getLimit("ex11", d(["files", "files/a.pdf"]))?.shareThresholdKeyPattern, ["files/*"]);
    assert.equal(cfg.getLimit("ex11", d(["other", "other/a.pdf"]))?.shareThresholdKeyPattern, undefined);
  });

  it("a limit override from the proxy wins, with its own stats key and no shadow mode", () => {
    const cfg = load("domain: o\ndescriptors:\n  - key: k\n    shadow_mode: true\n    rate_limit: {unit: second, requests_per_unit: 1}\n");
    const l = cfg.getLimit("o", { entries: [{ key: "k", value: "v" }, { key: "x", value: "" }], limit: { requestsPerUnit: 42, unit: "HOUR" } });
    assert.equal(l?.requestsPerUnit, 42);
    assert.equal(l?.unit, "HOUR");
    assert.equal(l?.fullKey, "o.k_v.x");
    assert.equal(l?.shadowMode, false);
  });

  it("wildcardMatch: each * matches any run, in order", () => {
    const m = (p: string, v: string) => wildcardMatch(p.split("*"), v);
    assert.equal(m("a*", "a"), true);
    assert.equal(m("a*c", "abc"), true);
    assert.equal(m("a*c", "ac"), true);
    assert.equal(m("a*b*c", "aXcYbc"), true);
    assert.equal(m("a*b*c", "acb"), false);
    assert.equal(m("ab*ba", "aba"), false);
    assert.equal(m("abc", "abc"), true);
    assert.equal(m("abc", "abcd"), false);
  });
});

describe("ratelimit config: invalid files are refused with file and field", () => {
  const bad: Array<{ name: string; yaml: string[]; error: RegExp }> = [
    { name: "empty domain", yaml: ["descriptors: []\n"], error: /^f0\.yaml: config file cannot have empty domain$/ },
    { name: "empty file", yaml: [""], error: /f0\.yaml: config file cannot have empty domain/ },
    { name: "duplicate domain across files", yaml: [TASK, TASK], error: /^f1\.yaml: duplicate domain 'ratelimit' in config file$/ },
    { name: "duplicate descriptor", yaml: ["domain: d\ndescriptors:\n  - key: a\n    value: b\n  - key: a\n    value: b\n"], error: /^f0\.yaml: descriptors\[1\]: duplicate descriptor composite key 'd\.a_b'$/ },
    { name: "duplicate nested descriptor", yaml: ["domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: x\n      - key: x\n"], error: /descriptors\[0\]\.descriptors\[1\]: duplicate descriptor composite key 'd\.a\.x'/ },
    { name: "bad unit", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: fortnight, requests_per_unit: 1}\n"], error: /^f0\.yaml: descriptors\[0\]: invalid rate limit unit 'fortnight'$/ },
    { name: "missing unit", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {requests_per_unit: 1}\n"], error: /invalid rate limit unit ''/ },
    { name: "unit with unlimited", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unlimited: true, unit: second}\n"], error: /should not specify rate limit unit when unlimited/ },
    { name: "empty key", yaml: ["domain: d\ndescriptors:\n  - value: v\n"], error: /descriptors\[0\]: descriptor has empty key/ },
    { name: "unknown key", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limits: {}\n"], error: /descriptors\[0\]\.rate_limits: config error, unknown key 'rate_limits'/ },
    { name: "empty replaces entry", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: 1, replaces: [{name: ''}]}\n"], error: /should not have an empty replaces entry/ },
    { name: "replaces itself", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: 1, name: n, replaces: [{name: n}]}\n"], error: /replaces should not contain name of same descriptor/ },
    { name: "share_threshold without a wildcard", yaml: ["domain: d\ndescriptors:\n  - key: a\n    value: b\n    share_threshold: true\n"], error: /share_threshold can only be used with wildcard values/ },
    { name: "negative requests_per_unit", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: -1}\n"], error: /descriptors\[0\]\.rate_limit\.requests_per_unit: cannot unmarshal `-1` into uint32/ },
    { name: "requests_per_unit too large", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: 4294967296}\n"], error: /into uint32/ },
    { name: "requests_per_unit a string", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: many}\n"], error: /cannot unmarshal `many` into uint32/ },
    { name: "a float leaf", yaml: ["domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: 1.5}\n"], error: /requests_per_unit: error checking config/ },
    { name: "shadow_mode quoted", yaml: ["domain: d\ndescriptors:\n  - key: a\n    shadow_mode: \"true\"\n"], error: /shadow_mode: cannot unmarshal `true` into bool/ },
    { name: "a list of strings", yaml: ["domain: d\ndescriptors:\n  - a\n"], error: /descriptors\[0\]: config error, yaml file contains list of type other than map/ },
    { name: "not YAML", yaml: ["domain: [\n"], error: /^f0\.yaml: error loading config file: / },
    { name: "two documents", yaml: ["domain: a\n---\ndomain: b\n"], error: /error loading config file/ },
    { name: "a top-level list", yaml: ["- domain: a\n"], error: /the document is not a map/ },
    { name: "duplicate map key", yaml: ["domain: a\ndomain: b\n"], error: /error loading config file: Map keys must be unique/ },
  ];
  for (const c of bad) {
    it(c.name, () => {
      assert.throws(
        () => load(...c.yaml),
        (e: unknown) => {
          assert.ok(e instanceof RateLimitConfigError, `a RateLimitConfigError, got ${String(e)}`);
          assert.match(e.message, c.error);
          return true;
        },
      );
    });
  }

  it("a known key where it means nothing is accepted and reported", () => {
    const warnings: string[] = [];
    parseConfigFile("w.yaml", "domain: d\ndescriptors:\n  - key: a\n    unit: second\n    metadata: {team: x}\n", (m) => warnings.push(m));
    assert.deepEqual(warnings, ["w.yaml: descriptors[0].unit: has no meaning in a descriptor; ignored", "w.yaml: descriptors[0].metadata: descriptor metadata is accepted but not returned (tsmesh ratelimit sends no response dynamic metadata)"]);
  });

  it("merge_domains adds files naming the same domain together", () => {
    const stats = new RateLimitStatsManager();
    const a = { name: "a", root: parseConfigFile("a", "domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: 1}\n") };
    const b = { name: "b", root: parseConfigFile("b", "domain: d\ndescriptors:\n  - key: b\n    rate_limit: {unit: second, requests_per_unit: 2}\n") };
    const cfg = new RateLimitConfig([a, b], stats, true);
    assert.equal(cfg.getLimit("d", d(["b", "x"]))?.requestsPerUnit, 2);
    assert.throws(() => new RateLimitConfig([a, b], stats, false), /duplicate domain 'd'/);
  });
});

describe("ratelimit config: files, ConfigMaps and reloads", () => {
  it("loads Istio's task ConfigMap (examples/ratelimit) as the files it mounts", () => {
    const file = join(packageRoot(), "examples/ratelimit/ratelimit-config.yaml");
    const configs = readConfigFiles([file], () => {});
    assert.equal(configs.length, 1);
    assert.equal(configs[0].name, `${file}[data.config.yaml]`);
    const cfg = new RateLimitConfig(configs, new RateLimitStatsManager());
    assert.equal(cfg.getLimit("ratelimit", d(["PATH", "/productpage"]))?.requestsPerUnit, 1);
  });

  it("reads the reference's RUNTIME_ROOT layout, skipping hidden entries (a mounted ConfigMap's ..data)", () => {
    const root = mkdtempSync(join(tmpdir(), "rl-runtime-"));
    try {
      const dir = join(root, "ratelimit", "config");
      mkdirSync(join(dir, "..2026_01_01"), { recursive: true });
      writeFileSync(join(dir, "..2026_01_01", "config.yaml"), TASK);
      symlinkSync("..2026_01_01", join(dir, "..data"));
      symlinkSync("..data/config.yaml", join(dir, "config.yaml"));
      writeFileSync(join(dir, "notes.txt"), "not config");
      const path = runtimeConfigPath({ RUNTIME_ROOT: root, RUNTIME_SUBDIRECTORY: "ratelimit" });
      assert.equal(path, dir);
      const configs = readConfigFiles([path!], () => {});
      assert.deepEqual(
        configs.map((c) => c.name),
        [join(dir, "config.yaml")],
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("a bad edit keeps the last good config and says why; a fix loads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rl-watch-"));
    const logs: string[] = [];
    const stats = new RateLimitStatsManager();
    let current: RateLimitConfig | undefined;
    const w = new ConfigWatcher({ paths: [dir], stats, onConfig: (c) => (current = c), log: (l, m) => logs.push(`${l}: ${m}`), debounceMs: 20, pollMs: 200 });
    try {
      writeFileSync(join(dir, "config.yaml"), TASK);
      assert.equal(w.start(), true);
      const first = current!;
      assert.equal(first.getLimit("ratelimit", d(["PATH", "/productpage"]))?.requestsPerUnit, 1);
      writeFileSync(join(dir, "config.yaml"), TASK.replace("unit: minute", "unit: fortnight"));
      await eventually("the bad edit reported", () => logs.some((l) => l.includes("invalid rate limit unit 'fortnight'")), 20_000);
      assert.equal(current, first, "the last good config stays");
      assert.equal(stats.service.config_load_error, 1);
      assert.match(logs.find((l) => l.includes("fortnight"))!, /^error: error loading new configuration: .*config\.yaml: descriptors\[0\]: invalid rate limit unit 'fortnight'; the last good configuration stays in force$/);
      writeFileSync(join(dir, "config.yaml"), TASK.replace("requests_per_unit: 1\n", "requests_per_unit: 5\n"));
      await eventually("the fixed file loaded", () => current !== first, 20_000);
      assert.equal(current!.getLimit("ratelimit", d(["PATH", "/productpage"]))?.requestsPerUnit, 5);
      assert.equal(stats.service.config_load_success, 2);
    } finally {
      w.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
