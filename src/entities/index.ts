import { ApiKey } from './apiKey';
import { EventDelivery } from './eventDelivery';
import { EventEndpoint } from './eventEndpoint';
import { Invoice } from './invoice';
import { OutboxEvent } from './outboxEvent';
import { Payment } from './payment';
import { PaymentLog } from './paymentLog';
import { Plan } from './plan';
import { PlanLimit } from './planLimit';
import { PlanPricing } from './planPricing';
import { StripeEvent } from './stripeEvent';
import { Subscription } from './subscription';
import { UsageCounter } from './usageCounter';
import { UsageRecord } from './usageRecord';
import { User } from './user';
import { UserToken } from './userToken';

export * from './apiKey';
export * from './eventDelivery';
export * from './eventEndpoint';
export * from './invoice';
export * from './outboxEvent';
export * from './payment';
export * from './paymentLog';
export * from './plan';
export * from './planLimit';
export * from './planPricing';
export * from './stripeEvent';
export * from './subscription';
export * from './usageCounter';
export * from './usageRecord';
export * from './user';
export * from './userToken';

export const ENTITIES = [
  User,
  Plan,
  PlanLimit,
  PlanPricing,
  Subscription,
  Payment,
  PaymentLog,
  Invoice,
  StripeEvent,
  UsageCounter,
  UsageRecord,
  UserToken,
  ApiKey,
  OutboxEvent,
  EventEndpoint,
  EventDelivery,
];
