// Notices that the process which started `tsmesh up` has gone (`npx tsmesh up` stopped with
// SIGTERM: npm exits without passing the signal on). Linux has PR_SET_PDEATHSIG, which Node does
// not expose; the portable equivalent is to watch the parent pid: when the parent dies the process
// is re-parented (to init or a subreaper), so its ppid changes.

export interface ParentWatchOptions {
  /** How often to look (default 1 s). */
  intervalMs?: number;
  /** The current parent pid (tests; default process.ppid, read anew each time). */
  ppid?: () => number;
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
}

/**
 * Calls onGone once when the parent process changes. Returns a function that stops watching. A
 * process whose parent is already init (pid 1: started detached) has no parent to lose.
 */
export function watchParent(onGone: () => void, o: ParentWatchOptions = {}): () => void {
  const ppid = o.ppid ?? (() => process.ppid);
  const first = ppid();
  if (first <= 1) return () => {};
  const set = o.setInterval ?? ((fn: () => void, ms: number) => setInterval(fn, ms).unref());
  const clear = o.clearInterval ?? ((h: unknown) => clearInterval(h as NodeJS.Timeout));
  let handle: unknown = undefined;
  const stop = () => {
    if (handle !== undefined) clear(handle);
    handle = undefined;
  };
  handle = set(() => {
    if (ppid() === first) return;
    stop();
    onGone();
  }, o.intervalMs ?? 1000);
  return stop;
}
