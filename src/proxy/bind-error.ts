// A listener that cannot bind, reported as Envoy reports it: "cannot bind 'ADDRESS:PORT': <the
// OS error's strerror text>" (Envoy's listen socket factory), the LDS NACK naming the listener
// ("Error adding/updating listener(s) NAME: …"), and a bind check run before an LDS update is
// ACKed — Envoy binds on its main thread while it applies the update, Node binds asynchronously,
// so the proxy tries the address and port first and NACKs what cannot be bound.
import * as net from "node:net";

/** strerror(3) text of the errors a bind gives (what Envoy prints), else Node's message. */
const STRERROR: Record<string, string> = {
  EACCES: "Permission denied",
  EADDRINUSE: "Address already in use",
  EADDRNOTAVAIL: "Cannot assign requested address",
  EPERM: "Operation not permitted",
  EAFNOSUPPORT: "Address family not supported by protocol",
};

/** `cannot bind '127.0.255.1:80': Permission denied`. */
export function cannotBind(address: string, port: number, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const detail = (e?.code && STRERROR[e.code]) || (e instanceof Error ? e.message : String(err));
  return `cannot bind '${address.includes(":") ? `[${address}]` : address}:${port}': ${detail}`;
}

/** The NACK's error_detail for listeners that failed: `Error adding/updating listener(s) 0.0.0.0_80: cannot bind …`. */
export function listenerUpdateError(failures: ReadonlyArray<{ name: string; message: string }>): string {
  return `Error adding/updating listener(s) ${failures.map((f) => `${f.name}: ${f.message}`).join(", ")}`;
}

/**
 * Tries to bind ADDRESS:PORT and lets go at once: the error a listener there would get, or
 * undefined. Exclusive, so a port another process of this user holds through node:cluster is not
 * shared but reported in use, as a second Envoy would find it.
 */
export function tryBind(address: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    // A connection that arrives in the instant the port is held is refused, as if nothing listened.
    server.on("connection", (s: net.Socket) => s.destroy());
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
