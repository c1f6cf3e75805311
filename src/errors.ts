/**
 * Errors a client can cause. The GraphQL layer turns each into a GraphQLError carrying `code`;
 * anything that is not a DomainError is treated as internal and masked.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'CONFLICT'
  | 'LIMIT_EXCEEDED'
  | 'PAYMENT_FAILED'
  | 'PAYMENT_SERVICE_UNAVAILABLE'
  | 'SERVICE_UNAVAILABLE';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const badInput = (message: string, extensions: Record<string, unknown> = {}) =>
  new DomainError('BAD_USER_INPUT', message, extensions);
export const notFound = (what: string) => new DomainError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, extensions: Record<string, unknown> = {}) => new DomainError('CONFLICT', message, extensions);
export const forbidden = (message: string, extensions: Record<string, unknown> = {}) => new DomainError('FORBIDDEN', message, extensions);
