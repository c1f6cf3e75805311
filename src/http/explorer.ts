import { dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import express, { type Request, type Router } from 'express';

/**
 * The GraphQL explorers. `/explorer` is GraphiQL served from node_modules by this server, so it works with
 * no network; `/graphql` in a browser tries Apollo Sandbox (loaded from Apollo's CDN) and moves to the
 * local explorer when that cannot load. In local mode both start with the demo user's header, given only
 * to a browser on this machine: the server listens on every interface by default.
 */

const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** The prebuilt browser files of GraphiQL and the React it needs, by the name the page asks for. */
const ASSETS: Record<string, string> = {
  'react.js': join(packageDir('react'), 'umd/react.production.min.js'),
  'react-dom.js': join(packageDir('react-dom'), 'umd/react-dom.production.min.js'),
  'graphiql.js': join(packageDir('graphiql'), 'graphiql.min.js'),
  'graphiql.css': join(packageDir('graphiql'), 'graphiql.min.css'),
};

const SANDBOX_SCRIPT = 'https://embeddable-sandbox.cdn.apollographql.com/_latest/embeddable-sandbox.umd.production.min.js';
const HEADERS_PATH = '/explorer/headers.json';

export function isLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** `/explorer` (GraphiQL), its files, and the headers both explorers start with. */
export function explorerRoutes(demoToken: string | undefined): Router {
  const router = express.Router();
  router.get(HEADERS_PATH, (req: Request, res) => {
    res.set('cache-control', 'no-store').json(demoToken && isLoopback(req) ? { Authorization: `Bearer ${demoToken}` } : {});
  });
  router.get('/explorer/assets/:name', (req, res, next) => {
    const file = ASSETS[req.params.name as string];
    if (!file) return next();
    res.sendFile(file, { maxAge: '1h' });
  });
  router.get('/explorer', (_req, res) => {
    res.type('html').send(GRAPHIQL_PAGE);
  });
  return router;
}

/** Apollo's landing page for a browser on GET /graphql: Sandbox when it loads, else the local explorer. */
export function landingPagePlugin(): ApolloServerPlugin {
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return { html: LANDING_PAGE };
        },
      };
    },
  };
}

const GRAPHIQL_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Tollgate GraphQL explorer</title>
<link rel="stylesheet" href="/explorer/assets/graphiql.css">
<style>body{margin:0;height:100vh;display:flex;flex-direction:column;font-family:system-ui,sans-serif}
#bar{padding:4px 12px;font-size:13px;background:#f3f3f3;border-bottom:1px solid #ddd}#graphiql{flex:1;min-height:0}</style>
</head><body>
<div id="bar">Tollgate GraphQL explorer (GraphiQL, served locally) · <a href="/graphql">Apollo Sandbox</a> (needs internet access)</div>
<div id="graphiql">Loading…</div>
<script src="/explorer/assets/react.js"></script>
<script src="/explorer/assets/react-dom.js"></script>
<script src="/explorer/assets/graphiql.js"></script>
<script>
fetch('${HEADERS_PATH}').then(function (r) { return r.json(); }).catch(function () { return {}; }).then(function (headers) {
  var fetcher = GraphiQL.createFetcher({ url: new URL('/graphql', location.href).href });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultEditorToolsVisibility: Object.keys(headers).length > 0,
    headers: Object.keys(headers).length ? JSON.stringify(headers, null, 2) : undefined,
    shouldPersistHeaders: false,
  }));
});
</script>
</body></html>`;

const LANDING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Tollgate GraphQL</title>
<style>body{margin:0;height:100vh;display:flex;flex-direction:column;font-family:system-ui,sans-serif}
#bar{padding:4px 12px;font-size:13px;background:#f3f3f3;border-bottom:1px solid #ddd}#sandbox{flex:1;min-height:0}</style>
</head><body>
<div id="bar">Apollo Sandbox · <a href="/explorer">Local explorer (GraphiQL, works offline)</a></div>
<div id="sandbox"></div>
<script>
function local() { location.replace('/explorer'); }
var script = document.createElement('script');
script.src = '${SANDBOX_SCRIPT}';
script.onerror = local;
script.onload = function () {
  fetch('${HEADERS_PATH}').then(function (r) { return r.json(); }).catch(function () { return {}; }).then(function (headers) {
    new window.EmbeddedSandbox({
      target: '#sandbox',
      initialEndpoint: location.href.split('?')[0],
      initialState: { sharedHeaders: headers, includeCookies: false },
      endpointIsEditable: false,
    });
  });
};
// A network that swallows requests instead of refusing them gets the local explorer too.
var timer = setTimeout(function () { if (!window.EmbeddedSandbox) local(); }, 10000);
script.addEventListener('load', function () { clearTimeout(timer); });
document.head.appendChild(script);
</script>
</body></html>`;
