import { parentPort, Worker } from 'node:worker_threads';

/**
 * Worker threads for the benchmark: the load generator and the stand-ins each get an event loop of
 * their own, so their CPU (parsing thousands of responses, building demo people) is not charged
 * to the server under test. The worker's TypeScript is loaded through tsx's API, since workers
 * do not inherit the main thread's loader.
 */
export class WorkerClient {
  private readonly worker: Worker;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();

  constructor(file: URL, onEvent: (event: any) => void = () => undefined) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })`;
    this.worker = new Worker(code, { eval: true });
    this.worker.on('message', (message: { id?: number; result?: unknown; error?: string; event?: unknown }) => {
      if (message.event !== undefined) return onEvent(message.event);
      const waiting = this.pending.get(message.id!);
      if (!waiting) return;
      this.pending.delete(message.id!);
      if (message.error !== undefined) waiting.reject(new Error(message.error));
      else waiting.resolve(message.result);
    });
    this.worker.on('error', (error) => {
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    });
  }

  call<T>(type: string, payload: unknown = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, payload });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The worker side: answers each call with its handler's result, and can send events meanwhile. */
export function serveCalls(handlers: Record<string, (payload: any, emit: (event: unknown) => void) => unknown>): void {
  const port = parentPort!;
  const emit = (event: unknown) => port.postMessage({ event });
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler catches its own errors and posts them back
  port.on('message', async ({ id, type, payload }: { id: number; type: string; payload: unknown }) => {
    try {
      const handler = handlers[type];
      if (!handler) throw new Error(`no handler for ${type}`);
      port.postMessage({ id, result: await handler(payload, emit) });
    } catch (error) {
      port.postMessage({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  });
}
