import type { ApolloServerPlugin } from '@apollo/server';
import type { Request, RequestHandler, Response } from 'express';
import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import type { CheckedRequest } from '../resolvers/head-start.ts';
import type { RequestAuth } from './auth/audit.ts';
import type { OperationCheck } from './auth/limits.ts';
import type { CheckedBeforeApollo, Context } from './context.ts';
import { everyRequest } from './listener.ts';

export interface FrontOptions {
  /** /graphql's operation check (limits, cost, the client's rate limit), which Apollo's pipeline runs otherwise. */
  readonly check: OperationCheck;
  /** The request's auth context (who is calling, the audit trail), as the pipeline's context has it. */
  readonly auth: (res: Response) => RequestAuth;
  /** Remembered answers (server/answers.ts); none when the answer cache is off. */
  readonly answers?: FrontAnswers;
  /** Starts the root lookups of a checked request left to Apollo, and says when Apollo may run (resolvers/head-start.ts). */
  readonly headStart?: (res: Response, request: CheckedRequest) => Promise<unknown> | null;
}

/** What the front asks of the remembered answers (server/answers.ts). */
export interface FrontAnswers {
  /**
   * Answers a checked request from memory (then it is done), or gives the key it looked the answer
   * up under without finding one that holds (undefined for an operation whose answers are never
   * remembered).
   */
  answer(res: Response, request: FrontRequest): { readonly answered: true } | { readonly answered: false; readonly key: string | undefined };
}

/** A request the front checked: its document as Apollo knows it, what was asked, who asks, and when it came (performance.now()). */
export interface FrontRequest {
  readonly known: KnownDocument & { readonly operation: OperationDefinitionNode };
  readonly asked: Asked;
  readonly auth: RequestAuth;
  readonly started: number;
}

export interface Front {
  /** Teaches the front the documents whose operations pass Apollo's checks; before any plugin that answers in execution's place. */
  readonly plugin: ApolloServerPlugin<Context>;
  /** Express middleware for /graphql, after authentication and just before Apollo. */
  readonly handler: RequestHandler;
}

/**
 * In front of Apollo Server on /graphql. A plain JSON POST of a document Apollo has validated before
 * is checked here, once (limits, cost, the client's rate limit: the pipeline takes the outcome
 * and neither checks nor charges again); then it is answered from memory when a remembered answer
 * holds (server/answers.ts), or its root lookups start (resolvers/head-start.ts) and it goes on to
 * Apollo. Anything else (a GET, a persisted query, a gateway's trace, a document Apollo has not
 * seen, an Accept only Apollo can refuse) goes to Apollo as it came.
 */
export function frontOfApollo(options: FrontOptions): Front {
  const documents = new KnownDocuments();

  const plugin = everyRequest({
    // Past every check of the pipeline, before any plugin answers in execution's place: placed before
    // those (server/answers.ts), it answers nothing itself.
    async responseForOperation({ request, document, schema, queryHash, operation }) {
      if (request.query !== undefined && queryHash !== undefined && operation) documents.learn(request.query, { queryHash, schema, document }, request.operationName, operation);
      return null;
    },
  });

  const handler: RequestHandler = async (req, res, next) => {
    const started = performance.now();
    const asked = askedOf(req);
    const known = asked && documents.of(asked.query, asked.operationName);
    if (!asked || !known) return next();
    const auth = options.auth(res);
    const { schema, document, operation } = known;
    try {
      await options.check({ schema, document, operation, variables: asked.variables, principal: auth.principal });
    } catch (error) {
      checks.set(res, { refusal: error instanceof Error ? error : new Error(String(error)) });
      return next();
    }
    const answer = options.answers?.answer(res, { known, asked, auth, started });
    if (answer?.answered) return;
    checks.set(res, answer?.key === undefined ? { refusal: null } : { refusal: null, missedAnswer: answer.key });
    const headStart = options.headStart?.(res, { schema, document, operation, variables: asked.variables, principal: auth.principal });
    if (headStart) return void headStart.then(() => next());
    next();
  };

  return { plugin, handler };
}

/** The check's outcome for the requests the front checked and then left to Apollo. */
const checks = new WeakMap<Response, CheckedBeforeApollo>();

/**
 * The operation check's outcome, when the front ran it for this request before leaving it to
 * Apollo (a known document without an answer that holds, or a refusal), for its context
 * (Context.checked): the pipeline does not check, and charge the client, again.
 */
