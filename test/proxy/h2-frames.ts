// A tiny HTTP/2 frame writer for adversarial tests: raw frames (RFC 9113 §4.1) and just enough HPACK
// (RFC 7541: indexed fields, literals without Huffman coding) to build any header block by hand —
// including ones no well-behaved client library would send (CONTINUATION floods, HPACK bombs).
import * as net from "node:net";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

export const settings = (entries: Array<[number, number]> = []): Buffer => {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, p);
};
export const settingsAck = (): Buffer => frame(FRAME.SETTINGS, FLAG.ACK, 0);
export const ping = (data = 0): Buffer => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(data >>> 0, 4);
  return frame(FRAME.PING, 0, 0, p);
};
export const rstStream = (stream: number, code = 8 /* CANCEL */): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, p);
};

/** HPACK integer with an N-bit prefix (`first` holds the pattern bits above the prefix). */
function hpackInt(first: number, prefixBits: number, v: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (v < max) return Buffer.from([first | v]);
  const out = [first | max];
  v -= max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const str = (s: string): Buffer => Buffer.concat([hpackInt(0, 7, Buffer.byteLength(s, "latin1")), Buffer.from(s, "latin1")]);

export const hpack = {
  /** An entry of the static or dynamic table (index 62 = the newest dynamic entry). */
  indexed: (i: number): Buffer => hpackInt(0x80, 7, i),
  /** A literal field, not added to the dynamic table. */
  literal: (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x00]), str(name), str(value)]),
  /** A literal field added to the dynamic table (it becomes index 62). */
  literalIndexed: (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40]), str(name), str(value)]),
};

/** The header block of a plain `GET path` on `authority`. */
export function getBlock(path: string, authority = "x"): Buffer {
  return Buffer.concat([hpack.indexed(2) /* :method GET */, hpack.indexed(6) /* :scheme http */, hpack.literal(":path", path), hpack.literal(":authority", authority)]);
}

/** A raw HTTP/2 client connection: writes frames, reads what comes back (frames parsed as they arrive). */
export class RawH2 {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  readonly frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }> = [];
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3], flags: this.buf[4], stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
    });
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => {});
  }

  /** Connects and sends the preface and an empty SETTINGS. */
  static open(host: string, port: number): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => {
        s.write(Buffer.concat([PREFACE, settings()]));
        resolve(new RawH2(s));
      });
      s.once("error", reject);
    });
  }

  /** Writes, resolving when the socket took it (false once the proxy closed the connection). */
  write(b: Buffer): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => this.socket.write(b, (err) => resolve(!err)));
  }

  /** The GOAWAY frame the peer sent, if any: its error code. */
  get goaway(): number | undefined {
    const g = this.frames.find((f) => f.type === FRAME.GOAWAY);
    return g === undefined ? undefined : g.payload.readUInt32BE(4);
  }

  close(): void {
    this.socket.destroy();
  }
}
