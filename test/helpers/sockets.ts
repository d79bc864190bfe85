// Which process holds the server side of a TCP connection (Linux /proc): tests of
// `tsmesh proxy --concurrency N` use it to know which worker serves a client connection. And an
// address where nothing ever listens, for "the upstream is down".
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect } from "node:net";

/**
 * A loopback address and port no test binds (the top of 127.0.0.0/8, port 1): a connection there is
 * refused at once. A port freed after listening on 127.0.0.1 is not safe for this: another test
 * running at the same time can be given it.
 */
export const REFUSED_HOST = "127.255.255.254";
export const REFUSED_ADDRESS = `${REFUSED_HOST}:1`;

/** An IPv4 address and port as /proc/net/tcp writes them (little-endian hex address, hex port). */
function procAddress(ip: string, port: number): string {
  const b = ip.split(".").map(Number);
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");
  return `${hex(b[3])}${hex(b[2])}${hex(b[1])}${hex(b[0])}:${port.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * The pid among `pids` holding the socket whose local end is `local` and remote end `remote` (the
 * server side of a client connection: local = the listener's address, remote = the client's).
 */
export function socketOwner(pids: readonly number[], local: { address: string; port: number }, remote: { address: string; port: number }): number | undefined {
  const l = procAddress(local.address, local.port);
  const r = procAddress(remote.address, remote.port);
  let inode: string | undefined;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === l && cols[2] === r) {
      inode = cols[9];
      break;
    }
  }
  if (inode === undefined) return undefined;
  const want = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** One TCP connection to an echo server (tcp-echo): send a line, resolve with the first line back. */
export function echoLine(host: string, port: number, line: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => s.write(line + "\n"));
    let got = "";
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no answer from ${host}:${port}`)));
    s.on("data", (b: Buffer) => {
      got += b.toString();
      const nl = got.indexOf("\n");
      if (nl >= 0) {
        s.end();
        resolve(got.slice(0, nl));
      }
    });
    s.on("error", reject);
    // Closed with no line back (a router whose cluster is not ready yet closes the connection): an
    // error too, so that a caller polling for the route tries again instead of waiting forever.
    s.on("close", () => reject(new Error(`${host}:${port} closed the connection without an answer${got ? ` (got ${JSON.stringify(got)})` : ""}`)));
  });
}
