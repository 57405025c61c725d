/**
 * The engine hands events on in batches; tests that read a stream event by
 * event (stop at the first content, cancel after the first event) read it
 * through this.
 */
export async function* oneAtATime<T>(batches: AsyncIterable<readonly T[]>): AsyncGenerator<T> {
  for await (const batch of batches) for (const ev of batch) yield ev;
}
