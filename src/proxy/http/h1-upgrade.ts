// The downstream side of an HTTP/1.1 upgrade (WebSocket and the like), on the raw socket the HTTP/1
// codec gave up: as in Envoy's upgrade mode, the bytes after the request head are the upgrade's
// payload, never a body or a next request. A 101 from upstream turns the connection into a byte
// tunnel (the payload read so far goes first); any other answer is written by hand and closes the
// connection.
import type * as http from "node:http";
import type * as net from "node:net";
import { encodeChunk, httpDate, LAST_CHUNK, serializeHeaders, statusLine } from "../http1/codec.js";
import { Downstream } from "./downstream.js";

/** Envoy's delayed_close_timeout: after a refused upgrade, the client's bytes are read and dropped this long. */
const DELAYED_CLOSE_MS = 1000;

/**
 * The downstream side of an HTTP/1.1 Upgrade request, on the raw socket (paused: the payload waits
 * in it, under TCP flow control, until a tunnel takes it); `head` is the payload read with the
 * request head. A 101 switches to a byte tunnel; any other answer closes the connection.
 */
export class UpgradeDownstream extends Downstream {
  readonly protocol = "HTTP/1.1" as const;
  private sent = false;
  private ended = false;
  private chunked = false;
  private _gone = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly head: Buffer,
  ) {
    super();
    socket.on("drain", () => this.emitDrain());
    socket.on("error", () => {});
    socket.once("close", () => {
      if (!this.ended) {
        this._gone = true;
        this.emitGone();
      }
    });
  }

  get headersSent(): boolean {
    return this.sent;
  }

  get gone(): boolean {
    return this._gone;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    if (this.socket.destroyed) return;
    this.sent = true;
    this.touch();
    const h: http.OutgoingHttpHeaders = { ...headers };
    if (status !== 101) {
      delete h.upgrade;
      h.connection = "close";
      if (!endStream && h["content-length"] === undefined) {
        h["transfer-encoding"] = "chunked";
        this.chunked = true;
      }
    }
    let out = serializeHeaders(h, statusLine(status));
    if (h.date === undefined) out += "date: " + httpDate() + "\r\n";
    this.socket.write(out + "\r\n", "latin1");
    if (endStream && status !== 101) this.end();
  }

  write(chunk: Buffer): boolean {
    if (this.socket.destroyed) return true;
    this.touch();
    return this.socket.write(this.chunked ? encodeChunk(chunk) : chunk);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const socket = this.socket;
    if (this.chunked) socket.write(LAST_CHUNK);
    socket.end();
    // The upgrade was refused: whatever the client still sends is read and dropped until it closes,
    // for at most the delayed close timeout, so it reads the answer rather than a reset.
    socket.on("data", noop);
    socket.resume();
    setTimeout(() => socket.destroy(), DELAYED_CLOSE_MS).unref();
  }

  reset(): void {
    this.ended = true;
    this.socket.destroy();
  }

  override tunnel(up: net.Socket, upHead: Buffer): Promise<number> {
    const down = this.socket;
    this.ended = true;
    let bytes = 0;
    return new Promise((resolve) => {
      let closed = 0;
      const done = () => {
        down.destroy();
        up.destroy();
        if (++closed === 1) resolve(bytes);
      };
      up.on("error", done);
      down.on("error", done);
      up.once("close", done);
      down.once("close", done);
      up.on("data", (c: Buffer) => {
        bytes += c.length;
        this.touch();
      });
      down.on("data", () => this.touch());
      if (upHead.length) {
        bytes += upHead.length;
        down.write(upHead);
      }
      if (this.head.length) up.write(this.head);
      up.on("end", () => down.end());
      down.on("end", () => up.end());
      up.pipe(down, { end: false });
      down.pipe(up, { end: false });
      down.resume();
    });
  }
}

function noop(): void {}
