// The workload credential file (`--credential-file`): a bearer token read again at each use (the
// file is rewritten before the token expires), checked so it fits a header and never quoted.
import { readFileSync } from "node:fs";

/** A credential file larger than this is refused (a projected token is ~1 KB). */
export const MAX_CREDENTIAL_BYTES = 64 * 1024;

/** The bearer token in a credential file's bytes, trimmed; errors say what is wrong, never what it holds. */
export function tokenFromBytes(bytes: Buffer, file: string): string {
  if (bytes.length > MAX_CREDENTIAL_BYTES) throw new Error(`credential file ${file} is ${bytes.length} bytes, more than ${MAX_CREDENTIAL_BYTES}`);
  const token = bytes.toString("latin1").trim();
  if (token === "") throw new Error(`credential file ${file} is empty`);
  // A header value: visible ASCII only (a stray newline or control byte would break the request).
  if (!/^[\x21-\x7e]+$/.test(token)) throw new Error(`credential file ${file} does not hold a bearer token (characters outside visible ASCII)`);
  return token;
}

/** `authorization: Bearer TOKEN` from the file, for a stream being opened (read synchronously: a small local file). */
export function credentialMetadata(file: string): Record<string, string> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`credential file ${file}: ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
  return { authorization: `Bearer ${tokenFromBytes(bytes, file)}` };
}
