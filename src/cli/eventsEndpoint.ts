import { Command } from 'commander';
import { addEndpoint, disableEndpoint, listEndpoints, rotateEndpointSecret, type EndpointView } from '../events/endpoints';
import { runCli, withRuntime } from './runtime';

/**
 * npm run -s events:endpoint -- add --url https://example.com/tollgate [--events subscription.*,payment.*]
 * npm run -s events:endpoint -- list | disable <id> | rotate-secret <id>
 * `add` and `rotate-secret` print the endpoint's signing secret: it is shown once.
 */
const line = (e: EndpointView) => `${e.id}  ${e.enabled ? 'enabled ' : 'disabled'}  ${e.url}  ${e.events.join(',')}\n`;
const list = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

runCli(async () => {
  const program = new Command('events:endpoint').description("the product's event endpoints");
  program
    .command('add')
    .requiredOption('--url <url>', 'where events are POSTed')
    .option('--events <list>', 'comma-separated event types or prefixes (subscription.*); default every event')
    .action((opts: { url: string; events?: string }) =>
      withRuntime(async ({ em }) => {
        const { endpoint, secret } = await addEndpoint(em, { url: opts.url, events: opts.events ? list(opts.events) : null });
        process.stdout.write(`${line(endpoint)}secret ${secret}\n`);
      }),
    );
  program.command('list').action(() =>
    withRuntime(async ({ em }) => {
      for (const e of await listEndpoints(em)) process.stdout.write(line(e));
    }),
  );
  program
    .command('disable <id>')
    .action((id: string) => withRuntime(async ({ em }) => void process.stdout.write(line(await disableEndpoint(em, id)))));
  program.command('rotate-secret <id>').action((id: string) =>
    withRuntime(async ({ em }) => {
      const { endpoint, secret } = await rotateEndpointSecret(em, id);
      process.stdout.write(`${line(endpoint)}secret ${secret}\n`);
    }),
  );
  await program.parseAsync();
});
