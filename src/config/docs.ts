/** Renders docs/configuration.md from the option table, so the docs cannot drift from the code. */
import { OPTIONS } from './config.js';

export function configurationMarkdown(): string {
  const rows = OPTIONS.map((o) => `| \`${o.env}\` | \`${o.default === '' ? '(empty)' : String(o.default)}\` | ${o.doc} |`);
  return `# Configuration

Sesame is configured by environment variables. Every bad value is reported at once and Sesame
refuses to start (exit code 2). This page is generated from \`src/config/config.ts\`
(\`npm run docs:config\`); a test fails when the two differ.

| Variable | Default | Meaning |
|---|---|---|
${rows.join('\n')}

## Server secrets

| Variable | Meaning |
|---|---|
| \`SESAME_HASH_KEY\` | Key of the keyed hashes (HMAC-SHA-256) under which session tokens and one-time links are stored. |
| \`SESAME_COOKIE_KEY\` | Key that signs the CSRF cookie. |
| \`SESAME_ENCRYPTION_KEY\` | Key that encrypts TOTP seeds at rest. |

Each is 32 random bytes, base64-encoded (\`openssl rand -base64 32\`). Those not given are generated
at first start into \`<data folder>/secrets.json\` (mode 0600) and reused afterwards. Several
instances behind a load balancer must share the same keys: give them by environment, or copy
\`secrets.json\`. Secrets are never logged.
`;
}
