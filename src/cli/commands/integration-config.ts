/**
 * `sesame integration config <target> [--out DIR] [--url URL] [--name NAME] [target flags]`: renders
 * the target's files with Sesame's URL and, for targets that ask with a key, a fresh integration key
 * (added under the target's name, or --name). Without --out the files go to standard output, each
 * after a `==> path <==` line; with --out they are written under DIR at their place relative to the
 * target's folder (e.g. --out /etc/dovecot), with their modes and, as root, their group.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../../config/config.js';
import { CONFIG_TARGETS, configTarget } from '../integration-config/index.js';
import {
  type ConfigTarget,
  type RenderedFile,
  renderNext,
  renderTarget,
  targetValues,
} from '../integration-config/model.js';
import type { CliIo } from '../io.js';
import { parse, UsageError } from '../io.js';
import { withContext } from '../context.js';

export const INTEGRATION_CONFIG_USAGE = `  sesame integration config <target> [--out DIR] [--url URL] [--name NAME] [target options]
        targets: ${CONFIG_TARGETS.map((t) => t.name).join(', ')}; "sesame integration config <target> --help" lists its options`;

/** Where a server on this host reaches Sesame: its own listener (a wildcard address means loopback). */
export function localSesameUrl(config: Readonly<Config>): string {
  const wildcard = ['0.0.0.0', '::', '', 'localhost'].includes(config.host);
  const host = wildcard ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}`;
}

function targetHelp(t: ConfigTarget): string {
  const lines = [`${t.name}: ${t.summary}`, `  files (under ${t.folder}): ${t.files.map((f) => f.path).join(', ')}`];
  if (t.integration) lines.push(`  a fresh key for the integration "${t.integration}" (--name to choose another name)`);
  for (const s of t.settings) {
    const how = s.default !== undefined ? ` (default ${s.default})` : s.optional ? ' (optional)' : ' (required)';
    lines.push(`  --${s.flag} VALUE  ${s.doc}${how}`);
  }
  return lines.join('\n');
}

function groupId(name: string): number | undefined {
  try {
    const line = fs
      .readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}

function writeFiles(out: string, files: RenderedFile[], io: CliIo) {
  for (const f of files) {
    const file = path.join(out, f.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Written under a temporary name with its final mode, then renamed: never readable by others, even briefly.
    const tmp = `${file}.sesame-tmp`;
    fs.writeFileSync(tmp, f.text, { mode: f.mode });
    fs.chmodSync(tmp, f.mode);
    const gid = f.group && process.getuid?.() === 0 ? groupId(f.group) : undefined;
    if (gid !== undefined) fs.chownSync(tmp, 0, gid);
    fs.renameSync(tmp, file);
    io.out(`wrote ${file} (mode 0${f.mode.toString(8)}${gid !== undefined ? `, group ${f.group}` : ''})`);
  }
}

export async function integrationConfig(rest: string[], config: Readonly<Config>, io: CliIo): Promise<number> {
  const name = rest.find((a) => !a.startsWith('-'));
  const target = name ? configTarget(name) : undefined;
  if (!target)
    throw new UsageError(
      `${name ? `unknown target "${name}"` : 'no target given'}; targets: ${CONFIG_TARGETS.map((t) => t.name).join(', ')}`,
    );
  if (rest.includes('--help')) {
    io.out(targetHelp(target));
    return 0;
  }
  const options: ParseArgsConfig['options'] = {
    out: { type: 'string' },
    url: { type: 'string' },
    name: { type: 'string' },
  };
  for (const s of target.settings) options[s.flag] = { type: 'string' };
  const flags = parse(rest, options, 1).values as Record<string, string | undefined>;
  const values: Record<string, string> = {};
  for (const s of target.settings) {
    const v = flags[s.flag] ?? s.default;
    if (v === undefined && s.optional) continue;
    if (v === undefined) throw new UsageError(`${target.name} needs --${s.flag} (${s.doc})`);
    const wrong = s.check?.(v);
    if (wrong) throw new UsageError(`--${s.flag}: ${wrong}`);
    values[s.placeholder] = v;
  }
  const sesameUrl = (flags.url ?? localSesameUrl(config)).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(sesameUrl);
  } catch {
    throw new UsageError(`--url: "${sesameUrl}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError('--url must be http:// or https://');
  if (target.plainHttpOnly && parsed.protocol !== 'http:')
    throw new UsageError(`${target.name} reaches Sesame over plain http:// only (it cannot speak TLS to it)`);
  const out = flags.out;
  if (!flags.url)
    io.err(
      `Sesame's URL for ${target.name}: ${sesameUrl} (this host's listener, HOST and PORT; give --url if the server reaches Sesame at another address)`,
    );
  const integrationName = target.integration ? (flags.name ?? target.integration) : undefined;
  const root = out ? path.resolve(out) : target.folder;
  const render = (key?: string) => {
    // One set of values for the files and the next steps: a generated secret is the same in both.
    const all = targetValues(target, { sesameUrl, key, integrationName, root, values });
    return { files: renderTarget(target, { sesameUrl, key, values: all }), next: renderNext(target, all) };
  };
  let rendered: { files: RenderedFile[]; next: string[] };
  if (target.integration) {
    rendered = await withContext(config, async (ctx) => {
      // What the store must hold first (an organization, a group), and a template error, must not
      // leave a key behind: both are checked before the integration is added.
      if (target.verify) Object.assign(values, await target.verify(ctx, values));
      render('sesame_int_check');
      return render((await ctx.integrations.add(integrationName!)).key);
    });
    io.err(`integration ${integrationName} added; its key is in the files below (shown nowhere else)`);
  } else rendered = render();
  if (out) writeFiles(out, rendered.files, io);
  else for (const f of rendered.files) io.out(`==> ${path.posix.join(target.folder, f.path)} <==\n${f.text}`);
  io.err(`then: ${rendered.next.join('; ')}`);
  return 0;
}
