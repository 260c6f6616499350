/**
 * Hot-path queries compiled once. Building and compiling a Kysely query costs about as much as
 * running it on SQLite (measured on /auth/mail), so the queries a mail server triggers on every
 * connection are compiled with sentinel values on first use and re-run with real parameters.
 */
import type { CompiledQuery } from 'kysely';

const SENTINEL = (i: number) => `\u0000sesame-parameter-${i}\u0000`;

export class Precompiled<Row> {
  private compiled: CompiledQuery<Row> | undefined;
  /** For each parameter of the compiled query: which value replaces it (-1: a constant of the query). */
  private slots: number[] = [];

  /** `build` receives the sentinels it must use as the values that change from call to call. */
  constructor(
    private readonly arity: number,
    private readonly build: (params: string[]) => { compile(): CompiledQuery<Row> },
  ) {}

  /** The compiled query with `values` in place of the sentinels. */
  with(values: string[]): CompiledQuery<Row> {
    if (values.length !== this.arity) throw new Error(`expected ${this.arity} values`);
    let c = this.compiled;
    if (!c) {
      const sentinels = Array.from({ length: this.arity }, (_, i) => SENTINEL(i));
      c = this.compiled = this.build(sentinels).compile();
      this.slots = c.parameters.map((p) => (typeof p === 'string' ? sentinels.indexOf(p) : -1));
    }
    const slots = this.slots;
    const parameters = c.parameters.map((p, i) => (slots[i]! >= 0 ? values[slots[i]!] : p));
    return { ...c, parameters };
  }
}
