import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Invoice, InvoiceStatus, User } from '../../entities';
import { query } from '../../db/sql';
import { notFound } from '../../errors';
import { UUID } from '../../ids';
import { checkIdLength, parseInput } from '../../input';
import { PageInput, toPageBy } from '../../pagination';

/** The read side of invoices: a user's pages of them, and the newest of each subscription. */

export interface InvoicePage {
  invoices: Invoice[];
  /** cursor of each invoice, in the same order */
  cursors: string[];
  hasNextPage: boolean;
}

/** A draft is not a bill yet (Stripe shows it to no customer): users see invoices from finalization on. */
const ISSUED = { status: { $ne: InvoiceStatus.DRAFT } } as const;

/** The user's invoices, newest first (Stripe's creation time), `first` at a time after a previous page's cursor; with `includeDrafts` the drafts too. */
export async function listInvoices(
  em: EntityManager,
  userId: string,
  options: { first?: number | null; after?: string | null; includeDrafts?: boolean } = {},
): Promise<InvoicePage> {
  const { first, after } = parseInput(PageInput, options);
  const where: FilterQuery<Invoice> = options.includeDrafts ? { user: userId } : { user: userId, ...ISSUED };
  const rows = await em.find(
    Invoice,
    after
      ? { ...where, $or: [{ stripeCreatedAt: { $lt: after.createdAt } }, { stripeCreatedAt: after.createdAt, id: { $lt: after.id } }] }
      : where,
    { orderBy: { stripeCreatedAt: 'desc', id: 'desc' }, limit: first + 1 },
  );
  const { nodes, cursors, hasNextPage } = toPageBy(rows, first, (i) => ({ createdAt: i.stripeCreatedAt, id: i.id }));
  return { invoices: nodes, cursors, hasNextPage };
}

/** Admins: any user's invoices, drafts included; an unknown user is NOT_FOUND. */
export async function userInvoices(
  em: EntityManager,
  userId: string,
  options: { first?: number | null; after?: string | null } = {},
): Promise<InvoicePage> {
  if (!UUID.test(checkIdLength(userId)) || !(await em.count(User, { id: userId }))) throw notFound('User');
  return listInvoices(em, userId, { ...options, includeDrafts: true });
}

/** How many invoices Subscription.invoices lists at most, and by default (older ones are in the user's pages). */
export const SUBSCRIPTION_INVOICES_MAX = 100;
export const SUBSCRIPTION_INVOICES_DEFAULT = 12;

const FIRST_RANGE = `first must be between 1 and ${SUBSCRIPTION_INVOICES_MAX}`;
const NewestInput = z.object({
  first: z
    .number({ invalid_type_error: FIRST_RANGE })
    .nullish()
    .transform((v) => v ?? SUBSCRIPTION_INVOICES_DEFAULT)
    .refine((v) => Number.isInteger(v) && v >= 1 && v <= SUBSCRIPTION_INVOICES_MAX, FIRST_RANGE),
});

export interface NewestInvoicesKey {
  subscriptionId: string;
  first?: number | null;
}

/**
 * The newest `first` issued invoices of each of many subscriptions, newest first (for a DataLoader): two
 * statements for each distinct `first` (one, in practice), whatever the number of subscriptions.
 */
export async function newestInvoices(em: EntityManager, keys: readonly NewestInvoicesKey[]): Promise<Invoice[][]> {
  const firsts = keys.map((k) => parseInput(NewestInput, { first: k.first }).first);
  const found = new Map<string, Invoice[]>();
  for (const first of new Set(firsts)) {
    const ids = [...new Set(keys.filter((_, i) => firsts[i] === first).map((k) => k.subscriptionId))];
    for (const [subscriptionId, rows] of await newestOf(em, ids, first)) found.set(`${first}:${subscriptionId}`, rows);
  }
  return keys.map((k, i) => found.get(`${firsts[i]}:${k.subscriptionId}`) ?? []);
}

async function newestOf(em: EntityManager, subscriptionIds: string[], first: number): Promise<Map<string, Invoice[]>> {
  const picked = await query<{ id: string }>(
    em,
    `select id from (
       select id, row_number() over (partition by subscription_id order by stripe_created_at desc, id desc) as n
       from invoice where subscription_id = any($1::uuid[]) and status <> 'draft'
     ) ranked where n <= $2`,
    [subscriptionIds.filter((id) => UUID.test(id)), first],
  );
  const rows = picked.length
    ? await em.find(Invoice, { id: { $in: picked.map((p) => p.id) } }, { orderBy: { stripeCreatedAt: 'desc', id: 'desc' } })
    : [];
  const bySubscription = new Map<string, Invoice[]>(subscriptionIds.map((id) => [id, []]));
  for (const row of rows) bySubscription.get(row.subscription!.id)?.push(row);
  return bySubscription;
}
