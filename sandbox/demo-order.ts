/**
 * Places an order in the running demo, to watch a subscription receive the pushed profile:
 * `npm run demo:order -- <email>`. It asks the demo server (`POST /demo/orders`, at
 * http://HOST:PORT, 127.0.0.1:4000 by default, as the server itself) and prints the order.
 */

const usage = 'usage: npm run demo:order -- <email of a demo customer>   (the demo server runs at http://$HOST:$PORT, default 127.0.0.1:4000)';

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const args = process.argv.slice(2);
if (args.length !== 1 || !args[0]!.includes('@')) fail(usage, 2);
const email = args[0]!;
// A server listening on every interface (0.0.0.0, ::) is reached on loopback.
const host = !process.env.HOST || process.env.HOST === '0.0.0.0' || process.env.HOST === '::' ? '127.0.0.1' : process.env.HOST;
const base = `http://${host.includes(':') ? `[${host}]` : host}:${process.env.PORT ?? '4000'}`;

let response: Response;
try {
  response = await fetch(`${base}/demo/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email }),
    signal: AbortSignal.timeout(10_000),
  });
} catch (error) {
  fail(`cannot reach the demo server at ${base} (${(error as Error).message}): start it with \`npm run dev\` and no DATABASE_URL`);
}
const body = (await response.json().catch(() => null)) as { orderId?: string; customerId?: string; total?: string; lines?: number; cartId?: string | null; error?: string } | null;
if (response.status === 404 && body?.error) fail(`${body.error} (the demo prints an example customer's email at start-up)`);
if (response.status === 404) fail(`${base} has no demo order endpoint: is it the embedded demo (no DATABASE_URL)?`);
if (response.status !== 201 || !body?.orderId) fail(`the demo server answered ${response.status}: ${body?.error ?? 'no order'}`);
process.stdout.write(
  `placed order ${body.orderId} for customer ${body.customerId}: ${body.lines} line(s), ${body.total}${body.cartId ? ` (from open cart ${body.cartId})` : ''}\n`,
);
