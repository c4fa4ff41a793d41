/**
 * Raw BOSH requests for tests that need exact bodies: create a session,
 * and keep one empty request held so the test can see how it is answered.
 */
export const HTTPBIND = "xmlns='http://jabber.org/protocol/httpbind'"

export async function post(url: string, body: string): Promise<string> {
  return (await fetch(url, { method: 'POST', body })).text()
}

/** A session for `to`, plus its next request already held by the server. */
export async function openHeldSession(url: string, options: { to?: string; wait?: number } = {}): Promise<{ sid: string; held: Promise<string> }> {
  const created = await post(url, `<body ${HTTPBIND} rid='10' to='${options.to ?? 'localhost'}' wait='${options.wait ?? 20}' hold='1' ver='1.11'/>`)
  const sid = /sid='([^']+)'/.exec(created)?.[1]
  if (!sid) throw new Error(`no session created: ${created}`)
  const held = post(url, `<body ${HTTPBIND} sid='${sid}' rid='11'/>`)
  // Give the server a moment to have the request in hand before the test acts.
  await new Promise((resolve) => setTimeout(resolve, 100))
  return { sid, held }
}
