/** Renders docs/configuration.md from the option table and the secrets table, so the docs cannot drift from the code. */
import { OPTIONS } from './config.js';
import { previousEnv, SECRET_NAMES, SECRETS } from './secrets.js';

export function configurationMarkdown(): string {
  const shown = (d: unknown) =>
    d === '' || (Array.isArray(d) && d.length === 0) ? '(empty)' : Array.isArray(d) ? d.join(',') : String(d);
  const rows = OPTIONS.map((o) => `| \`${o.env}\` | ${o.shownDefault ?? `\`${shown(o.default)}\``} | ${o.doc} |`);
  const secretRows = SECRET_NAMES.map((k) => `| \`${SECRETS[k].env}\` | ${SECRETS[k].doc} |`);
  return `# Configuration

Sesame is configured by environment variables. Every bad value is reported at once and Sesame
refuses to start (exit code 2). This page is generated from \`src/config/config.ts\` and
\`src/config/secrets.ts\` (\`npm run docs:config\`); a test fails when they differ.

| Variable | Default | Meaning |
|---|---|---|
${rows.join('\n')}

## Server secrets

| Variable | Meaning |
|---|---|
${secretRows.join('\n')}
| ${SECRET_NAMES.map((k) => `\`${previousEnv(k)}\``).join(', ')} | Previous keys after a rotation: comma-separated, newest first, each base64. They still read what they made (hashes stored and seeds encrypted before the rotation) and make nothing new. Only beside the key itself from the environment. |

Each is 32 random bytes, base64-encoded (\`openssl rand -base64 32\`). Those not given are generated
at first start into \`<data folder>/secrets.json\` (mode 0600) and reused afterwards. Several
instances behind a load balancer must share the same keys: give them by environment, or copy
\`secrets.json\`. Secrets are never logged. Production mode refuses keys generated per instance when
\`DATABASE_URL\` is set, one key used for two purposes, and a previous key equal to the current one.
To change keys without breaking app passwords, integration keys or authenticator apps, see
[Key rotation](admin-guide.md#key-rotation) (\`sesame keys rotate\`).
`;
}
