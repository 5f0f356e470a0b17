import type { Logger } from 'pino';
import type { Loaders } from '../cache/loaders.ts';

/** What every resolver receives: this request's loaders and identity. */
export interface Context {
  readonly loaders: Loaders;
  /** Echoed in the `x-request-id` response header and in every log line of the request. */
  readonly requestId: string;
  readonly log: Logger;
  /** The currency purchases are counted in; money filters in another currency are refused. */
  readonly shopCurrency: string;
}
