import { Command } from 'commander';
import { replayEvents } from '../events/replay';
import { runCli, withRuntime } from './runtime';

/** npm run -s events:replay -- --since 2026-12-01T00:00:00Z | --event evt_... [--endpoint <id>] — sends events again. */
runCli(async () => {
  const opts = new Command('events:replay')
    .option('--since <time>', 'every event since this time (ISO 8601)')
    .option('--event <id>', 'one event')
    .option('--endpoint <id>', 'only to this endpoint')
    .parse()
    .opts<{ since?: string; event?: string; endpoint?: string }>();
  await withRuntime(async ({ em }) => {
    const queued = await replayEvents(em, { since: opts.since, eventId: opts.event, endpointId: opts.endpoint });
    process.stdout.write(`queued ${queued} deliveries\n`);
  });
});
