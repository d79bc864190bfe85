// Envoy's network local rate limit filter (envoy.filters.network.local_ratelimit): a token bucket
// for new connections on a filter chain; a connection that finds no token is closed at once and
// counted in local_rate_limit.<stat_prefix>.rate_limited. The bucket is the proxy's (the primary's
// under `--concurrency N`); filters with the same share_key share one, as in Envoy.
import { createHash } from "node:crypto";
import type * as v3 from "../../envoy/types.js";
import { type NetworkFilterContext, NETWORK_FILTERS, NetworkFilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../network-filters.js";
import { XdsConfigError } from "../xds-error.js";
import { type BucketSpec, LocalTokenBuckets, tokenBucketSpec } from "./token-bucket.js";

export const NETWORK_LOCAL_RATE_LIMIT_TYPE = "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

type Config = v3.envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit;

/** The process's own buckets when the runtime offers none. */
const processBuckets = new LocalTokenBuckets();

function bucket(c: Config, ctx: NetworkFilterContext): BucketSpec {
  if (!c.tokenBucket) throw new XdsConfigError(`${ctx.path}.tokenBucket`, "token_bucket is required");
  const key = c.shareKey ? `network-share:${c.shareKey}` : `${ctx.path}|${createHash("sha256").update(JSON.stringify(c)).digest("base64url").slice(0, 16)}`;
  return tokenBucketSpec(key, c.tokenBucket, `${ctx.path}.tokenBucket`);
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
