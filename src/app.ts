import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import type { EntityManager } from '@mikro-orm/postgresql';
import express from 'express';
import type { BillingDeps } from './billing/deps';
import type { Config } from './config';
import type { Orm } from './db/orm';
import { isDatabaseUnavailable } from './db/unavailable';
import { startCredentialCache } from './auth/credentialCache';
import { createJwtVerifier } from './auth/jwt';
import type { Authenticator } from './auth/principal';
import { authenticateRequest, requestLogger, serviceKeyAudit } from './graphql/authentication';
import { buildContext, type Context } from './graphql/context';
import { createFormatError, rethrowUnavailable, serviceUnavailableStatus } from './graphql/errors';
import { startLiveUpdates } from './events/live';
import { startEventWorker } from './events/worker';
import { startWebhookWorker, type WebhookWorker } from './sync/worker';
import { graphqlCors, graphqlHttpHandler, isGraphQLPath, requestProtocol } from './graphql/http';
import { operationLimitRules } from './graphql/operationLimits';
import { preparedOperations } from './graphql/preparedOperations';
import { graphqlMetrics } from './graphql/metricsPlugin';
import { getSchema } from './graphql/schema';
import { serveSubscriptions } from './graphql/ws';
import { explorerRoutes, landingPagePlugin } from './http/explorer';
import { metricsRoutes } from './http/metricsRoute';
import { authenticationReturnRoutes } from './http/authenticationReturn';
import { sendPage } from './http/pages';
import { paymentReturnRoutes } from './http/paymentReturn';
import { subscriptionReturnRoutes } from './http/subscriptionReturn';
import { isWebhookRequest, webhookHandler } from './http/webhookRoute';
import type { Logger } from './logger';
import type { StripeContext } from './stripe/client';
import { stripeReadiness } from './stripe/health';

export interface AppDeps {
  orm: Orm;
  config: Config;
  logger: Logger;
  /** Absent only when the server runs without Stripe (catalog and limits still work). */
  stripe?: StripeContext;
  /** Local mode: the demo user's token, which the explorers start with for a browser on this machine. */
  demoToken?: string;
}

export interface App {
  app: express.Express;
  httpServer: http.Server;
  /** The Stripe webhook worker of this process (with Stripe and WEBHOOK_PROCESSING=on). */
  webhooks?: WebhookWorker;
  /** Stops Apollo and drains open HTTP connections. */
  stop(): Promise<void>;
}

