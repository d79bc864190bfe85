// `tsmesh ratelimit`'s inputs: its flags and the reference's environment variables (flags win, HOST
// from `tsmesh up`), the /json body parser (an adversarial table: proto3 JSON only, unknown fields
// and wrong types refused), and the JSON answer in proto3's mapping. Plus the command itself, run as
// a process with the memory store, answering over HTTP and stopping on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { rateLimitOptions } from "../../src/cli/ratelimit.js";
import { parseJsonRequest, responseJson, splitHostPort } from "../../src/ratelimit/server.js";
import { eventually } from "../helpers/eventually.js";
import { httpRequest } from "../helpers/mesh.js";

describe("tsmesh ratelimit: flags and the reference's environment", () => {
  it("defaults: memory, listeners on HOST (else 127.0.0.1) at the reference's ports", () => {
    const o = rateLimitOptions(["--config", "c.yaml"], {});
    assert.equal(o.redisUrl, undefined);
    assert.deepEqual([o.grpcAddress, o.httpAddress, o.debugAddress], ["127.0.0.1:8081", "127.0.0.1:8080", "127.0.0.1:6070"]);
    assert.deepEqual([o.nearLimitRatio, o.expirationJitterMaxSeconds, o.cacheKeyPrefix, o.responseHeaders, o.shadowMode], [0.8, 300, "", false, false]);
    const up = rateLimitOptions(["--config", "c.yaml"], { HOST: "127.128.12.1" });
    assert.deepEqual([up.grpcAddress, up.httpAddress, up.debugAddress], ["127.128.12.1:8081", "127.128.12.1:8080", "127.128.12.1:6070"]);
  });

  it("the reference's variables as Istio's sample sets them", () => {
    const o = rateLimitOptions([], { REDIS_SOCKET_TYPE: "tcp", REDIS_URL: "redis:6379", RUNTIME_ROOT: "/data", RUNTIME_SUBDIRECTORY: "ratelimit", HOST: "::", GRPC_HOST: "::", LIMIT_RESPONSE_HEADERS_ENABLED: "true", LOG_LEVEL: "debug" });
    assert.deepEqual(o.config, ["/data/ratelimit/config"]);
    assert.equal(o.redisUrl, "redis://redis:6379");
    assert.deepEqual([o.grpcAddress, o.httpAddress], ["[::]:8081", "[::]:8080"]);
    assert.equal(o.responseHeaders, true);
    assert.deepEqual(o.headerNames, { limit: "RateLimit-Limit", remaining: "RateLimit-Remaining", reset: "RateLimit-Reset" });
    assert.equal(o.logLevel, 1);
  });

  it("flags win over the environment", () => {
    const o = rateLimitOptions(["--config", "x", "--memory", "--grpc-address", "127.0.0.2:9", "--debug-address", "", "--near-limit-ratio", "0.5"], { REDIS_URL: "redis:6379", NEAR_LIMIT_RATIO: "0.9" });
    assert.equal(o.redisUrl, undefined);
    assert.equal(o.grpcAddress, "127.0.0.2:9");
    assert.equal(o.debugAddress, undefined);
    assert.equal(o.nearLimitRatio, 0.5);
    assert.equal(rateLimitOptions(["--config", "x", "--redis-url", "redis://u:p@127.0.0.1:7000/1"], {}).redisUrl, "redis://u:p@127.0.0.1:7000/1");
  });

  const bad: Array<[string, string[], Record<string, string>, RegExp]> = [
    ["no config", [], {}, /--config FILE\|DIR is needed/],
    ["two stores", ["--config", "x", "--memory", "--redis", "127.0.0.1:6379"], {}, /exclude each other/],
    ["redis not host:port", ["--config", "x", "--redis", "127.0.0.1"], {}, /is not HOST:PORT/],
    ["redis port out of range", ["--config", "x", "--redis", "h:70000"], {}, /is not HOST:PORT/],
    ["a unix socket", ["--config", "x"], { REDIS_URL: "/var/run/nutcracker/ratelimit.sock", REDIS_SOCKET_TYPE: "unix" }, /only tcp/],
    ["memcache", ["--config", "x"], { BACKEND_TYPE: "memcache" }, /memcache is not supported/],
    ["ratio above 1", ["--config", "x", "--near-limit-ratio", "1.5"], {}, /out of range/],
    ["jitter not an integer", ["--config", "x", "--expiration-jitter-max-seconds", "1.5"], {}, /out of range/],
    ["unknown log level", ["--config", "x", "--log-level", "loud"], {}, /--log-level/],
    ["an unknown flag", ["--config", "x", "--redis-pool", "3"], {}, /Unknown option/],
  ];
  for (const [name, argv, env, error] of bad) it(`refused: ${name}`, () => assert.throws(() => rateLimitOptions(argv, env), error));

  it("splitHostPort", () => {
    assert.deepEqual(splitHostPort("127.0.0.1:8081"), ["127.0.0.1", 8081]);
    assert.deepEqual(splitHostPort("[::1]:0"), ["::1", 0]);
    for (const b of ["::1:80", "host", "h:", ":80", "h:99999", "[::1]80"]) assert.throws(() => splitHostPort(b), /is not HOST:PORT/, b);
  });
});

