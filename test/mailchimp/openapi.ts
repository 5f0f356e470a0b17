import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import spec from './mailchimp-marketing-members-subset.json' with { type: 'json' };

// A copy of ../shared/reference/specs/mailchimp-marketing-members-subset.json, so a fresh clone
// runs this suite.

type Schema = { [key: string]: unknown };
const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * OpenAPI schema -> JSON Schema for ajv: drops vendor and annotation keywords, turns the spec's
 * `x-oneOf` (activity items) into a real oneOf, and closes every object that lists its properties,
 * so a misspelt or invented field in the stand-in fails instead of passing unnoticed.
 */
function prepare(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(prepare);
  if (!isSchema(node)) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'x-oneOf') out.oneOf = prepare(value);
    else if (key === 'properties' && isSchema(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, prepare(sub)]));
    } else if (!key.startsWith('x-') && key !== 'example') out[key] = prepare(value);
  }
  if (out.type === 'object' && out.properties && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

const schemas = prepare(spec.components.schemas) as Record<string, Schema>;
// The published spec types merge-field values as objects; the live API sends strings and numbers
// (and an object for address fields).
(schemas.ListMembers2!.properties as Record<string, Schema>).merge_fields!.additionalProperties = {
  type: ['string', 'number', 'object'],
};

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema({ $id: 'mailchimp', components: { schemas } });

type Paths = Record<string, { get: { responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }> } }>;

/**
 * A validator for the GET response of a spec path (`/lists/{listId}/members/{subscriberHash}`),
 * '200' or 'default' (errors). Returns the problems found, none when the body conforms.
 */
export function responseValidator(path: string, status: '200' | 'default'): (body: unknown) => string[] {
  const response = (spec.paths as unknown as Paths)[path]?.get.responses[status];
  const ref = response?.content['application/json']?.schema.$ref;
  if (!ref) throw new Error(`expected the spec to describe GET ${path} ${status}`);
  const validate = ajv.compile({ $ref: `mailchimp${ref}` });
  return (body) => (validate(body) ? [] : (validate.errors ?? []).map(describe));
}

const describe = (error: ErrorObject): string => `${error.instancePath || '/'} ${error.message ?? 'is invalid'} ${JSON.stringify(error.params)}`;
