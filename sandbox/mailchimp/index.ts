/**
 * The local Mailchimp Marketing API: the member, activity-feed, tags and ping endpoints with the
 * live API's shapes, auth, errors and connection limit, serving the people of a demo world.
 */
export { startMailchimpStandIn, DEFAULT_KNOBS, type MailchimpStandIn, type MailchimpStandInOptions, type StandInKnobs, type StandInStats } from './server.ts';
export type { Endpoint } from './api.ts';
