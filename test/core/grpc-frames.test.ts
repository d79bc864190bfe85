// GrpcMessageCounter over every way a stream of gRPC messages can be cut into chunks: a message
// counts once when its prefix starts, whatever the boundaries (prefix split, empty payloads,
// several messages in one chunk, a truncated last message).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrpcMessageCounter } from "../../src/core/grpc-frames.js";

function frame(payload: number): Buffer {
  const b = Buffer.alloc(5 + payload, 0x61);
  b[0] = 0;
  b.writeUInt32BE(payload, 1);
  return b;
}

function count(chunks: Buffer[]): number {
  const c = new GrpcMessageCounter();
  for (const x of chunks) c.feed(x);
  return c.count;
}

describe("GrpcMessageCounter", () => {
  const stream = Buffer.concat([frame(3), frame(0), frame(300), frame(1)]);
  const cases: Array<[string, Buffer[], number]> = [
    ["nothing", [], 0],
    ["one chunk, four messages (one empty, one > 255 bytes)", [stream], 4],
    ["byte by byte", [...stream].map((b) => Buffer.from([b])), 4],
    ["a truncated last message counts (its prefix began)", [stream.subarray(0, stream.length - 1)], 4],
    ["only the first prefix byte", [Buffer.from([0])], 1],
    ["a length byte that would read as a flag if misparsed", [frame(256), frame(0)], 2],
  ];
  for (const [name, chunks, want] of cases) it(name, () => assert.equal(count(chunks), want));
  it("every split point of the stream gives the same count", () => {
    for (let i = 0; i <= stream.length; i++) assert.equal(count([stream.subarray(0, i), stream.subarray(i)]), 4, `split at ${i}`);
  });
});