/** Builds the HTTP application: /graphql, /explorer, /healthz, /readyz, /metrics (with METRICS_TOKEN). */
export async function createApp({ orm, config, logger, stripe, demoToken }: AppDeps): Promise<App> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // GraphQL goes straight to Apollo (src/graphql/http.ts, set up below, before the server listens), and
  // Stripe's webhooks to their handler; everything else is an Express route.
  const allowCrossOrigin = graphqlCors(config.corsOrigins);
  const serveWebhook = stripe && webhookHandler(orm, stripe.webhookSecret, logger);
  const httpServer = http.createServer((req, res) => {
    if (isGraphQLPath(req.url)) allowCrossOrigin(req, res, () => void serveGraphQL(req, res));
    else if (serveWebhook && isWebhookRequest(req)) void serveWebhook(req, res);
    else app(req, res);
  });

  /** PUBLIC_URL when set, else the scheme and host the request came in on. */
  const publicUrl = (req: http.IncomingMessage) =>
    (config.publicUrl ?? `${requestProtocol(req)}://${req.headers.host ?? `localhost:${config.port}`}`).replace(/\/$/, '');
  const billing = (req: http.IncomingMessage): BillingDeps => {
    if (!stripe) throw new Error('Stripe is not configured for this server');
    return { stripe: stripe.client, publicUrl: publicUrl(req), logger, stripeEndpoint: stripe.endpoint };
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Stripe being unreachable does not make the server unready: everything that needs no Stripe call
  // still works, so /readyz answers 200 with status "degraded" and says why in checks.stripe.
  const stripeCheck = stripe
    ? stripeReadiness(stripe.client, stripe.endpoint, logger.child({ component: 'readyz' }), config.stripe.readyCacheMs)
    : undefined;
  app.get('/readyz', async (_req, res) => {
    const [database, stripeState] = await Promise.all([checkDatabase(orm), stripeCheck?.()]);
    const ready = database === 'ok';
    const status = !ready ? 'not ready' : stripeState && stripeState.status !== 'ok' ? 'degraded' : 'ready';
    res.status(ready ? 200 : 503).json({ status, checks: { database, ...(stripeState ? { stripe: stripeState } : {}) } });
  });

  app.use(metricsRoutes(orm, config.metricsToken));

  const graphql = {
    schema: await getSchema(),
    formatError: createFormatError(logger.child({ component: 'graphql' })),
    validationRules: operationLimitRules(config.graphql),
  };
  const apollo = new ApolloServer<Context>({
    ...graphql,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    // graphql's own token limit: a huge document is refused while it is parsed (GRAPHQL_PARSE_FAILED).
    parseOptions: { maxTokens: config.graphql.maxTokens },
    // What these do for an executed operation, src/graphql/preparedOperations.ts does too.
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // No @cacheControl hints are used (every answer is per user); without this plugin Apollo wraps every
      // field resolver to collect them. Nor is this a federated subgraph that would send inline traces.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      serviceKeyAudit,
      serviceUnavailableStatus,
      graphqlMetrics,
      landingPagePlugin(),
    ],
  });
  await apollo.start();

  // One plain statement per request, no identity map needed: the ORM's root EntityManager is enough; and
  // remembered until PostgreSQL announces a change to users, tokens or keys (src/auth/credentialCache.ts).
  const credentials = startCredentialCache(orm.config.getClientUrl(), logger);
  const authenticator: Authenticator = {
    em: orm.em as EntityManager,
    jwt: config.jwt ? createJwtVerifier(config.jwt, logger.child({ component: 'auth' })) : undefined,
    credentials,
  };
  const serveGraphQL = graphqlHttpHandler(apollo, {
    operations: preparedOperations({ ...graphql, maxTokens: config.graphql.maxTokens }),
    bodyLimit: '1mb',
    logger,
    context: async (req) => {
      const { principal, problem } = await authenticateRequest(authenticator, req).catch(rethrowUnavailable);
      const deps = stripe ? billing(req) : undefined;
      return buildContext(
        orm.em as EntityManager,
        principal,
        requestLogger(logger, principal),
        problem,
        deps,
        config.grace,
        config.events.usageThresholdPercent,
      );
    },
  });

  // Subscriptions (graphql-ws) on the same path, fed by PostgreSQL's notices, so every process sees every change.
  const live = startLiveUpdates(orm.config.getClientUrl(), logger);
  const subscriptions = serveSubscriptions(httpServer, {
    schema: await getSchema(),
    authenticator,
    validationRules: operationLimitRules(config.graphql),
    maxTokens: config.graphql.maxTokens,
    maxPayload: 1024 * 1024,
    formatError: createFormatError(logger.child({ component: 'graphql' })),
    logger,
    context: (principal) =>
      buildContext(
        orm.em as EntityManager,
        principal,
        requestLogger(logger, principal),
        undefined,
        undefined,
        config.grace,
        config.events.usageThresholdPercent,
        live,
      ),
  });

  app.use(explorerRoutes(demoToken));
  if (stripe) {
    app.use(subscriptionReturnRoutes(orm, billing, logger));
    app.use(paymentReturnRoutes(orm, billing, logger));
    app.use(authenticationReturnRoutes());
  }

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such route' } });
  });
  // A page that failed because the database cannot be reached says "try again shortly" (503), as GraphQL does.
  app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (!isDatabaseUnavailable(err) || res.headersSent) return next(err);
    res.set('Retry-After', '5');
    sendPage(res, 503, 'Try again shortly', 'This service is briefly unavailable; reload this page in a few seconds.');
  });

  // Every server process delivers events to the product; SKIP LOCKED keeps them from sending one twice.
  const events = config.events.deliver ? startEventWorker(orm, config.events, logger) : undefined;
  // And processes Stripe's events from the inbox, likewise each by one process.
  const webhooks =
    stripe && config.webhooks.process
      ? startWebhookWorker(
          orm,
          {
            stripe: stripe.client,
            publicUrl: (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/$/, ''),
            logger,
            stripeEndpoint: stripe.endpoint,
          },
          config.webhooks,
          logger,
        )
      : undefined;

  return {
    app,
    httpServer,
    webhooks,
    stop: async () => {
      // Apollo first, in the same tick as the signal: it also stops itself on SIGTERM, and a later call waits forever.
      await Promise.all([apollo.stop(), events?.stop(), webhooks?.stop(), subscriptions.stop(), live.stop(), credentials.stop()]);
      if (httpServer.listening) await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

/** The database answers `select 1` within 2 s. */
async function checkDatabase(orm: Orm): Promise<'ok' | 'unreachable'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      orm.em.getConnection().execute('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), 2000).unref();
      }),
    ]);
    return 'ok';
  } catch {
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}
