// Builds the console into dist/ reproducibly: same sources and lockfile -> byte-identical dist.
//   dist/index.html, dist/app.js, dist/app.css, dist/graphiql.js,
//   dist/vendor/graphiql/{react.production.min.js,react-dom.production.min.js,graphiql.min.js,graphiql.min.css}
// No timestamps, no absolute paths, no source maps. Run with `npm run build`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const nm = join(root, 'node_modules');

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'vendor', 'graphiql'), { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: ['src/main.tsx'],
  outfile: 'dist/app.js',
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  sourcemap: false,
  legalComments: 'none',
  charset: 'ascii',
  treeShaking: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.css': 'css' },
  logLevel: 'warning',
});

// index.html: no inline script; absolute asset paths (the hub serves /console and /console/).
const html = readFileSync(join(src, 'index.html'), 'utf8');
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html)) throw new Error('index.html must not contain an inline <script>');
writeFileSync(join(dist, 'index.html'), html);
copyFileSync(join(src, 'graphiql.js'), join(dist, 'graphiql.js'));

// The hub's GraphiQL page loads these and nothing from the internet.
const vendor = [
  ['react/umd/react.production.min.js', 'react.production.min.js'],
  ['react-dom/umd/react-dom.production.min.js', 'react-dom.production.min.js'],
  ['graphiql/graphiql.min.js', 'graphiql.min.js'],
  ['graphiql/graphiql.min.css', 'graphiql.min.css'],
];
for (const [from, to] of vendor) {
  // drop the source-map pointer: the maps are not shipped, so a browser would ask for a 404
  let text = readFileSync(join(nm, from), 'utf8');
  text = text.replace(/\n?\/[/*][#@] sourceMappingURL=[^\n]*\s*$/, '\n');
  writeFileSync(join(dist, 'vendor', 'graphiql', to), text);
}

// The console itself must not name any other origin.
const app = readFileSync(join(dist, 'app.js'), 'utf8');
const abs = app.match(/\/(?:root|home|work|tmp|Users)\/[\w.-]+\//);
if (abs) throw new Error(`dist/app.js contains an absolute path: ${abs[0]}`);
