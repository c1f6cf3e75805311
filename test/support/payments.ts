import type { GqlResponse, TestServer } from './server';

export const PAYMENT_FIELDS = `id status captureMethod description orderId metadata
  amount { amount amountMinor currency } capturedAmount { amount amountMinor } refundedAmount { amount amountMinor }
  failureCode failureMessage stripePaymentIntentId logs { event message createdAt } createdAt updatedAt`;

export const CREATE_PAYMENT = `mutation($input: CreatePaymentInput!) { createPayment(input: $input) { payment { ${PAYMENT_FIELDS} } checkoutUrl clientSecret } }`;
export const CAPTURE_PAYMENT = `mutation($id: ID!, $amount: String) { capturePayment(id: $id, amount: $amount) { ${PAYMENT_FIELDS} } }`;
export const REFUND_PAYMENT = `mutation($id: ID!, $amount: String) { refundPayment(id: $id, amount: $amount) { ${PAYMENT_FIELDS} } }`;
export const CANCEL_PAYMENT = `mutation($id: ID!) { cancelPayment(id: $id) { ${PAYMENT_FIELDS} } }`;
export const PAYMENT = `query($id: ID!) { payment(id: $id) { ${PAYMENT_FIELDS} } }`;
export const MY_PAYMENTS = `query($first: Int, $after: String) { myPayments(first: $first, after: $after) { edges { cursor node { ${PAYMENT_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;

export interface PaymentInput {
  amount: string;
  currency: string;
  paymentMethod?: string;
  captureMethod?: 'AUTOMATIC' | 'MANUAL';
  description?: string;
  orderId?: string;
  metadata?: Record<string, unknown>;
  successUrl?: string;
  cancelUrl?: string;
  idempotencyKey?: string;
}

/** createPayment, expecting no error: the payment, checkoutUrl and clientSecret. */
export async function pay(
  server: TestServer,
  token: string,
  input: PaymentInput,
): Promise<{ payment: any; checkoutUrl: string | null; clientSecret: string | null }> {
  const res = await server.gql(CREATE_PAYMENT, { input }, token);
  if (res.errors) throw new Error(`createPayment failed: ${JSON.stringify(res.errors)}`);
  return res.data.createPayment;
}

/** The payment as its owner (or an admin) sees it now. */
export async function paymentOf(server: TestServer, id: string, token: string): Promise<any> {
  const res = await server.gql(PAYMENT, { id }, token);
  if (res.errors) throw new Error(`payment(${id}) failed: ${JSON.stringify(res.errors)}`);
  return res.data.payment;
}

export const codeOf = (res: GqlResponse) => res.errors?.[0]?.extensions?.code;

/** The log's event names, oldest first. */
export const logEvents = (payment: { logs: Array<{ event: string }> }) => payment.logs.map((l) => l.event);
