/**
 * `npm run build`: compiles the server to dist/ and copies beside the JavaScript what it reads by
 * path at run time: the SDL, every SQL file of the sources, and the local GraphiQL's browser files
 * (so a production install needs none of their packages). `tsc --build` skips compiling when no
 * source is newer than its output, which keeps `npm start` quick after the first time. Exits
 * non-zero on a type error.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packagedFile, VENDOR_DIR, VENDOR_FILES } from './server/explorer/vendor.ts';

const root = fileURLToPath(new URL('.', import.meta.url));
const out = resolve(root, (JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } }).compilerOptions.outDir);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

try {
  execFileSync(process.execPath, [tsc, '--build', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
} catch {
  process.exit(1);
}

// Replaced, not merged: a file deleted from schema/ must not linger in the build (the server reads the whole folder).
rmSync(join(out, 'schema'), { recursive: true, force: true });
cpSync(join(root, 'schema'), join(out, 'schema'), { recursive: true });
for (const file of readdirSync(join(root, 'sources'), { recursive: true, encoding: 'utf8' })) {
  if (file.endsWith('.sql')) cpSync(join(root, 'sources', file), join(out, 'sources', file));
}
const vendor = join(out, relative(root, VENDOR_DIR));
rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
for (const file of VENDOR_FILES) cpSync(packagedFile(file), join(vendor, file.name));
