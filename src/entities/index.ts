import { Payment } from './Payment';
import { PaymentLog } from './PaymentLog';
import { Plan } from './Plan';
import { PlanLimit } from './PlanLimit';
import { PlanPricing } from './PlanPricing';
import { StripeEvent } from './StripeEvent';
import { Subscription } from './Subscription';
import { UsageCounter } from './UsageCounter';
import { UsageRecord } from './UsageRecord';
import { User } from './User';

export * from './Payment';
export * from './PaymentLog';
export * from './Plan';
export * from './PlanLimit';
export * from './PlanPricing';
export * from './StripeEvent';
export * from './Subscription';
export * from './UsageCounter';
export * from './UsageRecord';
export * from './User';

export const ENTITIES = [User, Plan, PlanLimit, PlanPricing, Subscription, Payment, PaymentLog, StripeEvent, UsageCounter, UsageRecord];
