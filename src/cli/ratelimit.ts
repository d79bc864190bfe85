// `tsmesh ratelimit`: the global rate-limit service (envoyproxy/ratelimit's role) — its YAML config
// (watched), counters in Redis (shared by replicas) or in memory (one instance), gRPC on 8081, HTTP
// on 8080, debug on 6070. Flags win; the reference's environment variables are read when a flag is
// absent, so its Kubernetes manifests' settings carry over (REDIS_URL, RUNTIME_ROOT…, GRPC_HOST…).
import { parseArgs } from "node:util";
import { LogRegistry, parseLogLevel, type LogLevel } from "../core/log.js";
import { realClock, type Clock } from "../core/clock.js";
import { ConfigWatcher, runtimeConfigPath } from "../ratelimit/config-source.js";
import { FixedWindowLimiter, type CounterStore } from "../ratelimit/limiter.js";
import { MemoryCounterStore } from "../ratelimit/memory-store.js";
import { maskUrl, RedisCounterStore, redisUrl } from "../ratelimit/redis-store.js";
import { RateLimitServer } from "../ratelimit/server.js";
import { DEFAULT_RESPONSE_HEADERS, RateLimitService } from "../ratelimit/service.js";
import { RateLimitStatsManager } from "../ratelimit/stats.js";

export const RATELIMIT_USAGE = `tsmesh ratelimit [--config FILE|DIR]... [--redis HOST:PORT | --redis-url URL | --memory]
                 [--host IP] [--grpc-address HOST:8081] [--http-address HOST:8080] [--debug-address HOST:6070|""]
                 [--near-limit-ratio 0.8] [--cache-key-prefix P] [--expiration-jitter-max-seconds 300]
                 [--response-headers] [--shadow-mode] [--merge-domains] [--log-level info]
      The global rate-limit service (envoyproxy/ratelimit): envoy.service.ratelimit.v3 over gRPC,
      its YAML (domain, descriptors, rate_limit, shadow_mode…; files or folders, or a ConfigMap file;
      watched, a bad edit keeps the last good config), fixed windows counted in Redis (replicas share
      limits) or, with --memory (the default without Redis), in this process. HTTP: /healthcheck,
      /json, /metrics; debug: /stats, /rlconfig. Without flags the reference's environment variables
      apply (RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/RUNTIME_APPDIRECTORY, REDIS_URL, GRPC_HOST, GRPC_PORT,
      DEBUG_HOST, DEBUG_PORT, NEAR_LIMIT_RATIO, CACHE_KEY_PREFIX, EXPIRATION_JITTER_MAX_SECONDS,
      SHADOW_MODE, LIMIT_RESPONSE_HEADERS_ENABLED, LIMIT_LIMIT_HEADER, LIMIT_REMAINING_HEADER,
      LIMIT_RESET_HEADER, MERGE_DOMAIN_CONFIG, LOG_LEVEL); HOST (set by \`tsmesh up\`) is the
      listeners' address, default 127.0.0.1.`;

class UsageError extends Error {}

/** Wall-clock time for the windows (the reference uses Unix time); the timers are realClock's. */
const wallClock: Clock = { ...realClock, now: () => Date.now() };

export interface RateLimitCliOptions {
  config: string[];
  redisUrl?: string;
  grpcAddress: string;
  httpAddress?: string;
  debugAddress?: string;
  nearLimitRatio: number;
  cacheKeyPrefix: string;
  expirationJitterMaxSeconds: number;
  responseHeaders: boolean;
  shadowMode: boolean;
  mergeDomains: boolean;
  logLevel: LogLevel;
  headerNames: { limit: string; remaining: string; reset: string };
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|t|true)$/i.test(v);

