import { LRUCache } from 'lru-cache';
import type { CustomerChange as Change, SignalSource, TriggerEvent, TriggerName } from '../push/signals.ts';
import type { Context } from '../server/context.ts';
import type { ChangeStreams } from '../server/subscriptions/streams.ts';
import type { RfmSegment } from '../sources/commerce/model.ts';
import { SourceError } from '../sources/errors.ts';
import { customerId } from './arguments.ts';
import { audienceName } from '../audiences/input.ts';
import type { AudienceQueries } from '../audiences/service.ts';
import type { SavedAudience } from '../audiences/store.ts';
import { savedFilter } from './audiences.ts';
import { badUserInput } from './errors.ts';
import type {
  SavedAudienceChangeResolvers,
  ChangeSource,
  CustomerChangeResolvers,
  SegmentChangeResolvers,
  SegmentMembership,
  SubscriptionResolvers,
  TriggerFiredResolvers,
} from './generated/types.ts';
import { customerWithId } from './lookup.ts';

/** What `SegmentChange` hands its fields: the change, the segment watched and where the customer stands. */
export interface SegmentChangeOfRecord {
  readonly change: Change;
  readonly segment: RfmSegment;
  readonly membership: SegmentMembership;
  readonly currentSegment: RfmSegment | null;
}

/** What `AudienceChange` hands its fields: the change, the audience watched and where the customer stands. */
export interface AudienceChangeOfRecord {
  readonly change: Change;
  readonly audience: SavedAudience;
  readonly membership: SegmentMembership;
}

/** Customers whose membership one segment subscription remembers (to tell ENTERED, STAYED and LEFT); the least recent are forgotten. */
const REMEMBERED_CUSTOMERS = 10_000;

// The payload of each event is the feed's own object (a CustomerChange, a TriggerEvent, a
// SegmentChangeOfRecord); `resolve` hands it to the payload type, whose `customer` field runs the
// subscriber's selection with the event's fresh loaders (server/subscriptions renews them).
export const Subscription: SubscriptionResolvers = {
  customerChanged: {
    subscribe: (_, args, context) => streamsOf(context).customer(customerId(args.id, 'id')),
    resolve: (change: Change) => change,
  },

  segmentChanged: {
    subscribe: (_, args, context) => {
      const segment = args.segment as RfmSegment;
      const wasIn = new LRUCache<string, boolean>({ max: REMEMBERED_CUSTOMERS });
      return streamsOf(context).everyone(async (change): Promise<SegmentChangeOfRecord | null> => {
        const current = await currentSegmentOf(context, change.customerId);
        // The shop database failed: whether this change concerns the segment cannot be told.
        if (current instanceof Error) return null;
        const isIn = current === segment;
        const before = wasIn.get(change.customerId);
        wasIn.set(change.customerId, isIn);
        const membership = membershipOf(before, isIn);
        return membership && { change, segment, membership, currentSegment: current };
      });
    },
    resolve: (record: SegmentChangeOfRecord) => record,
  },

  audienceChanged: {
    subscribe: async (_, args, context, info) => {
      const audience = await audiencesOf(context).store.get(audienceName(args.name));
      if (!audience) throw badUserInput(`name: no saved audience is called ${args.name}`, 'name');
      const filter = savedFilter(audience, info.schema, context);
      const wasIn = new LRUCache<string, boolean>({ max: REMEMBERED_CUSTOMERS });
      return streamsOf(context).everyone(async (change): Promise<AudienceChangeOfRecord | null> => {
        let isIn: boolean;
        try {
          // The operation's context, renewed for this event: its deadline and plan report.
          isIn = await audiencesOf(context).contains(`audienceChanged(${audience.name})`, filter, change.customerId);
        } catch (error) {
          if (!(error instanceof SourceError)) throw error;
          context.log.warn(
            { source: error.source, kind: error.kind, customerId: change.customerId },
            'audience subscription skipped a change: its membership could not be decided',
          );
          return null;
        }
        const before = wasIn.get(change.customerId);
        wasIn.set(change.customerId, isIn);
        const membership = membershipOf(before, isIn);
        return membership && { change, audience, membership };
      });
    },
    resolve: (record: AudienceChangeOfRecord) => record,
  },

  triggerFired: {
    subscribe: (_, args, context) => streamsOf(context).triggers(args.triggers ? new Set<TriggerName>(args.triggers) : null),
    resolve: (event: TriggerEvent) => event,
  },
};

export const CustomerChange: CustomerChangeResolvers = {
  customer: (change, _, { loaders }) => customerWithId(loaders, change.customerId),
  sources: (change) => change.sources.map(changeSource),
  receivedAt: (change) => new Date(change.receivedAt),
};

export const SegmentChange: SegmentChangeResolvers = {
  customer: ({ change }, _, { loaders }) => customerWithId(loaders, change.customerId),
  customerId: ({ change }) => change.customerId,
  sources: ({ change }) => change.sources.map(changeSource),
  kinds: ({ change }) => change.kinds,
  receivedAt: ({ change }) => new Date(change.receivedAt),
};

export const SavedAudienceChange: SavedAudienceChangeResolvers = {
  audience: ({ audience }) => audience.name,
  version: ({ audience }) => audience.version,
  customer: ({ change }, _, { loaders }) => customerWithId(loaders, change.customerId),
  customerId: ({ change }) => change.customerId,
  sources: ({ change }) => change.sources.map(changeSource),
  kinds: ({ change }) => change.kinds,
  receivedAt: ({ change }) => new Date(change.receivedAt),
};

export const TriggerFired: TriggerFiredResolvers = {
  customer: (event, _, { loaders }) => customerWithId(loaders, event.customerId),
  segment: (event) => (event.segment as RfmSegment | undefined) ?? null,
  receivedAt: (event) => new Date(event.receivedAt),
};

function audiencesOf(context: Context): AudienceQueries {
  if (!context.audiences) throw new Error('no audiences: the server was started without them');
  return context.audiences;
}

/** The subscription's event sources; only subscription operations (server/subscriptions) have them, and only they reach here. */
function streamsOf(context: Context): ChangeStreams {
  if (!context.changes) throw new Error('no change streams: a subscription was executed outside server/subscriptions');
  return context.changes;
}

/** The customer's RFM segment now (null without completed orders), or the shop database's error. */
async function currentSegmentOf({ loaders, log }: Context, id: string): Promise<RfmSegment | null | Error> {
  try {
    return (await loaders.rfm.load(id))?.segment ?? null;
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    log.warn({ source: error.source, kind: error.kind, customerId: id }, 'segment subscription skipped a change: the RFM segment could not be read');
    return error;
  }
}

/** Where the customer stands in the segment, or null when the change is no news to its subscribers (out before and after, or never seen in). */
function membershipOf(before: boolean | undefined, isIn: boolean): SegmentMembership | null {
  if (isIn) return before === undefined ? 'IN' : before ? 'STAYED' : 'ENTERED';
  return before ? 'LEFT' : null;
}

function changeSource(source: SignalSource): ChangeSource {
  return source.toUpperCase() as ChangeSource;
}
