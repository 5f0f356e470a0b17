import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { Kind, type GraphQLError } from 'graphql';

/** The two response media types of the GraphQL-over-HTTP spec, as Apollo writes them in `Content-Type`. */
export const MediaType = {
  Json: 'application/json; charset=utf-8',
  GraphQLResponseJson: 'application/graphql-response+json; charset=utf-8',
} as const;
export type MediaType = (typeof MediaType)[keyof typeof MediaType];

/** In the order Apollo offers them, so a tie (a wildcard such as `application/*`) goes to `application/json`, as in Apollo. */
const CANDIDATES: ReadonlyArray<{ mediaType: MediaType; type: string; subtype: string }> = [
  { mediaType: MediaType.Json, type: 'application', subtype: 'json' },
  { mediaType: MediaType.GraphQLResponseJson, type: 'application', subtype: 'graphql-response+json' },
];

/** RFC 9110's qvalue; anything else (`q=2`, `q=O`) makes its range unacceptable rather than first choice. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The media type a response to this `Accept` header is encoded in, negotiated as Apollo Server
 * does (RFC 9110: highest q, then the most specific range, then the range listed first, then
 * `application/json`): `application/json` without a header, null when neither type is acceptable
 * (Apollo then answers 406).
 */
export function responseMediaType(accept: string | undefined): MediaType | null {
  if (!accept) return MediaType.Json;
  const ranges = accept.split(',').flatMap((part, order) => {
    const [range = '', ...params] = part.split(';').map((piece) => piece.trim());
    const [type, subtype, ...rest] = range.toLowerCase().split('/');
    if (!type || !subtype || rest.length > 0) return [];
    let q = 1;
    const others = new Map<string, string>();
    for (const param of params) {
      const [name = '', value = ''] = param.split('=').map((piece) =>
        piece
          .trim()
          .toLowerCase()
          .replace(/^"(.*)"$/, '$1'),
      );
      if (name === 'q') {
        if (!QVALUE.test(value)) return [];
        q = Number(value);
      } else if (name) others.set(name, value);
    }
    return [{ type, subtype, others, q, order }];
  });
  const ranked = CANDIDATES.flatMap((candidate, index) => {
    const matches = ranges.flatMap((range) => {
      if (range.type !== '*' && range.type !== candidate.type) return [];
      if (range.subtype !== '*' && range.subtype !== candidate.subtype) return [];
      // Our types carry one parameter, charset=utf-8; a range asking for any other matches neither.
      for (const [name, value] of range.others) if (name !== 'charset' || value !== 'utf-8') return [];
      const specificity = (range.type === '*' ? 0 : 4) + (range.subtype === '*' ? 0 : 2) + (range.others.size > 0 ? 1 : 0);
      return [{ ...range, specificity }];
    });
    // The most specific matching range decides the candidate's q (`application/json;q=0, */*` refuses JSON).
    const best = matches.sort((a, b) => b.specificity - a.specificity || b.q - a.q || a.order - b.order)[0];
    return best && best.q > 0 ? [{ mediaType: candidate.mediaType, q: best.q, specificity: best.specificity, order: best.order, index }] : [];
  });
  ranked.sort((a, b) => b.q - a.q || b.specificity - a.specificity || a.order - b.order || a.index - b.index);
  return ranked[0]?.mediaType ?? null;
}

const REQUEST_ERROR_CODES = new Set<unknown>([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
]);

/**
 * A GraphQL request error Apollo answers 400 on its own: the document does not parse or
 * validate, no operation can be chosen (an unknown or missing `operationName`), or the variables
 * do not coerce (graphql-js reports those on the variable's definition, whatever code a scalar
 * gave them). Errors we raise with a status of our own (limits, scopes, argument checks) are not.
 */
function isRequestError(error: GraphQLError): boolean {
  if (REQUEST_ERROR_CODES.has(error.extensions.code)) return true;
  return error.nodes?.length === 1 && error.nodes[0]!.kind === Kind.VARIABLE_DEFINITION;
}

/**
 * Statuses and media types per the GraphQL-over-HTTP spec. A response is encoded in the media
 * type the request's `Accept` prefers (see `responseMediaType`), set here so the status and the
 * `Content-Type` are decided together. Encoded as `application/json`, a request error (parse,
 * validation, operation resolution, variable coercion) answers 200 with `{ errors }`: a client
 * cannot tell a 4xx `application/json` body from a proxy's. As
 * `application/graphql-response+json` it keeps Apollo's 400. Anything else keeps its status:
 * what the request never reached GraphQL for (401, 413, CSRF and malformed bodies: 400), GET
 * mutations (405), and the refusals we chose (403 FORBIDDEN, 400 OPERATION_LIMIT_EXCEEDED and
 * BAD_USER_INPUT from argument checks, 429 RATE_LIMITED with Retry-After).
 *
 * Register it last: the request log and metrics (server/observability) class a response by the
 * status they see, and a request error is the client's (`rejected`), not the server's.
 */
export function graphqlOverHttp<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response, errors }) {
          if (!request.http || response.body.kind !== 'single') return;
          const mediaType = responseMediaType(request.http.headers.get('accept'));
          if (!mediaType) return;
          response.http.headers.set('content-type', mediaType);
          const { data } = response.body.singleResult;
          if (mediaType === MediaType.Json && response.http.status === 400 && data === undefined && errors?.length && errors.every(isRequestError)) {
            response.http.status = 200;
          }
        },
      };
    },
  };
}