function hostPort(host: string, port: string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Flags and the reference's environment → options; throws UsageError. */
export function rateLimitOptions(argv: string[], env: Readonly<Record<string, string | undefined>>): RateLimitCliOptions {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      config: { type: "string", multiple: true },
      redis: { type: "string" },
      "redis-url": { type: "string" },
      memory: { type: "boolean" },
      host: { type: "string" },
      "grpc-address": { type: "string" },
      "http-address": { type: "string" },
      "debug-address": { type: "string" },
      "near-limit-ratio": { type: "string" },
      "cache-key-prefix": { type: "string" },
      "expiration-jitter-max-seconds": { type: "string" },
      "response-headers": { type: "boolean" },
      "shadow-mode": { type: "boolean" },
      "merge-domains": { type: "boolean" },
      "log-level": { type: "string" },
    },
  });
  const config = values.config ?? [];
  if (config.length === 0) {
    const p = runtimeConfigPath(env);
    if (!p) throw new UsageError("--config FILE|DIR is needed (or RUNTIME_ROOT as the reference reads it)");
    config.push(p);
  }
  const backends = [values.redis, values["redis-url"], values.memory].filter((v) => v !== undefined);
  if (backends.length > 1) throw new UsageError("--redis, --redis-url and --memory exclude each other");
  if (env.BACKEND_TYPE && env.BACKEND_TYPE !== "redis" && backends.length === 0) throw new UsageError(`BACKEND_TYPE=${env.BACKEND_TYPE}: tsmesh ratelimit counts in Redis or in memory (--memory); memcache is not supported`);
  let url: string | undefined;
  try {
    if (values.redis !== undefined) url = redisUrl(values.redis);
    else if (values["redis-url"] !== undefined) url = redisUrl(values["redis-url"]);
    else if (!values.memory && env.REDIS_URL) {
      if (env.REDIS_SOCKET_TYPE !== undefined && env.REDIS_SOCKET_TYPE !== "tcp") throw new Error(`REDIS_SOCKET_TYPE=${env.REDIS_SOCKET_TYPE}: only tcp is supported`);
      url = redisUrl(env.REDIS_URL);
    }
  } catch (e) {
    throw new UsageError(`--redis: ${(e as Error).message}`);
  }
  const host = values.host ?? env.HOST ?? "127.0.0.1";
  const grpcAddress = values["grpc-address"] ?? hostPort(env.GRPC_HOST ?? host, env.GRPC_PORT ?? "8081");
  const httpAddress = values["http-address"] ?? hostPort(host, "8080");
  const debugAddress = values["debug-address"] ?? hostPort(env.DEBUG_HOST ?? host, env.DEBUG_PORT ?? "6070");
  const num = (v: string | undefined, d: number, what: string, ok: (n: number) => boolean) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || !ok(n)) throw new UsageError(`${what}: ${JSON.stringify(v)} is out of range`);
    return n;
  };
  const level = parseLogLevel((values["log-level"] ?? env.LOG_LEVEL ?? "info").toLowerCase().replace(/^warn$/, "warning"));
  if (level === undefined) throw new UsageError("--log-level must be one of trace debug info warning error critical off");
  return {
    config,
    redisUrl: url,
    grpcAddress,
    httpAddress: httpAddress === "" ? undefined : httpAddress,
    debugAddress: debugAddress === "" ? undefined : debugAddress,
    nearLimitRatio: num(values["near-limit-ratio"] ?? env.NEAR_LIMIT_RATIO, 0.8, "--near-limit-ratio", (n) => n >= 0 && n <= 1),
    cacheKeyPrefix: values["cache-key-prefix"] ?? env.CACHE_KEY_PREFIX ?? "",
    expirationJitterMaxSeconds: num(values["expiration-jitter-max-seconds"] ?? env.EXPIRATION_JITTER_MAX_SECONDS, 300, "--expiration-jitter-max-seconds", (n) => Number.isInteger(n) && n >= 0 && n <= 86_400),
    responseHeaders: values["response-headers"] ?? truthy(env.LIMIT_RESPONSE_HEADERS_ENABLED),
    shadowMode: values["shadow-mode"] ?? truthy(env.SHADOW_MODE),
    mergeDomains: values["merge-domains"] ?? truthy(env.MERGE_DOMAIN_CONFIG),
    logLevel: level,
    headerNames: {
      limit: env.LIMIT_LIMIT_HEADER || DEFAULT_RESPONSE_HEADERS.limit,
      remaining: env.LIMIT_REMAINING_HEADER || DEFAULT_RESPONSE_HEADERS.remaining,
      reset: env.LIMIT_RESET_HEADER || DEFAULT_RESPONSE_HEADERS.reset,
    },
  };
}

