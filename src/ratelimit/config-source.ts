// Where the rate-limit configuration comes from, and its reload: `--config` paths (files or folders;
// folders walked for .yaml/.yml, hidden entries skipped as RUNTIME_IGNOREDOTFILES does, which also
// skips a mounted ConfigMap's `..data` links), or the reference's RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/
// RUNTIME_APPDIRECTORY folder. A file holding a Kubernetes ConfigMap (Istio's task applies the
// config as `ratelimit-config`) counts as the files it would mount: one per data key. The paths are
// watched; every change reloads all files into a new config, and a config that fails to load keeps
// the last good one in force (the reason logged, config_load_error counted).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { FolderWatch } from "../core/folder-watch.js";
import { RateLimitConfig, RateLimitConfigError, type ConfigToLoad } from "./config.js";
import { MAX_CONFIG_FILE_BYTES, parseConfigFile } from "./config-yaml.js";
import type { RateLimitStatsManager } from "./stats.js";

const YAML_FILE = /\.ya?ml$/i;
const MAX_FILES = 1000;

/** The reference's file layout: RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/RUNTIME_APPDIRECTORY (default app directory "config"). */
export function runtimeConfigPath(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const root = env.RUNTIME_ROOT;
  if (!root) return undefined;
  return join(root, env.RUNTIME_SUBDIRECTORY ?? "", env.RUNTIME_APPDIRECTORY || "config");
}

/** The files under `paths`, in a stable order. */
export function listRateLimitFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 16) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      let st;
      try {
        st = statSync(p); // follows symlinks, as a mounted ConfigMap's files are links
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile() && YAML_FILE.test(e.name)) out.push(p);
      if (out.length > MAX_FILES) throw new RateLimitConfigError(`${dir}: more than ${MAX_FILES} config files`);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new RateLimitConfigError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) walk(p, 0);
    else out.push(p);
  }
  return out;
}

/** A ConfigMap's data as files, when `text` is one (apiVersion v1, kind ConfigMap); else undefined. */
function configMapFiles(file: string, text: string): ConfigToLoadText[] | undefined {
  if (!/^\s*kind:\s*["']?ConfigMap/m.test(text)) return undefined;
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return undefined;
  const out: ConfigToLoadText[] = [];
  let any = false;
  for (const doc of docs) {
    const v = doc.toJS() as { apiVersion?: unknown; kind?: unknown; data?: unknown } | null;
    if (!v || v.kind !== "ConfigMap" || v.apiVersion !== "v1") continue;
    any = true;
    if (v.data === undefined || v.data === null) continue;
    if (typeof v.data !== "object" || Array.isArray(v.data)) throw new RateLimitConfigError(`${file}: data: a ConfigMap's data must be a map of strings`);
    for (const [k, t] of Object.entries(v.data as Record<string, unknown>)) {
      if (typeof t !== "string") throw new RateLimitConfigError(`${file}: data.${k}: must be a string (a block scalar: \`${k}: |\`)`);
      // As mounted: hidden keys are skipped like hidden files.
      if (!k.startsWith(".")) out.push({ name: `${file}[data.${k}]`, text: t });
    }
  }
  return any ? out : undefined;
}

interface ConfigToLoadText {
  name: string;
  text: string;
}

/** Reads and parses every config file under `paths`; throws RateLimitConfigError. */
export function readConfigFiles(paths: readonly string[], warn: (m: string) => void): ConfigToLoad[] {
  const texts: ConfigToLoadText[] = [];
  for (const f of listRateLimitFiles(paths)) {
    let text: string;
    try {
      if (statSync(f).size > MAX_CONFIG_FILE_BYTES) throw new Error(`larger than ${MAX_CONFIG_FILE_BYTES} bytes`);
      text = readFileSync(f, "utf8");
    } catch (e) {
      throw new RateLimitConfigError(`${f}: cannot be read: ${(e as Error).message}`);
    }
    texts.push(...(configMapFiles(f, text) ?? [{ name: f, text }]));
  }
  return texts.map((t) => ({ name: t.name, root: parseConfigFile(t.name, t.text, warn) }));
}

export interface ConfigWatcherOptions {
  paths: readonly string[];
  stats: RateLimitStatsManager;
  mergeDomains?: boolean;
  /** A new config was loaded. */
  onConfig: (config: RateLimitConfig) => void;
  log: (level: "info" | "warning" | "error", message: string) => void;
  debounceMs?: number;
  pollMs?: number;
}

/** Loads the config now and again whenever the files change. */
export class ConfigWatcher {
  private readonly watches: FolderWatch[] = [];
  private lastTexts = "";
  /** The error of the last load, "" when it succeeded. */
  lastError = "";

  constructor(private readonly o: ConfigWatcherOptions) {}

  /** Loads once; returns whether a config is in force. Then watches. */
  start(): boolean {
    const ok = this.reload(true);
    for (const p of this.o.paths) {
      const w = new FolderWatch(p, { debounceMs: this.o.debounceMs ?? 100, pollMs: this.o.pollMs ?? 5000 }, () => this.reload(false));
      w.start();
      this.watches.push(w);
    }
    return ok;
  }

  /** Reloads unless nothing changed on disk; returns whether the files (now) load. */
  reload(force: boolean): boolean {
    const warnings: string[] = [];
    let configs: ConfigToLoad[];
    let fingerprint = "";
    try {
      configs = readConfigFiles(this.o.paths, (m) => warnings.push(m));
      fingerprint = JSON.stringify(configs);
      if (!force && fingerprint === this.lastTexts) return this.lastError === "";
      const config = new RateLimitConfig(configs, this.o.stats, this.o.mergeDomains);
      this.lastTexts = fingerprint;
      this.lastError = "";
      this.o.stats.service.config_load_success++;
      for (const w of warnings) this.o.log("warning", w);
      this.o.log("info", `loaded rate limit configuration: ${config.domainNames.length === 0 ? "no domains" : `domains ${config.domainNames.join(", ")}`} from ${configs.length} file(s)`);
      this.o.onConfig(config);
      return true;
    } catch (e) {
      if (!(e instanceof RateLimitConfigError)) throw e;
      // The same broken files seen again (the poll): said once already.
      if (!force && e.message === this.lastError) return false;
      this.lastTexts = fingerprint;
      this.lastError = e.message;
      this.o.stats.service.config_load_error++;
      this.o.log("error", `error loading new configuration: ${e.message}${force ? "" : "; the last good configuration stays in force"}`);
      return false;
    }
  }

  close(): void {
    for (const w of this.watches) w.close();
  }
}
