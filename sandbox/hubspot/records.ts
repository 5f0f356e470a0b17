import {
  DEMO_OWNERS,
  companyAt,
  companyCount,
  companyIndexOfId,
  indexOfContactId,
  personAt,
  personByEmail,
  populationSize,
  type DemoPerson,
  type DemoWorld,
} from '../demo/people.ts';

/**
 * The HubSpot view of the demo world: contacts, companies and owners regenerated on demand from
 * the world's people, so the stand-in holds no registry and serves a 1,000,000-customer world as
 * cheaply as a small one.
 */

/** A CRM object as HubSpot stores it: every property value is a string (or null when empty). */
export interface StoredObject {
  readonly id: string;
  readonly properties: Readonly<Record<string, string | null>>;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const DAY_MS = 86_400_000;

// HubSpot's `country` is free text that most portals fill with the country's English name.
const COUNTRY_NAMES: Readonly<Record<string, string>> = {
  US: 'United States',
  CA: 'Canada',
  GB: 'United Kingdom',
  DE: 'Germany',
  FR: 'France',
  AU: 'Australia',
};

/** Values of the demo custom property `preferred_store`. */
export const DEMO_STORES = ['downtown', 'riverside', 'harbor_mall', 'airport', 'online'] as const;

/** The contact HubSpot holds for this email, or null (not in the world, or not in the CRM). */
export function contactByEmail(world: DemoWorld, email: string): StoredObject | null {
  const person = personByEmail(world, email.trim().toLowerCase());
  return person ? contactOf(world, person) : null;
}

/** The contact with this id, or null. Ids encode the person's index (see contactIdOf). */
export function contactById(world: DemoWorld, id: string): StoredObject | null {
  const index = indexOfContactId(id);
  if (index === null || index >= populationSize(world)) return null;
  const contact = contactOf(world, personAt(world, index));
  // A leading zero decodes to a valid index but is not the id HubSpot issued.
  return contact?.id === id ? contact : null;
}

function contactOf(world: DemoWorld, person: DemoPerson): StoredObject | null {
  const crm = person.crm;
  if (!crm) return null;
  const company = crm.companyIndex === null ? null : companyAt(world, crm.companyIndex);
  return {
    id: crm.contactId,
    createdAt: crm.createdAt,
    updatedAt: crm.updatedAt,
    properties: {
      email: person.email,
      firstname: person.firstName,
      lastname: person.lastName,
      phone: person.phone,
      mobilephone: null,
      company: company?.name ?? null,
      website: company ? `https://${company.domain}` : null,
      jobtitle: crm.jobTitle,
      lifecyclestage: crm.lifecycleStage,
      hs_lead_status: crm.leadStatus,
      hubspot_owner_id: crm.ownerId,
      city: person.city,
      state: person.region,
      zip: person.postalCode,
      country: COUNTRY_NAMES[person.countryCode] ?? person.countryCode,
      createdate: crm.createdAt.toISOString(),
      lastmodifieddate: crm.updatedAt.toISOString(),
      hs_object_id: crm.contactId,
      preferred_store: person.customerId === null ? null : DEMO_STORES[person.index % DEMO_STORES.length]!,
      loyalty_tier: loyaltyTier(person.ordersPerYear),
    },
  };
}

function loyaltyTier(ordersPerYear: number): string | null {
  if (ordersPerYear >= 6) return 'gold';
  if (ordersPerYear >= 2) return 'silver';
  return ordersPerYear > 0 ? 'bronze' : null;
}

/** The company with this id, or null. */
export function companyById(world: DemoWorld, id: string): StoredObject | null {
  const index = companyIndexOfId(id);
  if (index === null || index >= companyCount(world)) return null;
  const company = companyAt(world, index);
  if (company.companyId !== id) return null;
  const createdAt = new Date(world.asOf.getTime() - (400 + ((index * 37) % 1500)) * DAY_MS);
  const updatedAt = new Date(world.asOf.getTime() - (1 + ((index * 11) % 90)) * DAY_MS);
  return {
    id,
    createdAt,
    updatedAt,
    properties: {
      name: company.name,
      domain: company.domain,
      website: `https://${company.domain}`,
      industry: company.industry,
      numberofemployees: String(company.employees),
      city: null,
      country: null,
      createdate: createdAt.toISOString(),
      hs_lastmodifieddate: updatedAt.toISOString(),
      hs_object_id: id,
    },
  };
}

/**
 * The company a contact is associated with: its id, null when the contact has none, or undefined
 * when there is no such contact. Demo contacts have at most one company, which is their primary.
 */
export function companyIdOfContact(world: DemoWorld, contactId: string): string | null | undefined {
  const index = indexOfContactId(contactId);
  if (index === null || index >= populationSize(world)) return undefined;
  const crm = personAt(world, index).crm;
  if (!crm || crm.contactId !== contactId) return undefined;
  return crm.companyIndex === null ? null : companyAt(world, crm.companyIndex).companyId;
}

/** An owner as `GET /crm/v3/owners/{ownerId}` returns it (PublicOwner), or null. */
export function ownerById(id: string, idProperty: 'id' | 'userId' = 'id'): Record<string, unknown> | null {
  const index = DEMO_OWNERS.findIndex((o) => (idProperty === 'id' ? o.id : String(userIdOf(o.id))) === id);
  const owner = DEMO_OWNERS[index];
  if (!owner) return null;
  const createdAt = new Date(Date.UTC(2020, 0, 6 + index * 30));
  return {
    id: owner.id,
    email: owner.email,
    firstName: owner.firstName,
    lastName: owner.lastName,
    userId: userIdOf(owner.id),
    userIdIncludingInactive: userIdOf(owner.id),
    type: 'PERSON',
    createdAt: createdAt.toISOString(),
    updatedAt: new Date(createdAt.getTime() + 90 * DAY_MS).toISOString(),
    archived: false,
    teams: [{ id: '5100001', name: 'Sales', primary: true }],
  };
}

const userIdOf = (ownerId: string): number => 9_000_000 + (Number(ownerId) % 1_000_000);
