import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';
import Negotiator from 'negotiator';
import {
  BREAK,
  getOperationAST,
  Kind,
  visit,
  type SelectionSetNode,
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
import { markUnavailable, type ResponseHead } from './errors';
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

/**
 * A document that parsed and validated, with its operations compiled as they are asked for (by name; ''
 * for the only one). `fields` counts its field selections, fragments spread out: what its compiled code
 * grows with (about 1.5 KB of heap each).
 */
interface PreparedDocument {
  document: DocumentNode;
  fields: number;
  compiled: Map<string, CompiledQuery | null>;
}

/** A document Apollo answers: one that does not parse or validate, introspection, or one too large to compile. */
const FOR_APOLLO = { forApollo: true } as const;

// A product sends tens of distinct, small operations; longer, larger or rarer documents go through Apollo.
const MAX_QUERY_LENGTH = 16 * 1024;
const MAX_DOCUMENTS = 200;
const MAX_FIELDS_PER_DOCUMENT = 1_000;
// About 15 MB of compiled code at most, whatever clients send.
const MAX_FIELDS = 10_000;
const MAX_SEEN = 1_000;
const MAX_SEEN_TEXT = 1024 * 1024;

const JSON_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';
const JSONP_TYPE = 'application/json; callbackSpec=1.0; charset=utf-8';

export function preparedOperations(options: PreparedOperationsOptions): OperationRunner<Context> {
  const rules = [...specifiedRules, ...options.validationRules];
  const documents = new LRUCache<string, PreparedDocument | typeof FOR_APOLLO>({
    max: MAX_DOCUMENTS,
    maxSize: MAX_FIELDS,
    sizeCalculation: (entry) => ('fields' in entry ? entry.fields : 1),
  });
  // A document is prepared the second time it comes, so one sent once (or varied on every request) costs
  // no more than Apollo's own work.
  const seenOnce = new LRUCache<string, true>({ max: MAX_SEEN, maxSize: MAX_SEEN_TEXT, sizeCalculation: (_value, query) => query.length });

  function documentOf(query: string): PreparedDocument | undefined {
    let entry = documents.get(query);
    if (!entry) {
      if (!seenOnce.has(query)) {
        seenOnce.set(query, true);
        return undefined;
      }
      seenOnce.delete(query);
      entry = prepareDocument(query);
      documents.set(query, entry);
    }
    return 'fields' in entry ? entry : undefined;
  }

  function prepareDocument(query: string): PreparedDocument | typeof FOR_APOLLO {
    const document = parseAndValidate(query);
    if (!document || asksForTheSchema(document)) return FOR_APOLLO;
    const fields = fieldCount(document, MAX_FIELDS_PER_DOCUMENT + 1);
    return fields <= MAX_FIELDS_PER_DOCUMENT ? { document, fields, compiled: new Map() } : FOR_APOLLO;
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
  function compiledOf(entry: PreparedDocument, operationName: string | undefined): CompiledQuery | null {
    let compiled = entry.compiled.get(operationName ?? '');
    if (compiled === undefined) {
      compiled = compile(entry.document, operationName);
      entry.compiled.set(operationName ?? '', compiled);
    }
    return compiled;
  }

  /** null when graphql-jit cannot compile it: Apollo answers it then. */
  function compile(document: DocumentNode, operationName: string | undefined): CompiledQuery | null {
    try {
      const made = compileQuery(options.schema, document, operationName);
      return isCompiledQuery(made) ? made : null;
    } catch {
      return null;
    }
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
    const http: ResponseHead = { headers: new Map([['content-type', prepared.contentType]]) };
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
  function formatError(error: GraphQLError, http: ResponseHead): GraphQLFormattedError {
    // graphql-jit leaves extensions out where graphql-js has an empty object.
    const extensions: Record<string, unknown> = { ...error.extensions, code: error.extensions?.code ?? 'INTERNAL_SERVER_ERROR' };
    if (isPartialHead(extensions.http)) {
      if (extensions.http.status) http.status = extensions.http.status;
      for (const [name, value] of extensions.http.headers ?? []) http.headers.set(name, value);
      delete extensions.http;
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

/** Introspection (`__schema`, `__type`): rare (explorers), and large once compiled. */
function asksForTheSchema(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value !== '__schema' && node.name.value !== '__type') return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}

/** Field selections of every operation, each fragment counted where it is spread; stops counting at `stop`. */
function fieldCount(document: DocumentNode, stop: number): number {
  const fragments = new Map<string, SelectionSetNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d.selectionSet);
  let count = 0;
  const walk = (set: SelectionSetNode | undefined): void => {
    for (const selection of set?.selections ?? []) {
      if (count >= stop) return;
      if (selection.kind === Kind.FIELD) count += 1;
      walk(selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value) : selection.selectionSet);
    }
  };
  for (const d of document.definitions) if (d.kind === Kind.OPERATION_DEFINITION) walk(d.selectionSet);
  return count;
}

/** Apollo's isPartialHTTPGraphQLHead: an `extensions.http` that sets the answer's status or headers. */
function isPartialHead(value: unknown): value is Partial<ResponseHead> {
  if (!value || typeof value !== 'object') return false;
  const { status, headers } = value as { status?: unknown; headers?: unknown };
  return (status === undefined || typeof status === 'number') && (headers === undefined || headers instanceof Map);
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
