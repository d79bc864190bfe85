// The HTTP filters the proxy implements: importing this module registers each of them with the
// filter registry (http/filter.ts), by the type URLs of its config.
import "./fault.js";
import "./cors.js";
import "./buffer.js";
import "./router.js";
import "./ext-authz.js";
