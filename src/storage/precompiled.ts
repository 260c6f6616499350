/**
 * Hot-path queries compiled once. Building and compiling a Kysely query costs about as much as
 * running it on SQLite (measured on /auth/mail), so the queries a mail server triggers on every
 * connection are compiled with sentinel values on first use and re-run with real parameters.
 */
import type { CompiledQuery } from 'kysely';

const SENTINEL = (i: number) => `\u0000sesame-parameter-${i}\u0000`;

export class Precompiled<Row> {
  private compiled: CompiledQuery<Row> | undefined;

  /** `build` receives the sentinels it must use as the values that change from call to call. */
  constructor(
    private readonly arity: number,
    private readonly build: (params: string[]) => { compile(): CompiledQuery<Row> },
  ) {}

  /** The compiled query with `values` in place of the sentinels. */
  with(values: string[]): CompiledQuery<Row> {
    if (values.length !== this.arity) throw new Error(`expected ${this.arity} values`);
    const sentinels = Array.from({ length: this.arity }, (_, i) => SENTINEL(i));
    this.compiled ??= this.build(sentinels).compile();
    const c = this.compiled;
    const parameters = c.parameters.map((p) => {
      const i = typeof p === 'string' ? sentinels.indexOf(p) : -1;
      return i >= 0 ? values[i] : p;
    });
    return { ...c, parameters };
  }
}
