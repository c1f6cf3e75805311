import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import type { OperationDefinitionNode } from 'graphql';
import { authenticate, type Authenticator, type Principal } from '../auth/principal';
import { badInput, DomainError } from '../errors';
import type { Logger } from '../logger';
import { tokenFromHeader, type Context } from './context';

/**
 * The request's Principal from its `Authorization` and `Tollgate-User` headers, or why there is none.
 * A refused credential does not fail the request: public fields (the catalog) still answer, and every
 * field that needs a caller answers with the problem.
 */
export async function authenticateRequest(
  authenticator: Authenticator,
  req: IncomingMessage,
): Promise<{ principal: Principal | null; problem?: DomainError }> {
  const header = req.headers.authorization;
  if (!header) return { principal: null };
  const token = tokenFromHeader(header);
  if (!token)
    return { principal: null, problem: new DomainError('UNAUTHENTICATED', 'Malformed Authorization header: expected "Bearer <token>"') };
  const actingFor = req.headers['tollgate-user'];
  if (Array.isArray(actingFor)) return { principal: null, problem: badInput('Send one Tollgate-User header', { header: 'Tollgate-User' }) };
  try {
    return { principal: await authenticate(authenticator, { token, actingFor }) };
  } catch (err) {
    if (err instanceof DomainError) return { principal: null, problem: err };
    throw err;
  }
}

/** Every log entry of a service key's request names the key and the user it acts for. */
export function requestLogger(logger: Logger, principal: Principal | null): Logger {
  if (principal?.kind !== 'service') return logger;
  return logger.child({ apiKey: principal.key.name, actingFor: principal.actingForExternalId ?? undefined });
}

/**
 * What a service key changes is logged (at info, with the key's name and the user it acts for from the
 * request logger); its reads are not, so a busy backend does not flood the log.
 */
export function auditServiceMutation(context: Context, operation: OperationDefinitionNode | undefined, operationName: string | null): void {
  if (context.principal?.kind !== 'service' || operation?.operation !== 'mutation') return;
  const fields = operation.selectionSet.selections.flatMap((s) => (s.kind === 'Field' ? [s.name.value] : []));
  context.logger.info({ operation: operationName ?? undefined, fields }, 'service key mutation');
}

/** Apollo plugin: auditServiceMutation for operations Apollo executes. */
export const serviceKeyAudit: ApolloServerPlugin<Context> = {
  async requestDidStart({ contextValue }) {
    if (contextValue.principal?.kind !== 'service') return;
    return {
      async didResolveOperation({ operation, operationName }) {
        auditServiceMutation(contextValue, operation, operationName);
      },
    };
  },
};
