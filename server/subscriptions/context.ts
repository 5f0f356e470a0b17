import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AudienceQueries, type AudienceRuntime } from '../../audiences/service.ts';
import type { Invalidator } from '../../cache/invalidation.ts';
import { createLoaders, type Loaders, type Upstreams } from '../../cache/loaders.ts';
import { Provenance } from '../../cache/provenance.ts';
import { AuditTrail, type RequestAuth } from '../auth/audit.ts';
import type { Principal } from '../auth/scopes.ts';
import type { Context, Settings } from '../context.ts';
import type { ChangeStreams, StreamRegistry } from './streams.ts';

/** What every subscription operation's context is built from (the server's own parts). */
export interface ContextParts {
  readonly upstreams: Upstreams;
  readonly invalidator: Invalidator;
  /** The time budget of each event's execution, as a query's. */
  readonly budgetMs: number;
  readonly settings: Settings;
  readonly logger: Logger;
  readonly streams: StreamRegistry;
  /** For `audienceChanged`: each event decides the customer's membership within its own budget. */
  readonly audiences: AudienceRuntime;
}

/**
 * The context of one subscription operation. graphql-js executes its events one after another
 * with this one context, so each event gets what a query gets through `renew` (called by the
 * operation's stream as it hands over the next event): new loaders with their own request cache
 * and a new deadline, new provenance, a new audit trail (one audit line per event, as per
 * request). A second change is then never answered from the first one's request cache. The
 * request id stays the operation's.
 */
export class OperationContext implements Context {
  cache!: Invalidator;
  provenance!: Provenance;
  readonly requestId = randomUUID();
  readonly log: Logger;
  readonly settings: Settings;
  auth!: RequestAuth;
  readonly changes: ChangeStreams;
  private deadline = 0;
  private current: Loaders | undefined;

  constructor(
    private readonly parts: ContextParts,
    private readonly principal: Principal,
    /** For the audit lines. */
    readonly operationName: string | undefined,
  ) {
    this.log = parts.logger.child({ requestId: this.requestId });
    this.settings = parts.settings;
    this.changes = parts.streams.forOperation(principal, () => this.renew());
    this.renew();
  }

  /**
   * The event's loaders, made when it first reads a source: an idle subscription holds none (a set
   * of loaders keeps every DataLoader its event used, and their answers; 10,000 idle subscriptions
   * would otherwise keep 10,000).
   */
  get loaders(): Loaders {
    this.current ??= createLoaders(this.parts.upstreams, { deadline: this.deadline, report: this.provenance.record });
    return this.current;
  }

  /** The event's audience questions, within its deadline (never extended: an event is one person's). */
  get audiences(): AudienceQueries {
    const { deadline, provenance } = this;
    return new AudienceQueries(this.parts.audiences, { extendDeadline: () => deadline, report: provenance.recordPlan });
  }

  renew(): void {
    this.deadline = Date.now() + this.parts.budgetMs;
    this.auth = { principal: this.principal, audit: new AuditTrail() };
    this.provenance = new Provenance();
    this.current = undefined;
    this.cache = this.parts.invalidator.within(this.deadline);
  }
}
