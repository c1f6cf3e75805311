import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';
import Negotiator from 'negotiator';
import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { auditServiceMutation } from './authentication';
import type { Context } from './context';
import { markUnavailable } from './errors';
import { countGraphQLRequest } from './metricsPlugin';

/**
 * The hot path of POST /graphql. An ordinary operation runs from a cache of parsed, validated and compiled
 * documents (graphql-jit turns an operation into plain JavaScript once) without Apollo Server's
 * per-request pipeline, whose hooks, copies and promise chain cost as much CPU as the rest of a `myLimits`
 * request, and graphql-js's field-by-field interpretation just as much again (docs/benchmarks.md).
 * Everything Apollo refuses or treats specially goes to Apollo before anything has run: a document that
 * does not parse or validate, an unknown operation name, variables that do not fit, a subscription,
 * persisted queries (`extensions`), an Accept header that wants neither JSON type, a context that fails. So
 * every such error still comes from Apollo. For what does run, this module does what Apollo and this
 * server's plugins do: errors formatted as Apollo formats them (formatError, HTTP status and headers from
 * `extensions.http`), the service-key audit, 503 when the database is down, metrics.
 * test/preparedOperations.test.ts compares both paths answer for answer.
 */

export interface PreparedOperation {
  operation: OperationDefinitionNode;
  compiled: CompiledQuery;
  variables?: Record<string, unknown>;
  contentType: string;
}

export interface OperationAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

export interface OperationRunner<C> {
  /** The operation of a parsed POST body, or undefined when Apollo should answer it. */
  prepare(body: unknown, accept: string | undefined): PreparedOperation | undefined;
  run(prepared: PreparedOperation, context: C): Promise<OperationAnswer>;
}

export interface PreparedOperationsOptions {
  schema: GraphQLSchema;
  /** Apollo's validationRules: run after graphql's specified rules, as Apollo runs them. */
  validationRules: ValidationRule[];
  /** Apollo's parseOptions.maxTokens. */
  maxTokens: number;
  /** Apollo's formatError. */
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
}

/** A document that parsed and validated, with its operations compiled as they are asked for (by name; '' for the only one). */
interface ValidDocument {
  document: DocumentNode;
  compiled: Map<string, CompiledQuery | null>;
}

// A product sends tens of distinct operations; longer or rarer documents simply go through Apollo. Each
// remembered document holds its syntax tree and compiled code, hence the small bounds.
const MAX_QUERY_LENGTH = 16 * 1024;
const MAX_DOCUMENTS = 200;
const MAX_CACHED_TEXT = 1024 * 1024;

const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';
const JSONP_TYPE = 'application/json; callbackSpec=1.0; charset=utf-8';

