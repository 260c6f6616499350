/**
 * `sesame integration config <target>`: the files a mail server or proxy needs to ask Sesame, filled
 * in from the templates in integrations/ (the same files the docs explain line by line), with
 * Sesame's URL and a fresh integration key. A target names its templates, where each rendered file
 * goes on a stock Debian host (relative to the target's folder), who may read it, and the settings
 * an admin gives as flags. The e2e tests start stock servers from exactly these files.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppContext } from '../../app/context.js';

/** The repository's integrations/ folder (this file is dist/src/cli/integration-config/model.js). */
export const TEMPLATES = fileURLToPath(new URL('../../../../integrations/', import.meta.url));

export interface Setting {
  /** The template's placeholder, e.g. UPSTREAM_URL for @UPSTREAM_URL@. */
  placeholder: string;
  /** The command-line flag, e.g. `upstream` for --upstream. */
  flag: string;
  doc: string;
  /** Used when the flag is not given; without one the flag is required. */
  default?: string;
  /** Checks a given value; returns a reason when it is wrong. */
  check?: (value: string) => string | undefined;
  /** May be left out (no default): the template lines that name it are then commented out. */
  optional?: boolean;
}

export interface TemplateFile {
  /** Template, relative to integrations/. */
  template: string;
  /** Where the rendered file goes, relative to the target's folder. */
  path: string;
  /** File mode: 0o640 for anything that holds a key. */
  mode: number;
  /** Group that must read it (e.g. dovecot), set when the folder is written as root and the group exists. */
  group?: string;
  /** Placeholders of this file alone (one template rendered several times, e.g. once per protocol). */
  values?: Record<string, string>;
}

export interface ConfigTarget {
  name: string;
  summary: string;
  /** Where the files go on a stock Debian host, e.g. /etc/dovecot. */
  folder: string;
  /** The integration whose fresh key the files hold; undefined when the target needs none (forward auth). */
  integration?: string;
  /** The scheme the server can use to reach Sesame ('http' when it cannot speak TLS to it, as nginx's auth_http). */
  plainHttpOnly?: boolean;
  settings: Setting[];
  files: TemplateFile[];
  /** What the admin does after writing the files (printed after them; placeholders filled as in the files). */
  next: string[];
  /** Placeholders filled with a fresh random secret (e.g. the doveadm API key both sides share). */
  generated?: string[];
  /** Placeholders filled with where one of the files is written (its path relative to the folder). */
  paths?: Record<string, string>;
  /**
   * Checks the settings against the store before a key is made (e.g. that the organization and the
   * group exist) and returns placeholders derived from what it found; throws when they are wrong.
   */
  verify?: (ctx: AppContext, values: Readonly<Record<string, string>>) => Promise<Record<string, string>>;
}

export interface RenderInput {
  /** Sesame's base URL as the server reaches it, without a trailing slash. */
  sesameUrl: string;
  /** The integration key (targets with `integration`). */
  key?: string;
  /** The integration's name (targets with `integration`): a service's bind name holds it. */
  integrationName?: string;
  /** Where the files are written: --out, or the target's folder. */
  root?: string;
  /** Placeholder -> value, for the target's settings. */
  values: Record<string, string>;
}

export interface RenderedFile {
  path: string;
  mode: number;
  group?: string;
  text: string;
}

/** Replaces every @NAME@ of `values`; a placeholder without a value is a bug in the target (fails loudly). */
export function fillTemplate(text: string, values: Record<string, string>, what: string): string {
  return text.replace(/@([A-Z][A-Z0-9_]*)@/g, (m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`${what}: no value for placeholder ${m}`);
    return v;
  });
}

/** Every placeholder's value for a target: the settings, Sesame's URL, the key, fresh secrets. */
export function targetValues(target: ConfigTarget, input: RenderInput): Record<string, string> {
  const values: Record<string, string> = { ...input.values, SESAME_URL: input.sesameUrl };
  if (input.key !== undefined) values.SESAME_INTEGRATION_KEY = input.key;
  if (input.integrationName !== undefined) values.INTEGRATION_NAME = input.integrationName;
  for (const s of target.settings) {
    const fallback = s.default ?? (s.optional ? '' : undefined);
    if (fallback !== undefined) values[s.placeholder] ??= fallback;
  }
  for (const [placeholder, file] of Object.entries(target.paths ?? {}))
    values[placeholder] ??= path.join(input.root ?? target.folder, file);
  for (const g of target.generated ?? []) values[g] ??= randomBytes(32).toString('base64url');
  return values;
}

/** The target's next steps with the same values as its files (e.g. the shared doveadm API key). */
export function renderNext(target: ConfigTarget, values: Record<string, string>): string[] {
  return target.next.map((line) => fillTemplate(line, values, `${target.name} next steps`));
}

/** Comments out (`# `) every line that names a placeholder in `left`: an optional setting not given. */
function commentOut(text: string, left: string[]): string {
  if (left.length === 0) return text;
  return text
    .split('\n')
    .map((line) => (left.some((p) => line.includes(`@${p}@`)) ? `# ${line}` : line))
    .join('\n');
}

export function renderTarget(target: ConfigTarget, input: RenderInput): RenderedFile[] {
  const values = targetValues(target, input);
  const left = target.settings.filter((s) => s.optional && values[s.placeholder] === '').map((s) => s.placeholder);
  return target.files.map((f) => ({
    path: f.path,
    mode: f.mode,
    group: f.group,
    text: fillTemplate(
      commentOut(fs.readFileSync(path.join(TEMPLATES, f.template), 'utf8'), left),
      { ...values, ...f.values },
      f.template,
    ),
  }));
}
