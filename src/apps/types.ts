// The contract every sample app (bookinfo, httpbin, tcp-echo) implements, so `tsmesh app NAME`
// runs it as a process under `tsmesh up` and tests can run it in-process on a loopback address.

export interface AppContext {
  /** Arguments after the app name, as the original sample's image takes them (e.g. tcp-echo's `9000,9001 one`). */
  argv: string[];
  /**
   * The process environment. `tsmesh up` sets HOST (the app's private loopback address), PORT (its
   * first service port), HTTP_PROXY/http_proxy (the sidecar's explicit-proxy port) and NO_PROXY.
   */
  env: Readonly<Record<string, string | undefined>>;
  /** One line per call (no trailing newline): the app's log. */
  log: (line: string) => void;
}

export interface RunningApp {
  /** `host:port` of every listening socket, in order. */
  addresses: string[];
  /** Stops accepting, ends open connections, resolves when every socket and timer is gone. */
  close(): Promise<void>;
}

export type AppMain = (ctx: AppContext) => Promise<RunningApp>;
