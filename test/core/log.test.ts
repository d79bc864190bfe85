// Leveled, named loggers: Envoy's line format, levels per logger, the sink untouched below a
// logger's level, and the parsers /logging and --component-log-level share (tables).
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyLoggingQuery, DEBUG, ERROR, INFO, LogRegistry, OFF, parseComponentLevels, parseLogLevel, TRACE, WARNING } from "../../src/core/log.js";

test("a line is Envoy's default format, with the process id; nothing reaches the sink below the level", () => {
  const lines: string[] = [];
  const logs = new LogRegistry(["config", "upstream"], (l) => lines.push(l));
  const config = logs.get("config");
  config.trace("t");
  config.debug("d");
  config.info("i");
  config.warn("w");
  config.error("e");
  config.critical("c");
  assert.equal(lines.length, 4);
  assert.match(lines[0], new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\]\\[${process.pid}\\]\\[info\\]\\[config\\] i$`));
  assert.deepEqual(
    lines.map((l) => /\]\[(\w+)\]\[config\] (\w)$/.exec(l)!.slice(1).join(" ")),
    ["info i", "warning w", "error e", "critical c"],
  );
  lines.length = 0;
  logs.get("upstream").level = OFF;
  logs.get("upstream").critical("gone");
  config.level = TRACE;
  config.trace("now");
  assert.deepEqual(lines.map((l) => l.replace(/^\[[^\]]+\]\[\d+\]/, "")), ["[trace][config] now"]);
  assert.equal(config.enabled(TRACE), true);
  assert.equal(logs.get("upstream").enabled(ERROR), false);
  assert.throws(() => logs.get("nope"), /no logger named "nope"/);
});

test("levels: listed sorted by name; setAll, set (all or nothing), follow (ignores unknown names)", () => {
  const logs = new LogRegistry(["upstream", "admin", "config"], () => {});
  assert.deepEqual(logs.levels(), [["admin", "info"], ["config", "info"], ["upstream", "info"]]);
  logs.setAll(WARNING);
  assert.equal(logs.set(new Map([["config", DEBUG], ["nope", INFO]])), "unknown logger name");
  assert.deepEqual(logs.levels().map(([, l]) => l), ["warning", "warning", "warning"], "nothing set");
  assert.equal(logs.set(new Map([["config", DEBUG]])), undefined);
  logs.follow([["admin", "error"], ["gone", "debug"], ["upstream", "loud"]]);
  assert.deepEqual(logs.levels(), [["admin", "error"], ["config", "debug"], ["upstream", "warning"]]);
});

test("parseLogLevel and parseComponentLevels (table)", () => {
  assert.deepEqual(["trace", "debug", "info", "warning", "error", "critical", "off", "warn", "INFO", ""].map(parseLogLevel), [0, 1, 2, 3, 4, 5, 6, undefined, undefined, undefined]);
  const cases: Array<[string, Array<[string, number]> | string]> = [
    ["config:debug", [["config", DEBUG]]],
    ["config:debug, upstream:trace", [["config", DEBUG], ["upstream", TRACE]]],
    ["config:debug,,", [["config", DEBUG]]],
    ["", []],
    ["config", "empty logger name or empty logger level"],
    [":debug", "empty logger name or empty logger level"],
    ["config:", "empty logger name or empty logger level"],
    ["config:loud", "unknown logger level"],
  ];
  for (const [spec, want] of cases) {
    const got = parseComponentLevels(spec);
    assert.deepEqual(typeof got === "string" ? got : [...got], want, spec);
  }
});

test("applyLoggingQuery: Envoy's /logging rules, the change announced before it is made (table)", () => {
  const cases: Array<[string, { error?: string; changed: Array<[string, string]> }, string]> = [
    ["", { changed: [] }, "info info"],
    ["level=debug", { changed: [["*", "debug"]] }, "debug debug"],
    ["config=error", { changed: [["config", "error"]] }, "error info"],
    ["paths=config:trace,upstream:warning", { changed: [["config", "trace"], ["upstream", "warning"]] }, "trace warning"],
    ["level=debug&config=info", { error: "invalid number of parameters", changed: [] }, "info info"],
    ["nope=debug", { error: "unknown logger name", changed: [] }, "info info"],
    ["paths=config:debug,nope:info", { error: "unknown logger name", changed: [] }, "info info"],
    ["level=", { error: "unknown logger level", changed: [] }, "info info"],
  ];
  for (const [q, want, after] of cases) {
    const logs = new LogRegistry(["config", "upstream"], () => {});
    const announced: string[] = [];
    const got = applyLoggingQuery(logs, new URLSearchParams(q), (name, level) => announced.push(`${name}=${level}:${logs.levels().map(([, l]) => l).join(",")}`));
    assert.deepEqual(got, want, q);
    assert.equal(logs.levels().map(([, l]) => l).join(" "), after, q);
    assert.equal(announced.length, got.changed.length, q);
    // Announced while the old levels were still in effect.
    for (const a of announced) assert.ok(a.endsWith(":info,info"), `${q}: ${a}`);
  }
});
