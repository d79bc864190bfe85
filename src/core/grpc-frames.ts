// Counts gRPC messages in a length-prefixed message stream (a 1-byte flag, a 4-byte big-endian
// length, the payload) as it passes in arbitrary chunks: Envoy's grpc_stats message counts, which
// istio.stats reports as istio_request_messages_total / istio_response_messages_total. A message
// counts when its prefix starts, as Envoy's frame inspector does; nothing is buffered.
export class GrpcMessageCounter {
  /** Messages begun so far. */
  count = 0;
  /** Payload bytes left in the current message. */
  private remaining = 0;
  /** Prefix bytes of the current message seen (0: between messages). */
  private prefix = 0;
  private length = 0;

  feed(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      if (this.prefix === 0) {
        this.count++;
        this.length = 0;
      } else this.length = this.length * 256 + chunk[i];
      i++;
      if (++this.prefix === 5) {
        this.prefix = 0;
        this.remaining = this.length;
      }
    }
  }
}
