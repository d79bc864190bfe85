// Envoy header mutations: append actions (and the legacy `append`), keepEmptyValue,
// remove-before-add, overwrite-then-add ordering, the substitution formatter, and config errors.
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { decodeMessage, encodeMessage } from "../../../src/envoy/protos.js";
import type { HeaderValueOption, Route } from "../../../src/envoy/types.js";
import {
  addHeader,
  applyHeaderMutations,
  compileHeaderValueOption,
  getHeader,
  hasHeader,
  HeaderMutations,
  removeHeader,
  type FormatterVars,
  type HeaderMap,
} from "../../../src/proxy/http/headers.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";

function run(start: HeaderMap, toAdd: HeaderValueOption[], toRemove: string[] = [], vars?: FormatterVars): HeaderMap {
  const h: HeaderMap = structuredClone(start);
  const m = HeaderMutations.compile(toAdd, toRemove);
  m?.apply(h, vars);
  return h;
}

const opt = (key: string, value: string, extra: HeaderValueOption = {}): HeaderValueOption => ({ header: { key, value }, ...extra });

/** A HeaderValueOption as the decoders give it (an enum value the schema lacks stays a number). */
const decodedOption = (o: object): HeaderValueOption =>
  decodeMessage("envoy.config.core.v3.HeaderValueOption", encodeMessage("envoy.config.core.v3.HeaderValueOption", o)) as HeaderValueOption;

