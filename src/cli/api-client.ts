// The CLI's side of the mesh API: finds a running mesh's socket (from --name / --state-dir) and
// makes JSON requests over it. Responses are bounded; errors come back as Kubernetes Status objects.
import { existsSync } from "node:fs";
import { request } from "node:http";
import type { ApiStatus } from "../controlplane/api-server.js";
import { API_PREFIX } from "../controlplane/api-server.js";
import { apiSocketPath } from "../controlplane/mesh-api.js";
import { findMesh } from "../local/registry.js";

/** Largest response the client reads (a listing of every resource of a large mesh fits). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface MeshTarget {
  name?: string;
  stateDir?: string;
}

export class MeshNotFoundError extends Error {}

/**
 * The socket of the mesh to talk to: the registry's running mesh (--name, --state-dir, or the only
 * one running); a state folder with a live socket but no registry record (`tsmesh discovery`) works too.
 */
export function findMeshSocket(t: MeshTarget): string {
  const found = findMesh(t);
  if (!(found instanceof Error)) return found.apiSocket;
  if (t.stateDir !== undefined && existsSync(apiSocketPath(t.stateDir))) return apiSocketPath(t.stateDir);
  throw new MeshNotFoundError(found.message);
}

export interface ApiReply<T> {
  status: number;
  body: T | ApiStatus;
}

/** Whether a reply is a Kubernetes Status failure. */
export function isFailure(body: unknown): body is ApiStatus {
  return typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "Status" && (body as { status?: unknown }).status === "Failure";
}

export class MeshApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 60_000,
  ) {}

  get<T>(route: string): Promise<ApiReply<T>> {
    return this.call<T>("GET", route);
  }

  post<T>(route: string, body: unknown): Promise<ApiReply<T>> {
    return this.call<T>("POST", route, JSON.stringify(body));
  }

  private call<T>(method: string, route: string, body?: string): Promise<ApiReply<T>> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { accept: "application/json" };
      if (body !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      const req = request({ socketPath: this.socketPath, path: API_PREFIX + route, method, headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) res.destroy(new Error(`the mesh API's response is over ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on("error", reject);
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as T | ApiStatus });
          } catch {
            reject(new Error(`the mesh API answered ${res.statusCode} with a body that is not JSON`));
          }
        });
      });
      req.on("timeout", () => req.destroy(new Error(`the mesh API did not answer within ${this.timeoutMs / 1000} s`)));
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "ECONNREFUSED" || e.code === "ENOENT") reject(new MeshNotFoundError(`the mesh at ${this.socketPath} is not running (${e.code}): start it with \`tsmesh up\``));
        else reject(e);
      });
      req.end(body);
    });
  }
}
