import type { Context } from '../server/context.ts';
import { discountSensitivity, type DiscountHistory, type DiscountSensitivity as Sensitivity } from '../sources/commerce/index.ts';
import { ageBand, chooseLocation, deviceMix, gender } from '../traits/demographics.ts';
import { discountDays, webDays } from './arguments.ts';
import type { DemographicsResolvers, DiscountSensitivityResolvers, TraitsResolvers } from './generated/types.ts';
import { shopRecord } from './lookup.ts';
import type { CustomerOfRecord } from './models.ts';
import { traitFreshness } from './trait-freshness.ts';
import { consentedWindow } from './visitor.ts';

/** `Traits.discountSensitivity`: the trait, and the orders it was computed from (for freshness). */
export interface DiscountSensitivityOfRecord extends Sensitivity {
  readonly history: DiscountHistory;
}

type Loaders = Context['loaders'];

/** The customer's browsing window of the default length, or null when their consent withholds it. */
const defaultWindow = (loaders: Loaders, customer: CustomerOfRecord) => consentedWindow(loaders, customer, webDays(null));

/** The CRM contact, whose failure is the caller's (`crm` errors on the field that needed it). */
const crmContact = (loaders: Loaders, customer: CustomerOfRecord) => loaders.crmContactByEmail.load(customer.email);

/** The web-geolocated place of the customer, null without consent or an event carrying one. */
async function webPlace(loaders: Loaders, customer: CustomerOfRecord) {
  const window = await defaultWindow(loaders, customer);
  return window && loaders.webLocation.load(window);
}

/** The customer's devices of the default window, null without consent. */
async function webDevices(loaders: Loaders, customer: CustomerOfRecord) {
  const window = await defaultWindow(loaders, customer);
  return window && loaders.webDevices.load(window);
}

export const TraitsProfile: Pick<TraitsResolvers, 'discountSensitivity' | 'demographics'> = {
  discountSensitivity: async (customer, { days }, { loaders }) => {
    const history = await loaders.discountHistory.load(shopRecord(customer).id);
    const trait = discountSensitivity(history, discountDays(days));
    return trait && { ...trait, history };
  },
  demographics: (customer) => customer,
};

export const DiscountSensitivity: DiscountSensitivityResolvers = {
  freshness: ({ history }, _, context) => traitFreshness(context, [{ source: 'commerce', data: 'orders', value: history }]),
};

export const Demographics: DemographicsResolvers = {
  // Every source is asked at once; any failure is the location's (which source would win is then
  // unknown), and rejects with that source's error.
  location: async (customer, _, { loaders }) => {
    const [contact, web] = await Promise.all([crmContact(loaders, customer), webPlace(loaders, customer)]);
    const shop = shopRecord(customer);
    return chooseLocation({
      CRM: contact && { country: contact.country, region: contact.state },
      SHOP: { country: shop.countryCode, region: shop.region },
      WEB: web,
    });
  },
  devices: async (customer, _, { loaders }) => {
    const devices = await webDevices(loaders, customer);
    return devices && deviceMix(devices);
  },
  // Off unless configured: no CRM call for a part that could not answer.
  ageBand: async (customer, _, { loaders, settings }) => {
    const property = settings.demographicProperties?.birthDate;
    if (!property) return null;
    const contact = await crmContact(loaders, customer);
    return contact && ageBand(contact.properties[property] ?? null, loaders.readAt(contact));
  },
  gender: async (customer, _, { loaders, settings }) => {
    const property = settings.demographicProperties?.gender;
    if (!property) return null;
    const contact = await crmContact(loaders, customer);
    return contact && gender(contact.properties[property] ?? null);
  },
  // A failed input is left out: its part carries the error, and freshness stays non-null.
  freshness: async (customer, _, context) => {
    const { loaders } = context;
    const settle = <T>(read: () => Promise<T> | T) =>
      Promise.resolve()
        .then(read)
        .catch(() => undefined);
    const [contact, shop, place, devices] = await Promise.all([
      settle(() => crmContact(loaders, customer)),
      settle(() => shopRecord(customer)),
      settle(() => webPlace(loaders, customer)),
      settle(() => webDevices(loaders, customer)),
    ]);
    return traitFreshness(context, [
      ...(contact !== undefined ? [{ source: 'crm' as const, data: 'contact', value: contact }] : []),
      ...(shop !== undefined ? [{ source: 'commerce' as const, data: 'customer', value: shop }] : []),
      ...(place !== undefined ? [{ source: 'web' as const, data: 'location', value: place }] : []),
      ...(devices !== undefined ? [{ source: 'web' as const, data: 'devices', value: devices }] : []),
    ]);
  },
};
