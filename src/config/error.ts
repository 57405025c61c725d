/**
 * The error of a config that cannot be used: its source and every problem,
 * each starting with the field's path. A leaf module, so that what reads a
 * config's values later (API key files) can report in the same form.
 */

/** A config that cannot be used, with every problem found. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly source: string;
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.source = source;
    this.problems = problems;
  }
}
