import t from 'tap'
import { BOSH_CONDITIONS } from '../../../src/core/conditions.js'
import { LEGACY_HTTP_STATUS, terminalReply } from '../../../src/core/bosh/reply.js'
import { BODY } from './fakes.js'

const bytes = (text: string) => new TextEncoder().encode(text)

t.test('XEP-0124 §17.1: a legacy client gets 400/403/404 for the three starred conditions', async (t) => {
  t.same(terminalReply({ condition: 'bad-request', legacy: true }), { status: 400, condition: 'bad-request', contentType: 'text/xml; charset=utf-8' })
  t.same(terminalReply({ condition: 'policy-violation', legacy: true }), { status: 403, condition: 'policy-violation', contentType: 'text/xml; charset=utf-8' })
  t.same(terminalReply({ condition: 'item-not-found', legacy: true }), { status: 404, condition: 'item-not-found', contentType: 'text/xml; charset=utf-8' })
})

t.test('XEP-0124 §17.2: every other condition stays a terminate body, legacy or not', async (t) => {
  for (const condition of BOSH_CONDITIONS) {
    if (LEGACY_HTTP_STATUS[condition] !== undefined) continue
    t.same(terminalReply({ condition, legacy: true }), { status: 200, body: bytes(`${BODY} type='terminate' condition='${condition}'/>`), contentType: 'text/xml; charset=utf-8' }, condition)
  }
  t.same(terminalReply({ condition: 'item-not-found' }), { status: 200, body: bytes(`${BODY} type='terminate' condition='item-not-found'/>`), contentType: 'text/xml; charset=utf-8' }, 'non-legacy')
  t.same(terminalReply({ legacy: true, contentType: 'text/html' }), { status: 200, body: bytes(`${BODY} type='terminate'/>`), contentType: 'text/html' })
})
