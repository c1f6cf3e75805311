import { DateTimeResolver, JSONObjectResolver, LocalDateResolver } from 'graphql-scalars';

/** ISO-8601 instants (always UTC, with Z). */
export const DateTimeScalar = DateTimeResolver;
/** A calendar date, YYYY-MM-DD. */
export const LocalDateScalar = LocalDateResolver;
/** A JSON object (metadata). */
export const JSONObjectScalar = JSONObjectResolver;
