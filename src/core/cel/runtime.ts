// The CEL implementation (@bufbuild/cel with the protobuf runtime and RE2 it uses: ~130 modules) is
// loaded on first use, not at import: a proxy whose config has no CEL expression (Istio's default
// telemetry has none) never pays its start-up time or memory. It is required, not imported, so a
// config can still be compiled synchronously while its xDS update is validated.
import { createRequire } from "node:module";

type Cel = typeof import("@bufbuild/cel");
type Wkt = typeof import("@bufbuild/protobuf/wkt");
type Reflect = typeof import("@bufbuild/protobuf/reflect");
type Re2 = typeof import("@bufbuild/re2");

export interface CelRuntime {
  readonly cel: Cel;
  readonly wkt: Wkt;
  readonly reflect: Reflect;
  readonly re2: Re2;
}

const requireCjs = createRequire(import.meta.url);
let runtime: CelRuntime | undefined;

/** The CEL libraries, loaded on the first call. */
export function celRuntime(): CelRuntime {
  runtime ??= {
    cel: requireCjs("@bufbuild/cel") as Cel,
    wkt: requireCjs("@bufbuild/protobuf/wkt") as Wkt,
    reflect: requireCjs("@bufbuild/protobuf/reflect") as Reflect,
    re2: requireCjs("@bufbuild/re2") as Re2,
  };
  return runtime;
}
