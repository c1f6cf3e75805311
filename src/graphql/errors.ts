import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isDatabaseUnavailable } from '../db/unavailable';
import { DomainError } from '../errors';
import type { Logger } from '../logger';

/** How long a client is asked to wait (Retry-After) while the database is unreachable. */
export const RETRY_AFTER_SECONDS = 5;
const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable (its database cannot be reached); try again shortly';
const unavailableHttp = () => ({ status: 503, headers: new HeaderMap([['retry-after', String(RETRY_AFTER_SECONDS)]]) });

/** For the request's context (authentication): a database that cannot be reached is SERVICE_UNAVAILABLE, HTTP 503. */
export function rethrowUnavailable(err: unknown): never {
  if (!isDatabaseUnavailable(err)) throw err;
  throw new GraphQLError(UNAVAILABLE_MESSAGE, { extensions: { code: 'SERVICE_UNAVAILABLE', http: unavailableHttp() } });
}

/** The status and headers of a GraphQL answer, as Apollo's `response.http` holds them. */
export interface ResponseHead {
  status?: number;
  headers: Map<string, string>;
}

/** A resolver that failed because the database cannot be reached makes the whole answer 503 with Retry-After. */
export function markUnavailable(errors: readonly GraphQLFormattedError[] | undefined, http: ResponseHead) {
  if (!errors?.some((e) => e.extensions?.code === 'SERVICE_UNAVAILABLE')) return;
  const { status, headers } = unavailableHttp();
  http.status = status;
  for (const [name, value] of headers) http.headers.set(name, value);
}

/** Apollo plugin: markUnavailable for answers Apollo executes. */
export const serviceUnavailableStatus: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        markUnavailable(response.body.kind === 'single' ? response.body.singleResult.errors : undefined, response.http);
      },
    };
  },
};

/** Codes that Apollo and graphql-js give to errors the client caused (parse, validation, variables). */
const CLIENT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'LIMIT_EXCEEDED',
  'PAYMENT_FAILED',
  'PAYMENT_SERVICE_UNAVAILABLE',
  'QUERY_TOO_COMPLEX',
]);

/**
 * Apollo's formatError: client-caused errors keep their message and code; an unreachable database is
 * SERVICE_UNAVAILABLE; everything else is logged with its stack and reaches the client as
 * INTERNAL_SERVER_ERROR with a generic message.
 */
export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof DomainError) {
      return { ...formatted, message: original.message, extensions: { ...original.extensions, code: original.code } };
    }
    const code = formatted.extensions?.code;
    if (code === 'SERVICE_UNAVAILABLE' || isDatabaseUnavailable(original)) {
      logger.warn({ err: original, path: formatted.path }, 'the database cannot be reached');
      return { message: UNAVAILABLE_MESSAGE, path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE' } };
    }
    if (typeof code === 'string' && CLIENT_CODES.has(code) && (original instanceof GraphQLError || !(original instanceof Error))) {
      return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { code } };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error while serving a GraphQL request');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}
