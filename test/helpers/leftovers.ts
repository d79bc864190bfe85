// Checks that a stopped mesh left nothing behind: live processes and listening TCP sockets.
import { readdirSync, readFileSync } from "node:fs";

/** The pids in `pids` that still exist. */
export function processesUsing(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

/** `ip:port` of every listening TCP socket (any process) whose address starts with one of the prefixes. */
export function portsBoundOn(prefixes: readonly string[]): string[] {
  const out: string[] = [];
  let text: string;
  try {
    text = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return out; // not Linux: nothing to check
  }
  for (const line of text.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== "0A") continue; // 0A = LISTEN
    const [hex, portHex] = cols[1].split(":");
    // /proc/net/tcp writes IPv4 addresses as a little-endian 32-bit hex number.
    const n = parseInt(hex, 16);
    const ip = [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
    const address = `${ip}:${parseInt(portHex, 16)}`;
    if (prefixes.some((p) => address.startsWith(p))) out.push(address);
  }
  return out;
}

/**
 * Pids of a `tsmesh up` mesh's processes on 127.OCTET.x.y: apps (INSTANCE_IP in their environment),
 * proxies (`--ip 127.OCTET.…` on their command line), and any whose command line contains `also`
 * (e.g. the test's temp folder, for `tsmesh up` itself). This process is never included.
 */
export function meshProcesses(octet: number, also?: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      const env = readFileSync(`/proc/${d}/environ`, "utf8");
      if (cmd.includes(`--ip\x00127.${octet}.`) || env.includes(`INSTANCE_IP=127.${octet}.`) || (also !== undefined && cmd.includes(also))) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
