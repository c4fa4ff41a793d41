/**
 * The one typed configuration. Entry point use:
 *
 *   const cl = parseCommandLine({ argv: process.argv.slice(2), env: process.env })
 *   if (cl.action === 'help') print(cl.text)
 *   else if (cl.action === 'version') print(version)
 *   else start(cl.config)
 */
export { ConfigError } from './config-error.js'
export { DEFAULT_CONFIG, loadConfig, makeConfig, parseCommandLine } from './load-config.js'
export type { CommandLine, ConfigSources } from './load-config.js'
export {
  CONFIG_ENV,
  CONFIG_FLAG,
  CROSS_CHECKS,
  envName,
  flagName,
  LOG_LEVELS,
  OPTION_KEYS,
  OPTIONS,
  optionSpec,
} from './options.js'
export type { AnyOption, Config, ConfigValues, LogLevel, OptionKey } from './options.js'
export { crossChecksMarkdown, optionsMarkdown, usage } from './usage.js'
