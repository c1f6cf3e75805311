/** Minimal HTML for the emulator's browser pages (3-D Secure, hosted Checkout). */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Stripe emulator</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #1a1f36; }
  .banner { background: #fff4e5; border: 1px solid #f5c16c; padding: .5rem .75rem; border-radius: 6px; font-size: .85rem; margin-bottom: 1.5rem; }
  label { display: block; margin: .75rem 0 .25rem; font-size: .9rem; }
  input { width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }
  button { margin-top: 1rem; margin-right: .5rem; padding: .6rem 1.2rem; font-size: 1rem; border: 0; border-radius: 6px; background: #635bff; color: #fff; cursor: pointer; }
  button.secondary { background: #e3e8ee; color: #1a1f36; }
  .error { color: #c0123c; }
</style>
</head>
<body>
<div class="banner">Test mode · Stripe emulator</div>
${body}
</body>
</html>`;
}

/** The card inputs of every page that takes a test card (Checkout, the hosted invoice page, the portal); the pages read these names. */
export const CARD_FIELDS = `  <label for="cardNumber">Card number</label>
  <input id="cardNumber" name="cardNumber" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" required>
  <label for="cardExpiry">Expiration (MM / YY)</label>
  <input id="cardExpiry" name="cardExpiry" autocomplete="cc-exp" placeholder="MM / YY" required>
  <label for="cardCvc">CVC</label>
  <input id="cardCvc" name="cardCvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" required>
  <label for="billingName">Name on card</label>
  <input id="billingName" name="billingName" autocomplete="cc-name">`;
