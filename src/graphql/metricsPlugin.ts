import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type GraphQLFormattedError, type OperationDefinitionNode } from 'graphql';
import { graphqlDuration, graphqlRequests } from '../metrics';

/**
 * Counts a GraphQL request by its first root field (a schema name, so the label set is bounded,
 * unlike client-chosen operation names) and outcome: ok, or the first error's code.
 */
export function countGraphQLRequest(
  operation: OperationDefinitionNode | undefined,
  errors: readonly GraphQLFormattedError[] | undefined,
  started: bigint,
): void {
  const name = rootField(operation);
  // The formatted errors: their codes are the ones the client sees.
  const outcome = errors?.length ? String(errors[0].extensions?.code ?? 'INTERNAL_SERVER_ERROR') : 'ok';
  graphqlRequests.inc({ operation: name, outcome });
  graphqlDuration.observe({ operation: name }, Number(process.hrtime.bigint() - started) / 1e9);
}

/** Apollo plugin: countGraphQLRequest for answers Apollo executes. */
export const graphqlMetrics: ApolloServerPlugin = {
  async requestDidStart() {
    const started = process.hrtime.bigint();
    return {
      async willSendResponse({ operation, response }) {
        countGraphQLRequest(operation, response.body.kind === 'single' ? response.body.singleResult.errors : undefined, started);
      },
    };
  },
};

function rootField(operation: OperationDefinitionNode | undefined): string {
  const first = operation?.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  return first && first.kind === Kind.FIELD ? first.name.value : 'none';
}