export function preparedOperations(options: PreparedOperationsOptions): OperationRunner<Context> {
  const rules = [...specifiedRules, ...options.validationRules];
  // Documents that failed are remembered as such, so a client repeating one is not parsed twice each time.
  const documents = new LRUCache<string, ValidDocument | { invalid: true }>({
    max: MAX_DOCUMENTS,
    maxSize: MAX_CACHED_TEXT,
    sizeCalculation: (_value, query) => query.length,
  });

  function documentOf(query: string): ValidDocument | undefined {
    let entry = documents.get(query);
    if (!entry) {
      const document = parseAndValidate(query);
      entry = document ? { document, compiled: new Map() } : { invalid: true };
      documents.set(query, entry);
    }
    return 'invalid' in entry ? undefined : entry;
  }

  function parseAndValidate(query: string): DocumentNode | undefined {
    try {
      const document = parse(query, { maxTokens: options.maxTokens });
      return validate(options.schema, document, rules).length === 0 ? document : undefined;
    } catch {
      return undefined;
    }
  }

  /** graphql-jit's code for one operation: graphql-js's execution without its per-field interpretation. */
  function compiledOf(entry: ValidDocument, operationName: string | undefined): CompiledQuery | null {
    let compiled = entry.compiled.get(operationName ?? '');
    if (compiled === undefined) {
      const made = compileQuery(options.schema, entry.document, operationName);
      compiled = isCompiledQuery(made) ? made : null;
      entry.compiled.set(operationName ?? '', compiled);
    }
    return compiled;
  }

  function prepare(body: unknown, accept: string | undefined): PreparedOperation | undefined {
    if (!isRecord(body)) return undefined;
    const { query, variables, operationName, extensions } = body;
    if (typeof query !== 'string' || query.length > MAX_QUERY_LENGTH || extensions != null) return undefined;
    if ((variables != null && !isRecord(variables)) || (operationName != null && typeof operationName !== 'string')) return undefined;
    const contentType = responseType(accept);
    const entry = contentType && documentOf(query);
    if (!contentType || !entry) return undefined;
    const operation = getOperationAST(entry.document, operationName ?? undefined);
    if (!operation || operation.operation === 'subscription') return undefined;
    if (getVariableValues(options.schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 1 }).errors) return undefined;
    const compiled = compiledOf(entry, operationName ?? undefined);
    return compiled ? { operation, compiled, variables: variables ?? undefined, contentType } : undefined;
  }

  async function run(prepared: PreparedOperation, context: Context): Promise<OperationAnswer> {
    const started = process.hrtime.bigint();
    auditServiceMutation(context, prepared.operation, prepared.operation.name?.value ?? null);
    const http = { status: undefined as number | undefined, headers: new Map([['content-type', prepared.contentType]]) };
    const result = await executeOperation(prepared, context);
    const errors = result.errors?.map((error) => formatError(error, http));
    if (result.thrown) http.status ??= 500;
    markUnavailable(errors, http);
    countGraphQLRequest(prepared.operation, errors, started);
    // Apollo's order (errors, data, extensions) and its trailing newline.
    return {
      status: http.status ?? 200,
      headers: http.headers,
      body: `${JSON.stringify({ errors, data: result.data, extensions: result.extensions })}\n`,
    };
  }

  async function executeOperation(prepared: PreparedOperation, context: Context): Promise<ExecutionResult & { thrown?: true }> {
    try {
      return await prepared.compiled.query(undefined, context, prepared.variables ?? {});
    } catch (err) {
      return { errors: [asGraphQLError(err)], thrown: true };
    }
  }

  /** Apollo's normalizeAndFormatErrors for one error: a code always, `extensions.http` applied to the answer. */
  function formatError(error: GraphQLError, http: { status?: number; headers: Map<string, string> }): GraphQLFormattedError {
    // graphql-jit leaves extensions out where graphql-js has an empty object.
    const extensions: Record<string, unknown> = { ...error.extensions, code: error.extensions?.code ?? 'INTERNAL_SERVER_ERROR' };
    const head = extensions.http as { status?: unknown; headers?: unknown } | undefined;
    if (head && typeof head === 'object' && (head.status === undefined || typeof head.status === 'number')) {
      if (head.headers === undefined || head.headers instanceof Map) {
        if (head.status) http.status = head.status as number;
        for (const [name, value] of (head.headers as Map<string, string> | undefined) ?? []) http.headers.set(name, value);
        delete extensions.http;
      }
    }
    try {
      return options.formatError({ ...error.toJSON(), extensions }, error);
    } catch {
      return { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
  }

  return { prepare, run };
}

/** The JSON media type Apollo would answer with, as Apollo negotiates it; undefined for anything else. */
function responseType(accept: string | undefined): string | undefined {
  if (!accept) return JSON_TYPE;
  const preferred = new Negotiator({ headers: { accept } }).mediaType([JSON_TYPE, GRAPHQL_RESPONSE_TYPE, JSONP_TYPE]);
  return preferred === JSON_TYPE || preferred === GRAPHQL_RESPONSE_TYPE ? preferred : undefined;
}

/** Apollo's ensureGraphQLError. */
function asGraphQLError(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  if (err instanceof Error) return new GraphQLError(err.message, { originalError: err });
  return new GraphQLError(`Unexpected error value: ${String(err)}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
