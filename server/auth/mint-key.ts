/**
 * Mints an API key: `npm run mint-key -- <client> <scope>[,<scope>...]`. Prints the key once (for
 * the client's secret store) and the entry to add to API_KEYS / API_KEYS_FILE, which holds only
 * the key's SHA-256.
 */
import { mintApiKey } from './api-keys.ts';
import { isScope, Scope } from './scopes.ts';

const [client, scopeList] = process.argv.slice(2);
const scopes = (scopeList ?? '').split(',').filter(Boolean);
const usage = `usage: npm run mint-key -- <client> <scope>[,<scope>...]
  client: letters, digits, . _ - (e.g. personalization)
  scopes: ${Object.values(Scope).filter((scope) => scope !== Scope.Self).join(', ')}
          (customer:read:self is for JWTs, bound to their sub)`;

if (!client || !/^[\w.-]{1,64}$/.test(client) || scopes.length === 0 || !scopes.every(isScope) || scopes.includes(Scope.Self)) {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}

const { key, entry } = mintApiKey(client, scopes as Scope[]);
process.stdout.write(`API key for ${client} (${scopes.join(', ')}); shown once, keep it in the client's secret store:

  ${key}

Add this entry to the API_KEYS JSON array (or the API_KEYS_FILE) and restart:

  ${JSON.stringify(entry)}
`);
