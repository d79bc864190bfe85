// The HTTP filters the proxy implements: importing this module registers each of them with the
// filter registry (http/filter.ts), by the type URLs of its config.
import "./fault.js";
import "./cors.js";
import "./jwt-authn.js";
import "./buffer.js";
import "./local-ratelimit.js";
import "./ratelimit.js";
import "./router.js";
import "./rbac.js";
import "./ext-authz.js";
import "../../observability/peer-metadata-filter.js";
