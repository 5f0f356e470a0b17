import { randomUUID } from 'node:crypto';

/** RFC 7807 problem document, the shape Mailchimp answers every error with. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
}

const DOCS = 'https://mailchimp.com/developer/marketing/docs/errors/';

function problem(status: number, title: string, detail: string): Problem {
  return { type: DOCS, title, status, detail, instance: randomUUID() };
}

/** The problems the stand-in serves, worded as the live API words them. */
export const problems = {
  notFound: () => problem(404, 'Resource Not Found', 'The requested resource could not be found.'),
  keyMissing: () => problem(401, 'API Key Missing', 'Your request did not include an API key.'),
  keyInvalid: () => problem(401, 'API Key Invalid', "Your API key may be invalid, or you've attempted to access the wrong datacenter."),
  tooManyRequests: (limit: number) => problem(429, 'Too Many Requests', `You have exceeded the limit of ${limit} simultaneous connections.`),
  internal: () => problem(500, 'Internal Server Error', 'An unexpected internal error has occurred. Please contact Support for more information.'),
  invalid: (detail: string) => problem(400, 'Invalid Resource', detail),
  methodNotAllowed: () => problem(405, 'Method Not Allowed', 'The requested method and resource are not compatible.'),
};
