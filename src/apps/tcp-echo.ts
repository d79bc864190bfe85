// tcp-echo, as Istio's samples/tcp-echo/src/main.go: `tcp-echo PORTS PREFIX` (e.g. `9000,9001,9002 one`)
// listens on every port and answers each line received ("…\n") with `PREFIX LINE` — the prefix, a
// space, then the line with its newline. A trailing partial line at end of stream gets no answer, and
// the connection closes when the client's side ends, as the original's ReadBytes loop does.
// Defaults as the original image's CMD: port 9000, prefix "hello". Listens on HOST (default 127.0.0.1);
// when no PORTS argument is given, PORT (if set) before the default.
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { AppMain, RunningApp } from "./types.js";

const NEWLINE = 0x0a;

export const tcpEcho: AppMain = async (ctx) => {
  const rawPorts = ctx.argv[0] ?? (ctx.env.PORT || "9000");
  const prefix = ctx.argv[1] ?? "hello";
  const host = ctx.env.HOST || "127.0.0.1";
  const ports = rawPorts.split(",").map((p) => {
    const n = Number(p);
    if (p.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`tcp-echo: invalid port ${JSON.stringify(p)}`);
    return n;
  });
  const head = Buffer.from(prefix + " ");
  const sockets = new Set<Socket>();
  const servers: Server[] = [];

  const serve = (socket: Socket, port: number): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", (err) => ctx.log(`failed to read data, err: ${err.message}`));
    let buffered: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let nl: number;
      while ((nl = buffered.indexOf(NEWLINE)) >= 0) {
        const line = buffered.subarray(0, nl + 1);
        buffered = buffered.subarray(nl + 1);
        socket.write(Buffer.concat([head, line]));
        const text = line.subarray(0, nl).toString("utf8");
        ctx.log(`:${port} request: ${text} response: ${prefix} ${text}`);
      }
    });
  };

  const close = async (): Promise<void> => {
    await Promise.all(
      servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))),
    );
  };

  const addresses: string[] = [];
  try {
    for (const port of ports) {
      const server = createServer((socket) => serve(socket, port));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host, port }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const a = server.address() as AddressInfo;
      const address = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
      addresses.push(address);
      ctx.log(`listening on ${address}, prefix: ${prefix}`);
    }
  } catch (err) {
    await close();
    throw new Error(`tcp-echo: failed to create listener, err: ${(err as Error).message}`);
  }

  let closing: Promise<void> | undefined;
  const running: RunningApp = {
    addresses,
    close() {
      closing ??= (async () => {
        const done = close();
        for (const s of sockets) s.destroy();
        await done;
      })();
      return closing;
    },
  };
  return running;
};
