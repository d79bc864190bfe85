// `node exit-with-parent.js PROGRAM ARGS...`: runs a program that is not tsmesh (Debian's
// Prometheus) as a child of `tsmesh up` that still stops with it. tsmesh's own children watch their
// IPC channel (TSMESH_EXIT_WITH_PARENT); a foreign program cannot, so this wrapper holds the channel
// for it: when `up` goes away without stopping it (killed), the channel closes and the program gets
// SIGTERM. Signals to the wrapper are passed on; the wrapper exits with the program's status.
import { spawn } from "node:child_process";
import { constants } from "node:os";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write("exit-with-parent: usage: exit-with-parent PROGRAM [ARGS...]\n");
  process.exit(2);
}
// Same process group as this wrapper: the supervisor's group signals reach both.
const child = spawn(file, args, { stdio: ["ignore", "inherit", "inherit"] });
const forward = (signal: NodeJS.Signals) => () => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
process.on("SIGTERM", forward("SIGTERM"));
process.on("SIGINT", forward("SIGINT"));
if (process.channel) {
  process.channel.unref();
  process.once("disconnect", forward("SIGTERM"));
}
child.on("error", (e) => {
  process.stderr.write(`exit-with-parent: cannot run ${file}: ${e.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)));
