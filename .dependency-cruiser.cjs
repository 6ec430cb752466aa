/**
 * The layer rules of rt, checked by `npm run lint` (and so `npm test`):
 * doors → operations → sessions/delivery → engine. See README "Design notes".
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle ties layers together: split the shared part out.',
      from: { path: '^packages/[^/]+/src' },
      to: { circular: true },
    },
    {
      name: 'protocol-is-pure',
      severity: 'error',
      comment: '@rt/protocol is pure TypeScript with no I/O and no dependency: it imports only itself.',
      from: { path: '^packages/protocol/src' },
      to: { pathNot: '^packages/protocol/src' },
    },
    {
      name: 'client-not-server',
      severity: 'error',
      comment: 'The client runs in browsers and React Native: it never imports the server.',
      from: { path: '^packages/client/src' },
      to: { path: '^packages/server/' },
    },
    {
      name: 'doors-not-engines',
      severity: 'error',
      comment:
        'A door (transports/, mercure/) parses its wire and calls the operations core (ops/); it never touches the engine.',
      from: { path: '^packages/server/src/(transports|mercure)/' },
      to: { path: '^packages/server/src/engines/' },
    },
    {
      name: 'engine-behind-operations',
      severity: 'error',
      comment:
        'Only the operations core, the session/delivery path and the broker that creates the engine import engines/.',
      from: {
        path: '^packages/server/src/',
        pathNot:
          '^packages/server/src/(engines/|ops/|session\\.ts|broker\\.ts|broker-options\\.ts|options\\.ts|index\\.ts|cli\\.ts)',
      },
      to: { path: '^packages/server/src/engines/' },
    },
    {
      name: 'operations-not-doors',
      severity: 'error',
      comment: 'The operations core is below the doors: it never imports a transport or the Mercure hub.',
      from: { path: '^packages/server/src/ops/' },
      to: { path: '^packages/server/src/(transports|mercure)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    // Type-only imports count: a door that names an engine type still depends on the engine.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
