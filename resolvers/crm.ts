import type { CrmCompanyResolvers, CrmContactResolvers } from './generated/types.ts';
import { crmPropertyNames } from './arguments.ts';
import { fromSource, LifecycleStage } from './enums.ts';

export const CrmContact: CrmContactResolvers = {
  companyName: (contact) => contact.company,
  lifecycleStage: (contact) => fromSource(LifecycleStage, contact.lifecycleStage),
  owner: (contact, _, { loaders }) => (contact.ownerId ? loaders.crmOwner.load(contact.ownerId) : null),
  location: (contact) => ({ city: contact.city, state: contact.state, zip: contact.zip, country: contact.country }),
  company: (contact, _, { loaders }) => loaders.crmCompany.load(contact.id),
  // The contact was read with every allow-listed property, so this costs no further call.
  properties: (contact, { names }, { settings }) => crmPropertyNames(names, settings.crmProperties).map((name) => ({ name, value: contact.properties[name] ?? null })),
};

export const CrmCompany: CrmCompanyResolvers = {
  size: (company) => company.employees,
};
