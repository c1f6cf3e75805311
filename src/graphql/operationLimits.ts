import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';
import type { Config } from '../config';

/**
 * graphql-armor rules: report an over-limit query as a validation error (GRAPHQL_VALIDATION_FAILED) instead
 * of throwing, without graphql-armor's misleading "Syntax Error: " prefix. Fragments count as what they
 * contain, so a query written with fragments (as client libraries write them) has the depth and cost of
 * the same query written out.
 */
const reportAsValidationError = {
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [
    (ctx: ValidationContext | null, err: GraphQLError) => ctx?.reportError(new GraphQLError(err.message.replace(/^Syntax Error: /, ''))),
  ],
};
// Depth and cost leave the introspection query alone (it is deeper than any client query); aliases and
// root fields do not, so it cannot be repeated under aliases either.
const depthAndCost = { ...reportAsValidationError, ignoreIntrospection: true, flattenFragments: true };

/** Every limit a query must pass before anything runs (README, Errors). */
export function operationLimitRules(limits: Config['graphql']): ValidationRule[] {
  return [
    maxDepthRule({ n: limits.maxDepth, ...depthAndCost }),
    costLimitRule({ maxCost: limits.maxCost, ...depthAndCost }),
    maxAliasesRule({ n: limits.maxAliases, ...reportAsValidationError }),
    maxDirectivesRule({ n: limits.maxDirectives, ...reportAsValidationError }),
    maxRootFieldsRule(limits.maxRootFields),
  ];
}

/**
 * At most `n` top-level fields per operation (each is at least one SQL statement; aliases repeat them), and
 * at most one `__schema` (the whole schema, however often it is asked for, is answered once).
 */
export function maxRootFieldsRule(n: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const names = rootFieldNames(context, operation.selectionSet, new Set());
      if (names.length > n) {
        context.reportError(new GraphQLError(`Root fields limit of ${n} exceeded, found ${names.length}.`, { nodes: [operation] }));
      }
      const schemas = names.filter((name) => name === '__schema').length;
      if (schemas > 1) {
        context.reportError(new GraphQLError(`__schema may be asked for once per operation, found ${schemas}.`, { nodes: [operation] }));
      }
    },
  });
}

/** The field names at the top of an operation, fragments and inline fragments flattened (each fragment once). */
function rootFieldNames(context: ValidationContext, selectionSet: SelectionSetNode, seen: Set<string>): string[] {
  return selectionSet.selections.flatMap((selection) => {
    if (selection.kind === Kind.FIELD) return selection.name.value === '__typename' ? [] : [selection.name.value];
    if (selection.kind === Kind.INLINE_FRAGMENT) return rootFieldNames(context, selection.selectionSet, seen);
    if (seen.has(selection.name.value)) return [];
    seen.add(selection.name.value);
    const fragment = context.getFragment(selection.name.value);
    return fragment ? rootFieldNames(context, fragment.selectionSet, seen) : [];
  });
}
