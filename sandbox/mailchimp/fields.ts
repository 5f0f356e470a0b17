/** A JSON value as the stand-in builds it. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

/** Dotted paths as a tree; `true` means "this whole value". */
type PathTree = Map<string, PathTree | true>;

function treeOf(list: string): PathTree {
  const root: PathTree = new Map();
  for (const path of list
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    let node = root;
    const parts = path.split('.');
    parts.forEach((part, i) => {
      const existing = node.get(part);
      if (existing === true) return;
      if (i === parts.length - 1) return void node.set(part, true);
      const next = existing ?? new Map<string, PathTree | true>();
      node.set(part, next);
      node = next;
    });
  }
  return root;
}

function pick(value: Json, tree: PathTree | true): Json {
  if (tree === true || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item: Json) => pick(item, tree));
  const object = value as JsonObject;
  const out: Record<string, Json> = {};
  for (const [key, sub] of tree) if (key in object) out[key] = pick(object[key] as Json, sub);
  return out;
}

function omit(value: Json, tree: PathTree): Json {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item: Json) => omit(item, tree));
  const out: Record<string, Json> = { ...(value as JsonObject) };
  for (const [key, sub] of tree) {
    if (sub === true) delete out[key];
    else if (key in out) out[key] = omit(out[key] as Json, sub);
  }
  return out;
}

/**
 * Applies Mailchimp's `fields` and `exclude_fields` query parameters: comma-separated dotted paths,
 * applied element-wise through arrays (`tags.name` keeps only each tag's name). `fields` first,
 * then `exclude_fields`, as the live API does when both are given.
 */
export function projectFields(body: JsonObject, fields: string | null, excludeFields: string | null): JsonObject {
  let out: Json = body;
  if (fields) out = pick(out, treeOf(fields));
  if (excludeFields) out = omit(out, treeOf(excludeFields));
  return out as JsonObject;
}
