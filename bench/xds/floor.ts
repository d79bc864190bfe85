// bench:xds's transport floor: a trivial gRPC server (a child process: the entry file run with
// `--floor-server RECORDING`) that replays to every Delta ADS stream the exact response bytes proxy 0
// received from tsmesh in each phase: the first request of a type gets the initial phase's responses,
// `push PHASE` on stdin sends that phase's to every stream. No generation cost: what remains is the
// cost of the transport and of the load client on this machine.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { DELTA_METHOD_PATH } from "../../src/xds/server/service.js";
import { collectLines, waitLine } from "../common/lines.js";
import { track } from "./processes.js";
import { BENCH_ENTRY } from "./settings.js";
import type { Recorded } from "./sim-proxy.js";
import { requestType } from "./wire.js";

export function writeRecording(path: string, rec: Record<string, Recorded[]>): void {
  const json = Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, v.map((r) => ({ type: r.type, b64: r.buf.toString("base64") }))]));
  writeFileSync(path, JSON.stringify(json));
}

export function runFloorServer(recordingPath: string): void {
  const raw = JSON.parse(readFileSync(recordingPath, "utf8")) as Record<string, Array<{ type: string; b64: string }>>;
  const rec: Record<string, Recorded[]> = {};
  for (const [k, v] of Object.entries(raw)) rec[k] = v.map((r) => ({ type: r.type, buf: Buffer.from(r.b64, "base64") }));
  const streams = new Set<grpc.ServerDuplexStream<{ typeUrl: string }, Buffer>>();
  const server = new grpc.Server({ "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1 });
  const unused = (): never => {
    throw new Error("server only");
  };
  server.addService(
    {
      DeltaAggregatedResources: {
        path: DELTA_METHOD_PATH,
        originalName: "deltaAggregatedResources",
        requestStream: true,
        responseStream: true,
        requestSerialize: unused,
        requestDeserialize: (b: Buffer) => requestType.decode(b) as unknown as { typeUrl: string },
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: unused,
      },
    },
    {
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<{ typeUrl: string }, Buffer>) => {
        streams.add(call);
        const answered = new Set<string>();
        call.on("data", (req: { typeUrl: string }) => {
          // The first request of a type gets what tsmesh answered it with; ACKs get nothing.
          if (answered.has(req.typeUrl)) return;
          answered.add(req.typeUrl);
          for (const r of rec.initial ?? []) if (r.type === req.typeUrl) call.write(r.buf);
        });
        const drop = () => streams.delete(call);
        call.on("end", () => {
          drop();
          call.end();
        });
        call.on("cancelled", drop);
        call.on("error", drop);
        call.on("close", drop);
      },
    },
  );
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    process.stdout.write(`port ${port}\n`);
  });
  createInterface({ input: process.stdin }).on("line", (line) => {
    const m = /^push (\w+)$/.exec(line.trim());
    if (!m) return;
    for (const call of streams) for (const r of rec[m[1]] ?? []) call.write(r.buf);
  });
  process.stdin.on("end", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
}

/** Starts the floor server on a recording; resolves with the child and its port. */
export async function startFloor(recordingPath: string): Promise<{ child: ChildProcess; port: number }> {
  const child = track(spawn(process.execPath, [BENCH_ENTRY, "--floor-server", recordingPath], { stdio: ["pipe", "pipe", "pipe"] }));
  const err: string[] = [];
  collectLines(child.stderr, err);
  const m = await waitLine(child, /^port (\d+)$/, 20_000, "floor server", err);
  return { child, port: Number(m[1]) };
}