describe("append actions", () => {
  const cases: [string, HeaderValueOption, HeaderMap, HeaderMap][] = [
    ["default appends to an existing header", {}, { x: "old" }, { x: ["old", "new"] }],
    ["default adds a missing header", {}, {}, { x: "new" }],
    ["APPEND_IF_EXISTS_OR_ADD", { appendAction: "APPEND_IF_EXISTS_OR_ADD" }, { x: ["a", "b"] }, { x: ["a", "b", "new"] }],
    ["ADD_IF_ABSENT when present", { appendAction: "ADD_IF_ABSENT" }, { x: "old" }, { x: "old" }],
    ["ADD_IF_ABSENT when absent", { appendAction: "ADD_IF_ABSENT" }, {}, { x: "new" }],
    ["OVERWRITE_IF_EXISTS_OR_ADD when present", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }, { x: ["a", "b"] }, { x: "new" }],
    ["OVERWRITE_IF_EXISTS_OR_ADD when absent", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }, {}, { x: "new" }],
    ["OVERWRITE_IF_EXISTS when present", { appendAction: "OVERWRITE_IF_EXISTS" }, { x: "old" }, { x: "new" }],
    ["OVERWRITE_IF_EXISTS when absent", { appendAction: "OVERWRITE_IF_EXISTS" }, {}, {}],
    ["legacy append: true", { append: { value: true } }, { x: "old" }, { x: ["old", "new"] }],
    ["legacy append: false (BoolValue {} as decoded)", { append: {} }, { x: "old" }, { x: "new" }],
  ];
  for (const [name, extra, start, want] of cases) {
    it(name, () => assert.deepEqual(run(start, [opt("X", "new", extra)]), want));
  }

  it("empty values are skipped unless keepEmptyValue", () => {
    assert.deepEqual(run({}, [opt("x", "")]), {});
    assert.deepEqual(run({}, [{ header: { key: "x" } }]), {});
    assert.deepEqual(run({}, [opt("x", "", { keepEmptyValue: true })]), { x: "" });
    assert.deepEqual(run({ x: "a" }, [opt("x", "", { keepEmptyValue: true, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" })]), { x: "" });
  });

  it("removes first, then overwrites, then adds (in config order)", () => {
    const toAdd = [opt("a", "1"), opt("a", "2", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }), opt("a", "3"), opt("b", "x", { appendAction: "ADD_IF_ABSENT" })];
    // The overwrite happens before both adds; b was removed, so ADD_IF_ABSENT adds it back.
    assert.deepEqual(run({ a: "0", b: "old", c: "keep" }, toAdd, ["B"]), { a: ["2", "1", "3"], b: "x", c: "keep" });
  });

  it("conditions see the headers before this level's own changes", () => {
    // Two ADD_IF_ABSENT for an absent header both add; OVERWRITE_IF_EXISTS does not see an add of the same level.
    assert.deepEqual(run({}, [opt("a", "1", { appendAction: "ADD_IF_ABSENT" }), opt("a", "2", { appendAction: "ADD_IF_ABSENT" })]), { a: ["1", "2"] });
    assert.deepEqual(run({}, [opt("a", "1"), opt("a", "2", { appendAction: "OVERWRITE_IF_EXISTS" })]), { a: "1" });
  });

  it("the last overwrite of a name wins", () => {
    const set: HeaderValueOption = { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" };
    assert.deepEqual(run({ a: "0" }, [opt("a", "1", set), opt("a", "2", set)]), { a: "2" });
  });

  it("keys are lowercased and removal is case-insensitive", () => {
    assert.deepEqual(run({ "x-remove-me": "1" }, [opt("X-Added", "v")], ["X-Remove-Me"]), { "x-added": "v" });
  });

  it("works on the form the proxy decodes from xDS", () => {
    const route: Route = { match: { prefix: "/" }, route: { cluster: "c" }, requestHeadersToAdd: [opt("x-a", "1", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }), opt("x-b", "2", { append: { value: false } })] };
    const decoded = decodeMessage("envoy.config.route.v3.Route", encodeMessage("envoy.config.route.v3.Route", route)) as Route;
    assert.deepEqual(run({ "x-a": "0", "x-b": "0" }, decoded.requestHeadersToAdd ?? []), { "x-a": "1", "x-b": "2" });
  });
});

describe("formatter", () => {
  const vars: FormatterVars = {
    downstreamRemoteAddress: "10.1.2.3:51234",
    downstreamLocalAddress: "[fd00::1]:9080",
    upstreamHost: "10.9.9.9:8080",
    upstreamCluster: "outbound|9080||reviews.default.svc.cluster.local",
    protocol: "HTTP/1.1",
    routeName: "r1",
    requestedServerName: "sni.example",
    startTimeMs: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    requestHeaders: { "x-user": "jason", "x-alt": "alt", multi: ["a", "b"] },
    responseHeaders: { server: "envoy" },
  };
  const cases: [string, string][] = [
    ["plain", "plain"],
    ["100%%", "100%"],
    ["%DOWNSTREAM_REMOTE_ADDRESS%", "10.1.2.3:51234"],
    ["%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.1.2.3"],
    ["%DOWNSTREAM_REMOTE_PORT%", "51234"],
    ["%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%", "10.1.2.3"],
    ["%DOWNSTREAM_LOCAL_ADDRESS%", "[fd00::1]:9080"],
    ["%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "fd00::1"],
    ["%DOWNSTREAM_LOCAL_PORT%", "9080"],
    ["%UPSTREAM_HOST%", "10.9.9.9:8080"],
    ["%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.9.9.9"],
    ["%UPSTREAM_CLUSTER%", "outbound|9080||reviews.default.svc.cluster.local"],
    ["%PROTOCOL%", "HTTP/1.1"],
    ["%ROUTE_NAME%", "r1"],
    ["%REQUESTED_SERVER_NAME%", "sni.example"],
    ["%START_TIME%", "2024-01-02T03:04:05.678Z"],
    ["%HOSTNAME%", hostname()],
    ["user=%REQ(X-User)%;", "user=jason;"],
    ["%REQ(x-missing?X-Alt)%", "alt"],
    ["%REQ(multi)%", "a,b"],
    ["%REQ(x-user):3%", "jas"],
    ["%RESP(server)%", "envoy"],
    ["a%PROTOCOL%b%%c%ROUTE_NAME%", "aHTTP/1.1b%cr1"],
    ["%SOMETHING_ENVOY_KNOWS%", ""],
  ];
  for (const [format, want] of cases) {
    it(`${format} → ${JSON.stringify(want)}`, () => assert.deepEqual(run({}, [opt("x", format, { keepEmptyValue: true })], [], vars), { x: want }));
  }

  it("renders missing variables as empty (and skips the header)", () => {
    assert.deepEqual(run({}, [opt("x", "%DOWNSTREAM_REMOTE_ADDRESS%")]), {});
  });

  it("rejects a % that starts no command, as Envoy does", () => {
    for (const bad of ["50%", "%lower%", "%REQ(x%", "a%b"]) {
      assert.throws(() => HeaderMutations.compile([opt("x", bad)], [], "requestHeadersToAdd"), (err: unknown) => {
        assert.ok(err instanceof XdsConfigError);
        assert.equal(err.path, "requestHeadersToAdd[0].header.value");
        assert.match(err.message, /Couldn't find valid command at position/);
        return true;
      }, bad);
    }
  });
});

describe("config errors", () => {
  const cases: [string, HeaderValueOption[], string[], string][] = [
    [":path", [opt(":path", "/x")], [], "headersToAdd[0].header.key: :-prefixed or host headers may not be modified"],
    ["host", [opt("Host", "x")], [], "headersToAdd[0].header.key: :-prefixed or host headers may not be modified"],
    ["remove :authority", [], [":authority"], "headersToRemove[0]: :-prefixed or host headers may not be removed"],
    ["remove host", [], ["HOST"], "headersToRemove[0]: :-prefixed or host headers may not be removed"],
    ["append and appendAction", [opt("x", "1", { append: { value: true }, appendAction: "ADD_IF_ABSENT" })], [], "headersToAdd[0]: Both append and append_action are set and it's not allowed"],
    ["empty key", [opt("", "1")], [], "headersToAdd[0].header.key: header name must not be empty"],
    ["no header", [{ appendAction: "ADD_IF_ABSENT" }], [], "headersToAdd[0].header: header is required"],
    ["CRLF in value", [opt("x", "a\r\nb: c")], [], "headersToAdd[0].header.value: invalid header value"],
    ["an append action the schema lacks", [decodedOption({ header: { key: "x", value: "1" }, appendAction: 7 })], [], "headersToAdd[0].appendAction: unknown append action 7"],
  ];
  for (const [name, toAdd, toRemove, want] of cases) {
    it(name, () => {
      assert.throws(() => HeaderMutations.compile(toAdd, toRemove), (err: unknown) => {
        assert.ok(err instanceof XdsConfigError);
        assert.equal(err.message, want);
        return true;
      });
    });
  }

  it("nothing to do compiles to undefined", () => {
    assert.equal(HeaderMutations.compile([], []), undefined);
    assert.equal(HeaderMutations.compile(undefined, undefined), undefined);
  });

  it("compileHeaderValueOption exposes the compiled option", () => {
    const o = compileHeaderValueOption(opt("X-A", "%PROTOCOL%", { append: {} }), "p");
    assert.equal(o.key, "x-a");
    assert.equal(o.action, "OVERWRITE_IF_EXISTS_OR_ADD");
    assert.ok(o.format);
    const lit = compileHeaderValueOption(opt("x", "100%%"), "p");
    assert.equal(lit.format, undefined);
    assert.equal(lit.literal, "100%");
  });
});

describe("header map helpers", () => {
  it("getHeader joins repeated values with ',' and ignores prototype keys", () => {
    assert.equal(getHeader({ a: ["1", "2"] }, "a"), "1,2");
    assert.equal(getHeader({ a: "1" }, "a"), "1");
    assert.equal(getHeader({ a: [] }, "a"), undefined);
    assert.equal(getHeader({}, "constructor"), undefined);
    assert.equal(hasHeader({}, "toString"), false);
    assert.equal(hasHeader({ a: "" }, "a"), true);
  });

  it("addHeader never mutates a shared array", () => {
    const shared = ["1"];
    const h: HeaderMap = { a: shared };
    addHeader(h, "a", "2");
    assert.deepEqual(h.a, ["1", "2"]);
    assert.deepEqual(shared, ["1"]);
    removeHeader(h, "a");
    assert.equal("a" in h, false);
  });

  it("applyHeaderMutations takes the decoded lists directly (compiled once per list)", () => {
    const toAdd = [opt("x-a", "1"), opt("x-b", "2", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" })];
    const toRemove = ["x-gone"];
    for (let i = 0; i < 3; i++) {
      const h: HeaderMap = { "x-gone": "1", "x-b": "0" };
      applyHeaderMutations(h, toAdd, toRemove, {});
      assert.deepEqual(h, { "x-a": "1", "x-b": "2" });
    }
    const h: HeaderMap = { "x-gone": "1" };
    applyHeaderMutations(h, undefined, ["x-gone"]);
    assert.deepEqual(h, {});
    assert.throws(() => applyHeaderMutations({}, [opt(":method", "GET")], undefined), /requestHeadersToAdd\[0\]\.header\.key: :-prefixed/);
  });

  it("many options do not break the scratch space", () => {
    const toAdd = Array.from({ length: 40 }, (_, i) => opt(`h${i}`, String(i), { appendAction: i % 2 ? "OVERWRITE_IF_EXISTS_OR_ADD" : "APPEND_IF_EXISTS_OR_ADD" }));
    const h = run({}, toAdd);
    assert.equal(Object.keys(h).length, 40);
    assert.equal(h.h39, "39");
  });
});
