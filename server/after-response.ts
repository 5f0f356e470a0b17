/**
 * Work a GraphQL request leaves until its response is written: its audit and request lines and
 * its metric sample, which the client need not wait for. The handler runs it right after the
 * response's last write, in the same turn of the event loop, so nothing comes between the two
 * and no line is lost to a client that goes away.
 */
export class AfterResponse {
  readonly #work: Array<() => void> = [];

  add(work: () => void): void {
    this.#work.push(work);
  }

  /** Runs the work left, in the order it was left, all of it even when one throws; then throws the first error. */
  run(): void {
    const failures: unknown[] = [];
    for (const work of this.#work.splice(0)) {
      try {
        work();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}

/** Does `work` once the response is written when the request has an AfterResponse (a /graphql request), else at once. */
export function whenAnswered(context: { readonly afterResponse?: AfterResponse | undefined }, work: () => void): void {
  if (context.afterResponse) context.afterResponse.add(work);
  else work();
}
