import type Stripe from 'stripe';
import type { EmulatorContext } from '../core/context';
import { invalidRequest } from '../core/errors';
import { filterCreated, paginate } from '../core/list';
import type { Router } from '../core/router';

export function register(router: Router, ctx: EmulatorContext): void {
  ctx.registerType({ object: 'event', prefix: 'evt', name: 'event' });

  router.get('/v1/events/:id', (req) => ctx.retrieve<Stripe.EventBase>('event', req.pathParams['id']));
  router.get('/v1/events', (req) => {
    const p = req.params;
    let items = ctx.store.newest<Stripe.EventBase>('event');
    const type = p.str('type');
    const types = p.strList('types');
    if (type !== undefined && types !== undefined)
      throw invalidRequest('You may only specify one of these parameters: type, types.', { param: 'types', code: 'parameters_exclusive' });
    if (type !== undefined) {
      // `type` accepts `*` as a wildcard, e.g. `charge.*`
      const re = new RegExp(`^${type.split('*').map(escapeRe).join('.*')}$`);
      items = items.filter((e) => re.test(e.type));
    }
    if (types !== undefined) {
      if (types.length > 20) throw invalidRequest('You may only specify up to 20 event types.', { param: 'types' });
      items = items.filter((e) => types.includes(e.type));
    }
    const delivered = p.bool('delivery_success');
    if (delivered !== undefined) items = items.filter((e) => (e.pending_webhooks === 0) === delivered);
    return paginate(req, filterCreated(p, items));
  });
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
