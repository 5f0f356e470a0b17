import { DEMO_STORES } from './records.ts';

/**
 * Property definitions the stand-in knows, in the shape of `GET /crm/v3/properties/{objectType}`
 * (the `Property` schema). A batch read returns only requested properties that are defined here,
 * as HubSpot silently drops names it does not know.
 */

interface Option {
  readonly label: string;
  readonly value: string;
}

interface Definition {
  readonly name: string;
  readonly label: string;
  readonly type: 'string' | 'number' | 'datetime' | 'enumeration';
  readonly fieldType: 'text' | 'phonenumber' | 'number' | 'date' | 'select';
  readonly groupName: string;
  readonly options?: readonly Option[];
  readonly custom?: boolean;
  readonly calculated?: boolean;
}

const options = (...values: string[]): Option[] => values.map((value) => ({ value, label: value.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) }));

const LIFECYCLE_STAGES = options('subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer', 'evangelist', 'other');
const LEAD_STATUSES = options('NEW', 'OPEN', 'IN_PROGRESS', 'OPEN_DEAL', 'UNQUALIFIED', 'ATTEMPTED_TO_CONTACT', 'CONNECTED', 'BAD_TIMING');

const CONTACT_DEFINITIONS: readonly Definition[] = [
  { name: 'email', label: 'Email', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'firstname', label: 'First Name', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'lastname', label: 'Last Name', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'phone', label: 'Phone Number', type: 'string', fieldType: 'phonenumber', groupName: 'contactinformation' },
  { name: 'mobilephone', label: 'Mobile Phone Number', type: 'string', fieldType: 'phonenumber', groupName: 'contactinformation' },
  { name: 'company', label: 'Company Name', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'website', label: 'Website URL', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'jobtitle', label: 'Job Title', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'lifecyclestage', label: 'Lifecycle Stage', type: 'enumeration', fieldType: 'select', groupName: 'contactinformation', options: LIFECYCLE_STAGES },
  { name: 'hs_lead_status', label: 'Lead Status', type: 'enumeration', fieldType: 'select', groupName: 'sales_properties', options: LEAD_STATUSES },
  { name: 'hubspot_owner_id', label: 'Contact owner', type: 'enumeration', fieldType: 'select', groupName: 'sales_properties', options: [] },
  { name: 'city', label: 'City', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'state', label: 'State/Region', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'zip', label: 'Postal Code', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'country', label: 'Country/Region', type: 'string', fieldType: 'text', groupName: 'contactinformation' },
  { name: 'createdate', label: 'Create Date', type: 'datetime', fieldType: 'date', groupName: 'contactinformation', calculated: true },
  { name: 'lastmodifieddate', label: 'Last Modified Date', type: 'datetime', fieldType: 'date', groupName: 'contactinformation', calculated: true },
  { name: 'hs_object_id', label: 'Record ID', type: 'number', fieldType: 'number', groupName: 'contactinformation', calculated: true },
  { name: 'preferred_store', label: 'Preferred store', type: 'enumeration', fieldType: 'select', groupName: 'contactinformation', options: options(...DEMO_STORES), custom: true },
  {
    name: 'loyalty_tier',
    label: 'Loyalty tier',
    type: 'enumeration',
    fieldType: 'select',
    groupName: 'contactinformation',
    options: options('bronze', 'silver', 'gold'),
    custom: true,
  },
];

/** Contact properties a batch read may return. */
export const CONTACT_PROPERTY_NAMES: ReadonlySet<string> = new Set(CONTACT_DEFINITIONS.map((d) => d.name));

/** Company properties a batch read may return. */
export const COMPANY_PROPERTY_NAMES: ReadonlySet<string> = new Set([
  'name',
  'domain',
  'website',
  'industry',
  'numberofemployees',
  'city',
  'country',
  'createdate',
  'hs_lastmodifieddate',
  'hs_object_id',
]);

const DEFINED_AT = '2019-08-06T02:41:52.000Z';

/** Every contact property definition, as HubSpot lists them. */
export function contactPropertyDefinitions(): Array<Record<string, unknown>> {
  return CONTACT_DEFINITIONS.map(toProperty);
}

/** One contact property definition, or null when there is no such property. */
export function contactPropertyDefinition(name: string): Record<string, unknown> | null {
  const definition = CONTACT_DEFINITIONS.find((d) => d.name === name);
  return definition ? toProperty(definition, CONTACT_DEFINITIONS.indexOf(definition)) : null;
}

function toProperty(definition: Definition, index: number): Record<string, unknown> {
  const custom = definition.custom === true;
  return {
    name: definition.name,
    label: definition.label,
    type: definition.type,
    fieldType: definition.fieldType,
    groupName: definition.groupName,
    description: '',
    options: (definition.options ?? []).map((o, i) => ({ ...o, description: '', displayOrder: i, hidden: false })),
    displayOrder: index,
    calculated: definition.calculated === true,
    externalOptions: definition.name === 'hubspot_owner_id',
    hasUniqueValue: definition.name === 'email' || definition.name === 'hs_object_id',
    hidden: false,
    hubspotDefined: !custom,
    formField: !definition.calculated,
    createdAt: DEFINED_AT,
    updatedAt: DEFINED_AT,
    archived: false,
    modificationMetadata: {
      archivable: custom,
      readOnlyDefinition: !custom,
      readOnlyValue: definition.calculated === true,
    },
  };
}
