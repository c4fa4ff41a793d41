/**
 * Test support: the cores' settings as a default-configured server gets
 * them, so tests use the option table's defaults rather than copies.
 */
import type { BoshOptions } from '../../src/core/bosh/options.js'
import type { XmlLimits } from '../../src/core/xml/stream-reader.js'
import type { BodyLimits } from '../../src/core/bosh/body.js'
import { DEFAULT_CONFIG } from '../../src/config/index.js'
import { boshOptions, xmlLimits } from '../../src/config/settings.js'

export const XML_LIMITS: XmlLimits = xmlLimits(DEFAULT_CONFIG)

export const BOSH_OPTIONS: BoshOptions = boshOptions(DEFAULT_CONFIG)

/** Body limits as the BOSH route sets them: the wrapper adds one level of nesting. */
export const BODY_LIMITS: BodyLimits = {
  maxBodyBytes: BOSH_OPTIONS.maxBodyBytes,
  xml: { maxDepth: XML_LIMITS.maxDepth + 1, maxAttributes: XML_LIMITS.maxAttributes, maxAttributeValueBytes: XML_LIMITS.maxAttributeValueBytes, maxNameBytes: XML_LIMITS.maxNameBytes },
}
