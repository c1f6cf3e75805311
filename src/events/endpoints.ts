import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { EventEndpoint } from '../entities';
import { notFound } from '../errors';
import { UUID } from '../ids';
import { parseInput } from '../input';
import { newEndpointSecret } from './signature';
import { EVENT_TYPES, isKnownPattern } from './types';

/** The product's event endpoints: made, listed, disabled and given a new secret by admins (CLI and GraphQL). */

export const MAX_URL_LENGTH = 2048;
const MAX_PATTERNS = 30;

const url = z
  .string()
  .trim()
  .max(MAX_URL_LENGTH, `url must be at most ${MAX_URL_LENGTH} characters`)
  .refine((v) => /^https?:\/\/[^\s]+$/i.test(v) && URL.canParse(v), { message: 'url must be an http:// or https:// URL' });

const pattern = z
  .string()
  .trim()
  .max(64)
  .refine(isKnownPattern, { message: `unknown event type: expected one of ${EVENT_TYPES.join(', ')}, a prefix such as payment.*, or *` });

const NewEndpointSchema = z.object({
  url,
  events: z.array(pattern).min(1, 'events must name at least one event type').max(MAX_PATTERNS).nullish(),
});
export type NewEndpoint = z.input<typeof NewEndpointSchema>;

const EndpointId = z.string().trim().regex(UUID, 'id must be an endpoint id (a UUID)');

export interface EndpointView {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  createdAt: Date;
}

export const toView = (e: EventEndpoint): EndpointView => ({
  id: e.id,
  url: e.url,
  events: e.events,
  enabled: !e.disabledAt,
  createdAt: e.createdAt,
});

/** Makes an endpoint (every event when none are named); its secret is in the answer and never shown again. */
export async function addEndpoint(em: EntityManager, input: NewEndpoint): Promise<{ endpoint: EndpointView; secret: string }> {
  const v = parseInput(NewEndpointSchema, input);
  const endpoint = em.create(EventEndpoint, { url: v.url, events: [...new Set(v.events ?? ['*'])], secret: newEndpointSecret() });
  await em.persistAndFlush(endpoint);
  return { endpoint: toView(endpoint), secret: endpoint.secret };
}

export async function listEndpoints(em: EntityManager): Promise<EndpointView[]> {
  return (await em.find(EventEndpoint, {}, { orderBy: { createdAt: 'asc' } })).map(toView);
}

async function endpointById(em: EntityManager, id: string): Promise<EventEndpoint> {
  const found = await em.findOne(EventEndpoint, { id: parseInput(EndpointId, id) });
  if (!found) throw notFound(`Event endpoint ${id.slice(0, 40)}`);
  return found;
}

/** Stops deliveries to an endpoint: no new ones are made, and its pending ones are not sent. */
export async function disableEndpoint(em: EntityManager, id: string): Promise<EndpointView> {
  const endpoint = await endpointById(em, id);
  endpoint.disabledAt ??= new Date();
  await em.flush();
  return toView(endpoint);
}

/** A new secret at once; the old one stops signing (receivers switch when they get the new one). */
export async function rotateEndpointSecret(em: EntityManager, id: string): Promise<{ endpoint: EndpointView; secret: string }> {
  const endpoint = await endpointById(em, id);
  endpoint.secret = newEndpointSecret();
  await em.flush();
  return { endpoint: toView(endpoint), secret: endpoint.secret };
}
