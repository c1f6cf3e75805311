import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { randomToken } from '../core/ids';
import { paginate } from '../core/list';
import type { ApiRequest, Router } from '../core/router';

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'webhook_endpoint', prefix: 'we', name: 'webhook endpoint' });

  router.post('/v1/webhook_endpoints', (req) => createEndpoint(req));
  router.get('/v1/webhook_endpoints/:id', (req) =>
    withoutSecret(ctx.retrieve<Stripe.WebhookEndpoint>('webhook_endpoint', req.pathParams['id'])),
  );
  router.post('/v1/webhook_endpoints/:id', (req) => updateEndpoint(req));
  router.delete('/v1/webhook_endpoints/:id', (req) => {
    const endpoint = ctx.retrieve<Stripe.WebhookEndpoint>('webhook_endpoint', req.pathParams['id']);
    return ctx.store.remove(endpoint.id);
  });
  router.get('/v1/webhook_endpoints', (req) => {
    const list = paginate(req, ctx.store.newest<Stripe.WebhookEndpoint>('webhook_endpoint'));
    return { ...list, data: list.data.map(withoutSecret) };
  });

  // Test helper: the webhook delivery attempts (newest first) and how many are still pending.
  router.get('/v1/test_helpers/deliveries', (req) => {
    const p = req.params;
    const data = ctx.webhooks.list({
      event: p.str('event'),
      endpoint: p.str('endpoint'),
      status: p.enum('status', ['pending', 'succeeded', 'failed']),
    });
    return { object: 'list', data, has_more: false, url: req.path, pending: ctx.webhooks.pendingCount() };
  });
}

/** The signing secret is only shown when the endpoint is created. */
function withoutSecret(e: Stripe.WebhookEndpoint): Stripe.WebhookEndpoint {
  const { secret: _secret, ...rest } = e;
  return rest;
}

function validUrl(req: ApiRequest, value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw invalidRequest(`Invalid URL: ${value}`, { param: 'url', code: 'url_invalid' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw invalidRequest(`Invalid URL: ${value}. URLs must begin with http or https.`, { param: 'url', code: 'url_invalid' });
  return value;
}

function enabledEvents(req: ApiRequest): string[] | undefined {
  const list = req.params.strList('enabled_events');
  if (list === undefined) return undefined;
  if (list.length === 0)
    throw invalidRequest('Missing required param: enabled_events.', { param: 'enabled_events', code: 'parameter_missing' });
  list.forEach((t, i) => {
    if (t !== '*' && !/^[a-z_]+(\.[a-z_]+)+$/.test(t)) {
      throw invalidRequest(`Invalid enabled_events[${i}]: must be '*' or an event type such as 'payment_intent.succeeded' (got '${t}')`, {
        param: `enabled_events[${i}]`,
      });
    }
  });
  return list;
}

function createEndpoint(req: ApiRequest): Stripe.WebhookEndpoint {
  const { ctx, params: p } = req;
  const url = validUrl(req, p.reqStr('url'));
  const events = enabledEvents(req);
  if (!events) throw invalidRequest('Missing required param: enabled_events.', { param: 'enabled_events', code: 'parameter_missing' });
  const endpoint: Stripe.WebhookEndpoint = {
    id: ctx.newId('we'),
    object: 'webhook_endpoint',
    api_version: p.str('api_version') ?? null,
    application: null,
    created: ctx.now(),
    description: p.str('description') ?? null,
    enabled_events: events,
    livemode: false,
    metadata: p.metadata() ?? {},
    secret: `whsec_${randomToken(32)}`,
    status: 'enabled',
    url,
  };
  ctx.store.insert(endpoint);
  return endpoint;
}

function updateEndpoint(req: ApiRequest): Stripe.WebhookEndpoint {
  const { ctx, params: p } = req;
  const endpoint = ctx.retrieve<Stripe.WebhookEndpoint>('webhook_endpoint', req.pathParams['id']);
  const url = p.str('url');
  if (url !== undefined) endpoint.url = validUrl(req, url);
  const events = enabledEvents(req);
  if (events) endpoint.enabled_events = events;
  if (p.has('description')) endpoint.description = p.nullableStr('description') ?? null;
  const disabled = p.bool('disabled');
  if (disabled !== undefined) endpoint.status = disabled ? 'disabled' : 'enabled';
  endpoint.metadata = p.metadata(endpoint.metadata) ?? {};
  return withoutSecret(endpoint);
}