describe("/json: the request parser (proto3 JSON) and the answer", () => {
  it("accepts camelCase and proto names", () => {
    assert.deepEqual(parseJsonRequest('{"domain":"d","descriptors":[{"entries":[{"key":"k","value":"v"}],"limit":{"requests_per_unit":"3","unit":"HOUR"}}],"hits_addend":2}'), {
      domain: "d",
      descriptors: [{ entries: [{ key: "k", value: "v" }], limit: { requestsPerUnit: 3, unit: "HOUR" } }],
      hitsAddend: 2,
    });
    assert.deepEqual(parseJsonRequest('{"domain":"d","descriptors":[{"entries":[{"key":"one_per_day"}]}],"hitsAddend":null}'), { domain: "d", descriptors: [{ entries: [{ key: "one_per_day", value: undefined }] }], hitsAddend: undefined });
  });
  const adversarial: Array<[string, string]> = [
    ["not JSON", "{"],
    ["a list", "[]"],
    ["null", "null"],
    ["unknown top-level field", '{"domain":"d","descriptorz":[]}'],
    ["domain a number", '{"domain":5}'],
    ["descriptors an object", '{"domain":"d","descriptors":{}}'],
    ["a descriptor a string", '{"domain":"d","descriptors":["k=v"]}'],
    ["unknown entry field", '{"domain":"d","descriptors":[{"entries":[{"key":"k","val":"v"}]}]}'],
    ["a value a number", '{"domain":"d","descriptors":[{"entries":[{"key":"k","value":1}]}]}'],
    ["negative hits", '{"domain":"d","descriptors":[],"hitsAddend":-1}'],
    ["hits too large", '{"domain":"d","descriptors":[],"hitsAddend":4294967296}'],
    ["hits fractional", '{"domain":"d","descriptors":[],"hitsAddend":1.5}'],
    ["a limit unit an object", '{"domain":"d","descriptors":[{"entries":[],"limit":{"unit":{}}}]}'],
    ["__proto__ field", '{"domain":"d","__proto__":{"x":1}}'],
  ];
  for (const [name, body] of adversarial) it(`refused: ${name}`, () => assert.throws(() => parseJsonRequest(body)));

  it("answers in proto3's JSON mapping: defaults left out, durations as seconds strings", () => {
    assert.deepEqual(
      responseJson({
        overallCode: "OK",
        statuses: [
          { code: "OK", currentLimit: { requestsPerUnit: 2, unit: "MINUTE", name: "" }, limitRemaining: 1, durationUntilResetSeconds: 30 },
          { code: "OK", limitRemaining: 0 },
        ],
        responseHeadersToAdd: [],
      }),
      { overallCode: "OK", statuses: [{ code: "OK", currentLimit: { requestsPerUnit: 2, unit: "MINUTE" }, limitRemaining: 1, durationUntilReset: "30s" }, { code: "OK" }] },
    );
  });
});

describe("tsmesh ratelimit, the command", () => {
  it("runs with the memory store on HOST, answers /json, stops on SIGTERM", async () => {
    const bin = join(packageRoot(), "dist/src/cli/bin.js");
    const config = join(packageRoot(), "examples/ratelimit/ratelimit-config.yaml");
    const child = spawn(process.execPath, [bin, "ratelimit", "--config", config, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--debug-address", ""], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const http = await eventually("the listening line", () => /HTTP on (127\.0\.0\.1:\d+)/.exec(output)?.[1], 20_000);
      const [host, port] = http.split(":");
      // A limit override per year: two calls never straddle a window boundary in practice.
      const body = JSON.stringify({ domain: "ratelimit", descriptors: [{ entries: [{ key: "PATH", value: "/productpage" }], limit: { requestsPerUnit: 1, unit: "YEAR" } }] });
      assert.equal((await httpRequest(host, Number(port), "/json", { method: "POST", body })).status, 200);
      assert.equal((await httpRequest(host, Number(port), "/json", { method: "POST", body })).status, 429);
      assert.match(output, /counting in memory/);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0);
    assert.match(output, /SIGTERM, stopping/);
  });
});
