/**
 * What a web application does for prebind: on its own server, with the
 * admin token, ask Causeway to log a user in (POST /admin/prebind), and
 * give the user's browser only `{ jid, sid, rid }`.
 */
export interface Prebound {
  readonly jid: string
  readonly sid: string
  readonly rid: number
}

export interface PrebindAnswer {
  readonly status: number
  readonly headers: Headers
  readonly body: Record<string, unknown>
}

export async function requestPrebind(adminUrl: string, token: string, request: { jid: string; password: string; ip?: string }): Promise<PrebindAnswer> {
  const response = await fetch(`${adminUrl}/admin/prebind`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(request),
  })
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> }
}

/** A successful prebind, or a thrown error with the answer. */
export async function prebindOrThrow(adminUrl: string, token: string, request: { jid: string; password: string; ip?: string }): Promise<Prebound> {
  const answer = await requestPrebind(adminUrl, token, request)
  if (answer.status !== 200) throw new Error(`prebind: HTTP ${answer.status} ${JSON.stringify(answer.body)}`)
  const { jid, sid, rid } = answer.body
  if (typeof jid !== 'string' || typeof sid !== 'string' || typeof rid !== 'number') throw new Error(`prebind: unexpected answer ${JSON.stringify(answer.body)}`)
  return { jid, sid, rid }
}
