import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import cors from 'cors';
import getRawBody from 'raw-body';
import type { Logger } from '../logger';
import type { OperationAnswer, OperationRunner } from './preparedOperations';

/**
 * Serves GraphQL over node:http through Apollo Server's own HTTP entry point
 * (`executeHTTPGraphQLRequest`, what every Apollo integration calls). GraphQL is the hot path of the
 * server, and going through Express's router, body-parser and the Express integration for it cost more
 * CPU than the rest of a `myLimits` request together (docs/benchmarks.md); the REST routes stay on
 * Express. Apollo itself does everything GraphQL-over-HTTP asks for: methods, content negotiation, CSRF
 * prevention, the Sandbox landing page on GET, status codes. An ordinary POST operation seen before runs
 * compiled instead (preparedOperations.ts), answering as Apollo would.
 */

export interface GraphQLHttpOptions<C extends BaseContext> {
  /** The context of one request (authentication happens here). */
  context(req: IncomingMessage): Promise<C>;
  /** The largest request body accepted, as a byte count or a string such as "1mb". */
  bodyLimit: string | number;
  logger: Logger;
  /** Runs ordinary operations without Apollo's pipeline (src/graphql/preparedOperations.ts). */
  operations?: OperationRunner<C>;
}

/** `/graphql`, `/graphql/`, with or without a query string. */
export function isGraphQLPath(url: string | undefined, path = '/graphql'): boolean {
  if (!url?.startsWith(path)) return false;
  const rest = url.slice(path.length);
  return rest === '' || rest === '/' || rest.startsWith('?') || rest.startsWith('/?');
}

/**
 * A browser app on another origin (the product's frontend, with its own sign-in token) may call /graphql
 * when its origin is listed: preflights are answered, the Authorization header allowed. No list: no CORS
 * headers, so browsers keep other origins out.
 */
export function graphqlCors(origins: string[] | '*') {
  return cors({
    origin: origins === '*' ? true : origins,
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type', 'apollo-require-preflight'],
    maxAge: 600,
  });
}

/** The scheme a request came in on, as Express reports it without `trust proxy`. */
export function requestProtocol(req: IncomingMessage): 'http' | 'https' {
  return (req.socket as TLSSocket).encrypted ? 'https' : 'http';
}

class BodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A JSON body is parsed; any other body is handed to Apollo as text, which refuses it with 400. */
async function readBody(req: IncomingMessage, limit: string | number): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  let text: string;
  try {
    text = await getRawBody(req, { length: req.headers['content-length'], limit, encoding: 'utf-8' });
  } catch (err) {
    const e = err as { status?: number; type?: string; message: string };
    if (e.type === 'entity.too.large') throw new BodyError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${limit}`);
    throw new BodyError(e.status ?? 400, 'BAD_REQUEST', `The request body could not be read: ${e.message}`);
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json' && !type.endsWith('+json')) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError(400, 'BAD_REQUEST', 'The request body is not valid JSON');
  }
}

function send(res: ServerResponse, answer: OperationAnswer): void {
  for (const [key, value] of answer.headers) res.setHeader(key, value);
  res.statusCode = answer.status;
  res.end(answer.body);
}

/** The request handler for the GraphQL endpoint. */
export function graphqlHttpHandler<C extends BaseContext>(apollo: ApolloServer<C>, options: GraphQLHttpOptions<C>) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const body = await readBody(req, options.bodyLimit);
      const prepared = req.method === 'POST' ? options.operations?.prepare(body, req.headers.accept) : undefined;
      let contextFailure: { error: unknown } | undefined;
      if (prepared && options.operations) {
        const context = await options.context(req).catch((error: unknown) => {
          // Apollo answers a context that failed, as it does for any other request.
          contextFailure = { error };
        });
        if (context) {
          send(res, await options.operations.run(prepared, context));
          return;
        }
      }
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const url = req.url ?? '';
      const query = url.indexOf('?');
      const response = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: query >= 0 ? url.slice(query) : '', body },
        context: () => (contextFailure ? Promise.reject(contextFailure.error) : options.context(req)),
      });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    } catch (err) {
      const known = err instanceof BodyError;
      if (!known) options.logger.error({ err }, 'unexpected error while serving a GraphQL request');
      // Whatever is left of a refused body is read and dropped, so the answer reaches the client.
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = known ? err.status : 500;
      const error = known
        ? { message: err.message, extensions: { code: err.code } }
        : { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ errors: [error] }));
    }
  };
}
