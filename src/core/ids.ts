/** Session and stream ids come in from outside so cores stay free of crypto. */
export interface IdSource {
  /** An unpredictable id, URL- and XML-attribute-safe. */
  next(): string
}
