/**
 * The payment engine, for resource modules that take payments (subscriptions, invoices, Checkout):
 * create a PaymentIntent for an amount, confirm it with the customer's payment method, and react to the
 * outcome either from the returned result or from the `payment_intent.*` events on the bus.
 */
export * from './cards';
export * from './payment_methods';
export * from './charges';
export * from './intents';
