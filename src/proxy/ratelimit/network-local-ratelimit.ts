// Envoy's network local rate limit filter (envoy.filters.network.local_ratelimit): a token bucket
// for new connections on a filter chain; a connection that finds no token is closed at once and
// counted in local_rate_limit.<stat_prefix>.rate_limited. The bucket is the proxy's (the primary's
// under `--concurrency N`); filters with the same share_key share one, as in Envoy.
import { createHash } from "node:crypto";
import { durationMs } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { type NetworkFilterContext, NETWORK_FILTERS, NetworkFilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../network-filters.js";
import { XdsConfigError } from "../xds-error.js";
import { type BucketSpec, LocalTokenBuckets } from "./token-bucket.js";

export const NETWORK_LOCAL_RATE_LIMIT_TYPE = "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

type Config = v3.envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit;

/** The process's own buckets when the runtime offers none. */
const processBuckets = new LocalTokenBuckets();

function bucket(c: Config, ctx: NetworkFilterContext): BucketSpec {
  const tb = c.tokenBucket;
  const path = `${ctx.path}.tokenBucket`;
  if (!tb) throw new XdsConfigError(path, "token_bucket is required");
  const max = tb.maxTokens ?? 0;
  if (!Number.isInteger(max) || max < 1) throw new XdsConfigError(`${path}.maxTokens`, "max_tokens must be greater than 0");
  const perFill = tb.tokensPerFill ? (tb.tokensPerFill.value ?? 0) : 1;
  if (perFill < 1) throw new XdsConfigError(`${path}.tokensPerFill`, "tokens_per_fill must be greater than 0");
  const ms = durationMs(tb.fillInterval);
  if (ms === undefined || !(ms > 0)) throw new XdsConfigError(`${path}.fillInterval`, "fill_interval must be greater than 0");
  const key = c.shareKey ? `network-share:${c.shareKey}` : `${ctx.path}|${createHash("sha256").update(JSON.stringify(c)).digest("base64url").slice(0, 16)}`;
  return { key, maxTokens: max, fillRate: perFill / (ms / 1000) };
}

NETWORK_FILTERS.register([NETWORK_LOCAL_RATE_LIMIT_TYPE], {
  terminal: false,
  compile(config, ctx) {
    const c = config as Config;
    if (!c.statPrefix) throw new XdsConfigError(`${ctx.path}.statPrefix`, "stat_prefix must not be empty");
    const spec = bucket(c, ctx);
    // runtime_enabled: its default value (tsmesh has no runtime overrides), true when absent.
    const enabled = c.runtimeEnabled?.defaultValue === undefined ? true : c.runtimeEnabled.defaultValue.value === true;
    const rateLimited = ctx.stats.counter(`local_rate_limit.${c.statPrefix}.rate_limited`);
    const store = ctx.runtime.tokenBuckets ?? processBuckets;
    const plan = [spec];
    return {
      terminal: false,
      name: ctx.name,
      create(): ReadFilter {
        let gone = false;
        return {
          onNewConnection(cb: ReadFilterCallbacks): NetworkFilterStatus {
            if (!enabled) return NetworkFilterStatus.Continue;
            const refuse = () => {
              rateLimited.inc();
              cb.close();
            };
            const v = store.consume(plan);
            if (!(v instanceof Promise)) {
              if (v.allowed) return NetworkFilterStatus.Continue;
              refuse();
              return NetworkFilterStatus.StopIteration;
            }
            void v.then((verdict) => {
              if (gone) return;
              if (verdict.allowed) cb.continueReading();
              else refuse();
            });
            return NetworkFilterStatus.StopIteration;
          },
          onDestroy() {
            gone = true;
          },
        };
      },
    };
  },
});