export interface RunningRateLimit {
  server: RateLimitServer;
  service: RateLimitService;
  close(): Promise<void>;
}

/** Starts the service with `o` (tests run it in-process); the caller closes it. */
export async function startRateLimit(o: RateLimitCliOptions, sink?: (line: string) => void, clock: Clock = wallClock): Promise<RunningRateLimit> {
  const logger = new LogRegistry(["ratelimit"], sink, o.logLevel).get("ratelimit");
  const log = (level: "info" | "warning" | "error" | "debug", m: string) => (level === "debug" ? logger.debug(m) : level === "info" ? logger.info(m) : level === "warning" ? logger.warn(m) : logger.error(m));
  const stats = new RateLimitStatsManager();
  let store: CounterStore;
  let storeHealthy: () => boolean;
  if (o.redisUrl) {
    const redis = new RedisCounterStore({ url: o.redisUrl, log });
    let everConnected = false;
    redis.onState = (up) => {
      everConnected ||= up;
    };
    // As the reference: healthy once Redis was reached; later outages show as errors on calls.
    storeHealthy = () => everConnected;
    store = redis;
    log("info", `counting in redis ${maskUrl(o.redisUrl)}`);
  } else {
    store = new MemoryCounterStore({ clock });
    storeHealthy = () => true;
    log("info", "counting in memory (one instance; replicas would not share limits)");
  }
  const limiter = new FixedWindowLimiter(store, { clock, nearLimitRatio: o.nearLimitRatio, cacheKeyPrefix: o.cacheKeyPrefix, expirationJitterMaxSeconds: o.expirationJitterMaxSeconds });
  const service = new RateLimitService(limiter, stats, {
    globalShadowMode: o.shadowMode,
    responseHeaders: o.responseHeaders ? o.headerNames : undefined,
    debug: logger.enabled(1) ? (m) => logger.debug(m) : undefined,
  });
  const watcher = new ConfigWatcher({ paths: o.config, stats, mergeDomains: o.mergeDomains, onConfig: (c) => service.setConfig(c), log });
  watcher.start();
  const server = new RateLimitServer({ service, grpcAddress: o.grpcAddress, httpAddress: o.httpAddress, debugAddress: o.debugAddress, storeHealthy, log });
  try {
    await server.start();
  } catch (e) {
    watcher.close();
    await server.close();
    await store.close();
    throw e;
  }
  log("info", `listening for gRPC on ${server.addresses.grpc}${server.addresses.http ? `, HTTP on ${server.addresses.http}` : ""}${server.addresses.debug ? `, debug on ${server.addresses.debug}` : ""}`);
  return {
    server,
    service,
    close: async () => {
      server.markTerminating();
      watcher.close();
      await server.close();
      await store.close();
    },
  };
}

export async function runRateLimitCli(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    out(RATELIMIT_USAGE);
    return 0;
  }
  let o: RateLimitCliOptions;
  try {
    o = rateLimitOptions(argv, process.env);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`tsmesh ratelimit: ${(e as Error).message}\n\n${RATELIMIT_USAGE}`);
      return 2;
    }
    throw e;
  }
  let running: RunningRateLimit;
  try {
    running = await startRateLimit(o);
  } catch (e) {
    err(`tsmesh ratelimit: ${(e as Error).message}`);
    return 1;
  }
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  out(`tsmesh ratelimit: ${signal}, stopping`);
  await running.close();
  return 0;
}
