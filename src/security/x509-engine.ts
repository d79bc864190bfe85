// pkijs signs and verifies through a WebCrypto engine: Node's own (node:crypto's webcrypto), set
// once for every module that builds or checks certificates and requests.
import { webcrypto } from "node:crypto";
import * as pkijs from "pkijs";

pkijs.setEngine("node", new pkijs.CryptoEngine({ name: "node", crypto: webcrypto as never }));

export { pkijs };
