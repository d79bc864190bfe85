// PEM text (RFC 7468) in and out: the blocks of one label in a bundle, a block's DER bytes, and a
// DER value written as a block with 64-character lines.

/** The complete PEM blocks labelled `label` in `text`, in order. */
export function pemBlocks(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, "g");
  return text.match(re) ?? [];
}

/** The DER bytes of one PEM block (its base64 body; headers and whitespace ignored). */
export function derOfPem(block: string): ArrayBuffer {
  const body = block.replace(/-----(BEGIN|END) [^-]+-----/g, "").replace(/\s+/g, "");
  const b = Buffer.from(body, "base64");
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** `der` as a PEM block labelled `label`. */
export function pemOf(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END ${label}-----\n`;
}
