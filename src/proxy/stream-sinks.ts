// Proxy-wide observers of finished streams that no config names: `tsmesh tap` while a tapper is
// connected. The request path asks `active` first, so with nobody observing it builds nothing.
import type { HttpStreamInfo, TcpStreamInfo } from "./stream-info.js";

export interface StreamSink {
  onHttpStream?(info: HttpStreamInfo): void;
  onTcpConnection?(info: TcpStreamInfo): void;
}

export class StreamSinks {
  private sinks: readonly StreamSink[] = [];

  /** Whether any sink is registered (checked per stream before building a StreamInfo). */
  get active(): boolean {
    return this.sinks.length > 0;
  }

  /** Registers a sink; the returned function removes it. */
  add(sink: StreamSink): () => void {
    this.sinks = [...this.sinks, sink];
    return () => {
      this.sinks = this.sinks.filter((s) => s !== sink);
    };
  }

  http(info: HttpStreamInfo): void {
    for (const s of this.sinks) s.onHttpStream?.(info);
  }

  tcp(info: TcpStreamInfo): void {
    for (const s of this.sinks) s.onTcpConnection?.(info);
  }
}
