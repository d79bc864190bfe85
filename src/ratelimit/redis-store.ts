// Counters in Redis, shared by every replica pointed at it: per key INCRBY hits + EXPIRE seconds,
// all keys of one request in one pipeline (one round trip), as envoyproxy/ratelimit does. While
// Redis is unreachable calls fail at once (no offline queue) with StoreError, so the proxy's
// failure mode applies; the client reconnects in the background with a capped backoff. A call that
// gets no answer within the timeout fails the same way.
import { createClient } from "@redis/client";
import { StoreError, type CounterIncrement, type CounterStore } from "./limiter.js";

export interface RedisStoreOptions {
  /** redis://[user:pass@]host:port[/db] (or rediss:// for TLS). */
  url: string;
  /** Per call (ms; default 10 s, the reference's REDIS_TIMEOUT). */
  timeoutMs?: number;
  /** Connection state changes and errors (each distinct error once until the state changes). */
  log: (level: "info" | "warning" | "error", message: string) => void;
}

/** `HOST:PORT` (the reference's REDIS_URL with REDIS_SOCKET_TYPE=tcp) or a redis:// URL → a redis:// URL. */
export function redisUrl(v: string): string {
  if (/^rediss?:\/\//.test(v)) return v;
  const m = /^(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`${JSON.stringify(v)} is not HOST:PORT or a redis:// URL`);
  return `redis://${m[1]}:${m[2]}`;
}

/** The URL with any password masked (the reference's MaskCredentialsInUrl), for logs. */
export function maskUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, "$1*****@");
}

export class RedisCounterStore implements CounterStore {
  private readonly client;
  private readonly timeoutMs: number;
  private lastError = "";
  private connectedOnce = false;
  private closed = false;
  /** Called on every change between connected and not. */
  onState: (connected: boolean) => void = () => {};

  constructor(private readonly o: RedisStoreOptions) {
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.client = createClient({
      url: o.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: Math.min(this.timeoutMs, 5000), reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2000) },
    });
    this.client.on("error", (e: Error) => {
      const m = e.message;
      if (m !== this.lastError) this.o.log("error", `redis ${maskUrl(o.url)}: ${m}`);
      this.lastError = m;
    });
    this.client.on("ready", () => {
      this.lastError = "";
      this.o.log("info", `redis ${maskUrl(o.url)}: ${this.connectedOnce ? "reconnected" : "connected"}`);
      this.connectedOnce = true;
      this.onState(true);
    });
    this.client.on("end", () => this.onState(false));
    this.client.on("reconnecting", () => this.onState(false));
    // Resolves on the first connection; until then (and between connections) calls fail fast.
    this.client.connect().catch((e: Error) => {
      if (!this.closed) this.o.log("error", `redis ${maskUrl(o.url)}: ${e.message}`);
    });
  }

  get connected(): boolean {
    return this.client.isReady;
  }

  async increment(items: readonly CounterIncrement[]): Promise<number[]> {
    if (!this.client.isReady) throw new StoreError(`redis ${maskUrl(this.o.url)} is not connected${this.lastError ? `: ${this.lastError}` : ""}`);
    const multi = this.client.multi();
    for (const it of items) multi.incrBy(it.key, it.hits).expire(it.key, it.expireSeconds);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreError(`redis ${maskUrl(this.o.url)}: no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const replies = (await Promise.race([multi.execAsPipeline(), timeout])) as unknown[];
      const out: number[] = [];
      for (let i = 0; i < items.length; i++) {
        const r = replies[2 * i];
        if (typeof r !== "number") throw new StoreError(`redis: INCRBY ${items[i].key} answered ${r instanceof Error ? r.message : typeof r}`);
        out.push(r);
      }
      return out;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new StoreError(`redis ${maskUrl(this.o.url)}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    try {
      if (this.client.isOpen) await this.client.close();
      else this.client.destroy();
    } catch {
      this.client.destroy();
    }
  }
}
