import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import { graphqlDuration, graphqlRequests } from '../metrics';

/**
 * Counts every GraphQL request by its first root field (a schema name, so the label set is bounded,
 * unlike client-chosen operation names) and outcome: ok, or the first error's code.
 */
export const graphqlMetrics: ApolloServerPlugin = {
  async requestDidStart() {
    const started = process.hrtime.bigint();
    return {
      async willSendResponse({ operation, response }) {
        const name = rootField(operation);
        // The formatted errors: their codes are the ones the client sees.
        const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
        const outcome = errors?.length ? String(errors[0].extensions?.code ?? 'INTERNAL_SERVER_ERROR') : 'ok';
        graphqlRequests.inc({ operation: name, outcome });
        graphqlDuration.observe({ operation: name }, Number(process.hrtime.bigint() - started) / 1e9);
      },
    };
  },
};

function rootField(operation: OperationDefinitionNode | undefined): string {
  const first = operation?.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  return first && first.kind === Kind.FIELD ? first.name.value : 'none';
}