export function checkedBeforeApollo(res: Response): CheckedBeforeApollo | undefined {
  return checks.get(res);
}

/** A plain JSON POST, as Apollo Server reads one, with the content type its answer would have. */
export interface Asked {
  readonly query: string;
  readonly operationName: string | undefined;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly contentType: string;
}

/**
 * The request, when the front may take it before Apollo Server (and answer it as Apollo would): a POST whose JSON body
 * (express.json parses only `application/json`, which a browser cannot send cross-origin without a
 * preflight, so Apollo's CSRF check passes it) holds a query, maybe an operation name and
 * variables as Apollo accepts them, no extensions (a persisted query's hash), no trace asked for,
 * and an Accept header Apollo answers with JSON. Null for anything else: Apollo takes it.
 */
function askedOf(req: Request): Asked | null {
  if (req.method !== 'POST' || req.headers['apollo-federation-include-trace'] !== undefined) return null;
  const body: unknown = req.body;
  if (!isRecord(body) || typeof body.query !== 'string' || (body.extensions !== undefined && body.extensions !== null)) return null;
  const { operationName, variables } = body;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
  if (variables !== undefined && variables !== null && !isRecord(variables)) return null;
  const contentType = contentTypeFor(req);
  if (contentType === null) return null;
  return { query: body.query, operationName: operationName ?? undefined, variables: variables ?? undefined, contentType };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Apollo Server's media types for a single result, in the order it offers them (ApolloServer.ts, MEDIA_TYPES). */
const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';
const OFFERED = [JSON_TYPE, GRAPHQL_RESPONSE_TYPE, 'application/json; callbackSpec=1.0; charset=utf-8'];
/** Accept headers seen, and what they negotiate; clients send a handful, so a few are kept. */
const negotiated = new Map<string, string | null>();
const MAX_NEGOTIATED = 64;

/**
 * The content type Apollo Server gives this request's answer (its chooseContentTypeForSingleResultResponse:
 * Negotiator over its three types, through Express's `req.accepts`, which is the same), or null where
 * Apollo would not answer plain JSON: the subscription callback's type, or a 406.
 */
function contentTypeFor(req: Request): string | null {
  const accept = req.headers.accept;
  if (!accept) return JSON_TYPE;
  let type = negotiated.get(accept);
  if (type === undefined) {
    const chosen = req.accepts(OFFERED);
    type = chosen === JSON_TYPE || chosen === GRAPHQL_RESPONSE_TYPE ? chosen : null;
    if (negotiated.size < MAX_NEGOTIATED) negotiated.set(accept, type);
  }
  return type;
}

/** A document Apollo Server parsed and validated. */
export interface KnownDocument {
  readonly queryHash: string;
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
}

/**
 * The documents Apollo Server has validated, by their text, learnt from it once an operation of
 * theirs has passed every check of the pipeline (a refused document is not kept): the
 * hash Apollo keys them by, the parsed document and its operations by name, so the front neither
 * hashes, parses nor validates them again. Bounded in documents and in their texts' length: past
 * either, the oldest are forgotten, and Apollo teaches them again on their next request.
 */
class KnownDocuments {
  private readonly byText = new Map<string, KnownDocument & { readonly operations: Map<string, OperationDefinitionNode> }>();
  private chars = 0;

  constructor(
    private readonly max = 1000,
    private readonly maxChars = 4 * 2 ** 20,
  ) {}

  of(query: string, operationName: string | undefined): (KnownDocument & { readonly operation: OperationDefinitionNode }) | undefined {
    const known = this.byText.get(query);
    const operation = known?.operations.get(operationName ?? '');
    return known && operation && { ...known, operation };
  }

  learn(query: string, known: KnownDocument, operationName: string | undefined | null, operation: OperationDefinitionNode): void {
    let entry = this.byText.get(query);
    if (entry?.document !== known.document || entry.schema !== known.schema) {
      if (entry === undefined) {
        if (query.length > this.maxChars) return;
        this.chars += query.length;
        for (const oldest of this.byText.keys()) {
          if (this.byText.size < this.max && this.chars <= this.maxChars) break;
          this.byText.delete(oldest);
          this.chars -= oldest.length;
        }
      }
      entry = { ...known, operations: new Map() };
      this.byText.set(query, entry);
    }
    entry.operations.set(operationName ?? '', operation);
  }
}
