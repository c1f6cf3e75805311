import type http from 'node:http';
import type { Duplex } from 'node:stream';
import {
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { authenticate, type Authenticator, type Principal } from '../auth/principal';
import { DomainError } from '../errors';
import type { Logger } from '../logger';
import { tokenFromHeader, type Context } from './context';
import { isGraphQLPath } from './http';

/**
 * GraphQL subscriptions over the graphql-ws protocol, on the HTTP server's `/graphql` path (an upgrade
 * request). The credentials are those of HTTP, sent in `connection_init`: `{ authorization: 'Bearer ...',
 * 'tollgate-user': '...' }`; a connection without a good one is closed (4401/4403 and the reason) before
 * it may subscribe. Only subscriptions are served here: queries and mutations go over HTTP, where they
 * are audited and measured.
 */

export interface SubscriptionServerOptions {
  schema: GraphQLSchema;
  authenticator: Authenticator;
  /** The same operation limits as HTTP (depth, cost, aliases...) and graphql's token limit. */
  validationRules: ValidationRule[];
  maxTokens: number;
  /** The largest message accepted, in bytes. */
  maxPayload: number;
  /** The context of one subscription. */
  context(principal: Principal): Context;
  formatError(formatted: ReturnType<GraphQLError['toJSON']>, error: unknown): ReturnType<GraphQLError['toJSON']>;
  logger: Logger;
}

export interface SubscriptionServer {
  /** Closes every connection (1001 Going away) and stops accepting new ones. */
  stop(): Promise<void>;
}

/** What a connection keeps once authenticated (graphql-ws's `extra`, beside the socket and request). */
type Authenticated = { principal: Principal };

/** The longest close reason WebSocket allows is 123 bytes. */
const closeReason = (text: string) => (Buffer.byteLength(text) <= 123 ? text : `${Buffer.from(text).subarray(0, 120).toString()}...`);

/** The error with the code Apollo gives the same problem over HTTP (formatError shows only coded client errors). */
const coded = (e: GraphQLError, code: string) =>
  new GraphQLError(e.message, { nodes: e.nodes, source: e.source, positions: e.positions, extensions: { ...e.extensions, code } });

export function serveSubscriptions(httpServer: http.Server, options: SubscriptionServerOptions): SubscriptionServer {
  const { schema, authenticator, validationRules, maxTokens, context, formatError } = options;
  const log = options.logger.child({ component: 'subscriptions' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isGraphQLPath(req.url)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const format = (errors: readonly GraphQLError[]) => errors.map((e) => formatError(e.toJSON(), e));
  const rules = [...specifiedRules, ...validationRules];

  const server = useServer<Record<string, unknown> | undefined, Authenticated>(
    {
      schema,
      onConnect: async (ctx) => {
        const refused = (code: 1011 | 4401 | 4403, message: string) => {
          ctx.extra.socket.close(code, closeReason(message));
          return false;
        };
        const params = ctx.connectionParams ?? {};
        const header = params.authorization ?? params.Authorization;
        const actingFor = params['tollgate-user'] ?? params['Tollgate-User'];
        const token = typeof header === 'string' ? tokenFromHeader(header) : undefined;
        if (!token) return refused(4401, `Unauthorized: send { authorization: 'Bearer <token>' } in connection_init`);
        if (actingFor !== undefined && typeof actingFor !== 'string') return refused(4403, 'Forbidden: tollgate-user must be a string');
        try {
          ctx.extra.principal = await authenticate(authenticator, { token, actingFor });
          return true;
        } catch (err) {
          if (!(err instanceof DomainError)) {
            log.error({ err }, 'subscription connection could not be authenticated');
            return refused(1011, 'Internal server error: try again');
          }
          const code = err.code === 'UNAUTHENTICATED' ? 4401 : err.code === 'SERVICE_UNAVAILABLE' ? 1011 : 4403;
          return refused(code, `${err.code}: ${err.message}`);
        }
      },
      onSubscribe: (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens });
        } catch (err) {
          return [coded(err instanceof GraphQLError ? err : new GraphQLError(String(err)), 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(schema, document, rules);
        if (errors.length > 0) return errors.map((e) => coded(e, 'GRAPHQL_VALIDATION_FAILED'));
        if (getOperationAST(document, payload.operationName)?.operation !== 'subscription') {
          const message = 'Only subscriptions are served over WebSocket: send queries and mutations over HTTP';
          return [coded(new GraphQLError(message), 'GRAPHQL_VALIDATION_FAILED')];
        }
        return {
          schema,
          document,
          variableValues: payload.variables,
          operationName: payload.operationName,
          contextValue: context(ctx.extra.principal!),
        };
      },
      onError: (_ctx, _id, _payload, errors) => format(errors),
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: format(result.errors) } : undefined),
      // A thrown error closes the socket with its message as the reason: never show internals.
      isProd: true,
    },
    wss,
  );
  wss.on('error', (err) => log.warn({ err }, 'websocket server error'));

  return { stop: () => Promise.resolve(server.dispose()) };
}
