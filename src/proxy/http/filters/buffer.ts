// Envoy's buffer filter (envoy.filters.http.buffer): the whole request body is read before the
// request goes on (for upstreams that cannot take a streamed body), up to max_request_bytes — past
// it the request gets 413 Payload Too Large. Once buffered, a request without Content-Length gets
// one. A route's BufferPerRoute disables it there or sets its own limit.
import type * as http from "node:http";
import type * as v3 from "../../../envoy/types.js";
import type { Counter } from "../../stats.js";
import { XdsConfigError } from "../../xds-error.js";
import { DataStatus, type FilterCallbacks, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";

const BUFFER_TYPE = "envoy.extensions.filters.http.buffer.v3.Buffer";
const BUFFER_PER_ROUTE_TYPE = "envoy.extensions.filters.http.buffer.v3.BufferPerRoute";

// The filter's messages, as decoded. The generated types cover the schema tsmesh ships with the
// proxy; these two come from Envoy's full API, loaded when a config names them.
/** envoy.extensions.filters.http.buffer.v3.Buffer */
interface BufferMessage {
  maxRequestBytes?: v3.UInt32Value;
}
/** envoy.extensions.filters.http.buffer.v3.BufferPerRoute */
interface BufferPerRouteMessage {
  disabled?: boolean;
  buffer?: BufferMessage;
}

interface BufferConfig {
  maxRequestBytes: number;
}

interface BufferPerRoute {
  disabled: boolean;
  buffer?: BufferConfig;
}

function bufferConfig(c: BufferMessage, path: string): BufferConfig {
  const v = c.maxRequestBytes?.value ?? 0;
  if (v <= 0) throw new XdsConfigError(`${path}.maxRequestBytes`, "max_request_bytes must be set and greater than 0");
  return { maxRequestBytes: v };
}

function perRoute(c: BufferPerRouteMessage, path: string): BufferPerRoute {
  if (c.disabled === true) return { disabled: true };
  if (c.buffer === undefined) throw new XdsConfigError(path, "BufferPerRoute needs disabled or buffer");
  return { disabled: false, buffer: bufferConfig(c.buffer, `${path}.buffer`) };
}

class BufferFilter implements HttpFilter {
  private limit = 0;
  private size = 0;
  private headers: http.OutgoingHttpHeaders | undefined = undefined;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly config: BufferConfig,
    private readonly tooLarge: Counter,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders, endStream: boolean): FilterStatus {
    const per = this.cb.perRouteConfig<BufferPerRoute>();
    if (per?.disabled === true || endStream) return FilterStatus.Continue;
    this.limit = (per?.buffer ?? this.config).maxRequestBytes;
    this.headers = headers;
    return FilterStatus.StopIteration;
  }

  decodeData(chunk: Buffer, endStream: boolean): DataStatus {
    const headers = this.headers;
    if (headers === undefined) return DataStatus.Continue;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.headers = undefined;
      this.tooLarge.inc();
      this.cb.sendLocalReply({ status: 413, body: "Payload Too Large", details: "request_payload_too_large" });
      return DataStatus.StopIterationNoBuffer;
    }
    if (!endStream) return DataStatus.StopIterationAndBuffer;
    if (headers["content-length"] === undefined) headers["content-length"] = String(this.size);
    this.headers = undefined;
    return DataStatus.Continue;
  }
}

registerHttpFilter([BUFFER_TYPE], {
  terminal: false,
  create(config: BufferMessage, ctx) {
    const cfg = bufferConfig(config, ctx.path);
    const tooLarge = ctx.stats.scope("buffer").counter("rq_too_large");
    return { create: (cb) => new BufferFilter(cb, cfg, tooLarge) };
  },
  perRoute: { types: [BUFFER_PER_ROUTE_TYPE], compile: perRoute },
});
