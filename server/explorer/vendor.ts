import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

export interface VendorFile {
  /** Its name under /explorer/ and in the build's `vendor/` folder. */
  readonly name: string;
  readonly package: string;
  /** The file inside the package. */
  readonly path: string;
  readonly type: string;
}

/**
 * The local GraphiQL's browser files, declared once: `npm run build` copies each into `vendor/`
 * beside the compiled explorer, and the server serves it at `/explorer/<name>`. The packages are
 * dev dependencies, so a production install carries only these copies. GraphiQL 4 is the last line
 * with a browser build (one UMD file on the React 18 globals); 5 ships ES modules for a bundler.
 */
export const VENDOR_FILES: readonly VendorFile[] = [
  { name: 'react.js', package: 'react', path: 'umd/react.production.min.js', type: JS },
  { name: 'react-dom.js', package: 'react-dom', path: 'umd/react-dom.production.min.js', type: JS },
  { name: 'graphiql.js', package: 'graphiql', path: 'graphiql.min.js', type: JS },
  { name: 'graphiql.css', package: 'graphiql', path: 'graphiql.min.css', type: CSS },
  // Subscriptions from the page: graphql-ws's browser build (the global `graphqlWs`), a runtime dependency.
  { name: 'graphql-ws.js', package: 'graphql-ws', path: 'umd/graphql-ws.min.js', type: JS },
];

/** The build's copies, beside this module once compiled (dist/server/explorer/vendor/). */
export const VENDOR_DIR = fileURLToPath(new URL('./vendor/', import.meta.url));

const require = createRequire(import.meta.url);

/** A vendor file inside its installed package (the packages' `exports` hide the UMD files, not their folders). */
export function packagedFile(file: VendorFile): string {
  return join(dirname(require.resolve(`${file.package}/package.json`)), file.path);
}

/**
 * Every vendor file's content, read once: the build's copy, else the installed package (tsx, tests).
 * Throws naming the missing file when neither is there.
 */
export function readVendorFiles(): Map<string, { body: Buffer; type: string }> {
  return new Map(
    VENDOR_FILES.map((file) => {
      const copy = join(VENDOR_DIR, file.name);
      let path = copy;
      if (!existsSync(copy)) {
        try {
          path = packagedFile(file);
        } catch (error) {
          throw new Error(`the local GraphiQL's ${file.name} is missing: expected ${copy} (npm run build) or the ${file.package} package (a dev dependency)`, {
            cause: error,
          });
        }
      }
      return [file.name, { body: readFileSync(path), type: file.type }];
    }),
  );
}
