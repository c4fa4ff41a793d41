/**
 * The one error configuration loading throws. The message names the key and
 * the bound it broke, e.g.
 * `port: must be an integer between 0 and 65535 (got "70000" from --port)`.
 */
export class ConfigError extends Error {
  override name = 'ConfigError'

  /**
   * @param key the option key (camelCase); for a name we do not know, the
   *   name exactly as given (`--bogus`, `CAUSEWAY_BOGUS`, or a file key).
   * @param message the full message, starting with `key: `.
   * @param source where the offending value came from (`--port`,
   *   `CAUSEWAY_PORT`, `config file /etc/causeway.json`), when it came from one place.
   */
  constructor(
    readonly key: string,
    message: string,
    readonly source?: string,
  ) {
    super(message)
  }
}
