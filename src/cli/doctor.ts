import { formatReport, runDoctor } from './doctorChecks';
import { runCli } from './runtime';

/**
 * npm run doctor
 * Checks the configuration, the database and the way to Stripe the server would take, prints a report
 * with a fix for each problem, and exits with 1 when anything failed.
 */
runCli(async () => {
  const report = await runDoctor();
  process.stdout.write(formatReport(report));
  if (report.failed > 0) process.exitCode = 1;
});
