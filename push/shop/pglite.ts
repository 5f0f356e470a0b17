import type { Logger } from 'pino';
import type { SignalProducer, SignalSink } from '../signals.ts';
import { CHANGES, changeSignal } from './tables.ts';
import { parseNotification } from './triggers.ts';

/** What this producer needs of a PGlite instance (the embedded demo's; PGlite is an optional dependency, so it is not imported). */
export interface InProcessListener {
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Signals from the embedded demo database (PGlite), through its in-process `listen`: the same
 * triggers and payloads as the NOTIFY producer, without a connection to lose. PGlite delivers to
 * in-process listeners only the NOTIFYs of statements run in-process: not those of clients served
 * over its socket (the server's pool), so the demo writes what should push (sandbox/demo/place-order.ts)
 * in-process. The triggers must be installed (installTriggersSql), as the demo does at start.
 */
export function pgliteProducer(options: { readonly db: InProcessListener; readonly logger: Logger }): SignalProducer {
  const log = options.logger.child({ producer: 'commerce-pglite' });
  let unlisten: (() => Promise<void>) | null = null;
  return {
    name: 'commerce-pglite',
    async start(emit: SignalSink) {
      if (unlisten) throw new Error('commerce-pglite is already started');
      unlisten = await options.db.listen(CHANGES, (payload) => {
        const change = parseNotification(payload);
        if (change) emit(changeSignal(change, Date.now()));
        else log.warn({ channel: CHANGES, bytes: payload.length }, 'ignored a notification the triggers did not write');
      });
    },
    async stop() {
      const listening = unlisten;
      unlisten = null;
      await listening?.();
    },
  };
}
