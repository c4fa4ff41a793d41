/**
 * ClientStream: reaching the server and opening the first stream — our
 * header, the server's header and features, STARTTLS, what the client may
 * see of the features, and the client's early data.
 */
import t from 'tap'
import {
  DIRECT_TLS,
  FEATURES_PLAIN,
  FEATURES_PLAIN_OUT,
  FEATURES_STARTTLS,
  FEATURES_STARTTLS_REQUIRED,
  LOOPBACK,
  OUR_HEADER,
  PLAIN_REMOTE,
  SASL_NS,
  STARTTLS_OUT,
  StreamHarness,
  TLS_NS,
  TLS_REQUIRED,
  serverHeader,
  utf8,
} from './fakes.js'

const MSG = (n: number) => `<message xmlns="jabber:client" to="b@example.com" id="m${n}"><body>n°${n}</body></message>`

t.test('RFC 6120 §4.7: open() connects; once the link is up our header goes out with to, version, xml:lang and from', async (t) => {
  const h = new StreamHarness()
  h.open({ to: 'example.com', lang: 'en' })
  t.same(h.wire.log, ['link connect'])
  t.same(h.requests, [{ to: 'example.com', lang: 'en' }], 'the link is made for the routed domain')
  t.equal(h.stream.state, 'connecting')
  h.stream.linkUp(LOOPBACK)
  t.same(h.wire.log, ['link connect', `link write <?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>`])
  t.equal(h.stream.state, 'awaiting-header')
  h.stream.open({ to: 'other.example' })
  t.equal(h.links.length, 1, 'open() is called once: a second call makes no second link')

  const from = new StreamHarness()
  from.connect(LOOPBACK, { to: 'example.com', from: "o'neil@example.com" })
  t.same(
    from.link.written,
    [`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' from='o&apos;neil@example.com'>`],
    "XEP-0206 §4: the client's 'from' is forwarded, escaped",
  )
})

t.test('RFC 6120 §4.3.2: the server header and features open the stream; the sink hears the header attributes and the features', async (t) => {
  const h = new StreamHarness()
  h.connect(LOOPBACK)
  h.mark()
  h.server(serverHeader())
  t.same(h.wire.log, [], 'the header alone opens nothing')
  t.equal(h.stream.state, 'awaiting-features')
  h.server(FEATURES_PLAIN)
  t.same(h.wire.log, [`sink opened ${FEATURES_PLAIN_OUT}`])
  t.same(h.sink.headers, [{ from: 'example.com', id: 's1', version: '1.0', lang: 'en', secure: true }], 'a loopback link is secure (XEP-0124 §7.2)')
  t.equal(h.stream.state, 'open')
  h.clock.advance(h.settings.connectTimeoutMs * 2)
  t.equal(h.sink.ends.length, 0, 'the connect deadline ended with the features')

  const split = new StreamHarness()
  split.connect(LOOPBACK)
  split.mark()
  const bytes = Buffer.from(serverHeader() + FEATURES_PLAIN, 'utf8')
  for (let i = 0; i < bytes.length; i++) split.stream.linkData(bytes.subarray(i, i + 1))
  t.same(split.wire.log, [`sink opened ${FEATURES_PLAIN_OUT}`], 'the same bytes one at a time open it the same way')
  t.same(split.sink.headers, h.sink.headers)
})

t.test('XEP-0124 §7.2 secure: a plain link to another host is reported not secure', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.server(serverHeader('s1', '') + FEATURES_PLAIN)
  t.same(h.sink.headers, [{ from: 'example.com', id: 's1', version: '1.0', secure: false }])
  t.equal(h.link.written.length, 1, 'only our header: no STARTTLS was offered and none is required')
})

t.test('RFC 6120 §5.4.2: when the server offers STARTTLS, Causeway takes it and the client never sees <starttls/>', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.server(serverHeader('plain') + FEATURES_STARTTLS)
  t.equal(h.stream.state, 'starttls')
  h.server(`<proceed xmlns='${TLS_NS}'/>`)
  t.equal(h.stream.state, 'securing')
  h.stream.linkSecured()
  h.server(serverHeader('secured') + `<stream:features><mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`)
  t.same(h.wire.log, [
    'link connect',
    `link write ${OUR_HEADER}`,
    `link write ${STARTTLS_OUT}`,
    'link starttls',
    `link write ${OUR_HEADER}`,
    `sink opened <stream:features><mechanisms xmlns="${SASL_NS}"><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`,
  ])
  t.same(h.sink.headers, [{ from: 'example.com', id: 'secured', version: '1.0', lang: 'en', secure: true }], 'only the secured stream is reported')
})

t.test('RFC 6120 §5.4.1: STARTTLS marked <required/> on a TLS-required route is negotiated before anything else', async (t) => {
  const h = new StreamHarness()
  h.connect(TLS_REQUIRED)
  h.server(serverHeader() + FEATURES_STARTTLS_REQUIRED)
  t.same(h.link.written, [OUR_HEADER, STARTTLS_OUT])
  t.same(h.wire.log.filter((line) => line.startsWith('sink')), [], 'the client hears nothing of the plain stream')
})

t.test('RFC 6120 §5.3.1: a TLS-required route whose server offers no STARTTLS fails with cause tls; no byte more is sent', async (t) => {
  const h = new StreamHarness()
  h.connect(TLS_REQUIRED)
  h.mark()
  h.server(serverHeader() + FEATURES_PLAIN)
  t.same(h.wire.log, ['link destroy', 'sink end failed tls'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'tls', opened: false, text: 'upstream does not offer STARTTLS' }])
  t.equal(h.stream.state, 'closed')
  t.equal(h.clock.pending, 0, 'no timer left')
})

t.test('RFC 6120 §5.4.2.2: a <failure/> to our <starttls/> fails the stream with cause tls', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.server(serverHeader() + FEATURES_STARTTLS)
  h.mark()
  h.server(`<failure xmlns='${TLS_NS}'/></stream:stream>`)
  t.same(h.wire.log, ['link destroy', 'sink end failed tls'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'tls', opened: false, text: 'TLS with upstream failed', detail: 'the XMPP server refused STARTTLS' }])
})

t.test('RFC 6120 §5.4.3.3: a TLS handshake that fails after <proceed/> is reported with cause tls and the link detail', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.server(serverHeader() + FEATURES_STARTTLS + `<proceed xmlns='${TLS_NS}'/>`)
  h.mark()
  h.stream.linkFailed('tls', 'TLS with upstream failed', 'certificate has expired')
  t.same(h.wire.log, ['link destroy', 'sink end failed tls'])
  t.same(h.sink.ends, [{ kind: 'failed', cause: 'tls', opened: false, text: 'TLS with upstream failed', detail: 'certificate has expired' }])
})

t.test('RFC 6120 §5.4.3.3: bytes after <proceed/> in the same read are TLS, not XML: they are not parsed', async (t) => {
  const h = new StreamHarness()
  h.connect(PLAIN_REMOTE)
  h.server(serverHeader() + FEATURES_STARTTLS)
  h.mark()
  h.server(`<proceed xmlns='${TLS_NS}'/>\u0016\u0003\u0001<garbage`)
  t.same(h.wire.log, ['link starttls'])
  t.equal(h.stream.state, 'securing')
  h.stream.linkSecured()
  h.server(serverHeader('s2') + FEATURES_PLAIN)
  t.same(h.wire.log, ['link starttls', `link write ${OUR_HEADER}`, `sink opened ${FEATURES_PLAIN_OUT}`], 'the secured stream starts from a fresh parser')
})

t.test('XEP-0368: a direct TLS link is secure and does not negotiate STARTTLS even when it is offered', async (t) => {
  const h = new StreamHarness()
  h.connect(DIRECT_TLS)
  h.mark()
  h.server(serverHeader() + FEATURES_STARTTLS)
  t.same(h.wire.log, [`sink opened <stream:features><mechanisms xmlns="${SASL_NS}"><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>`])
  t.same(h.sink.headers, [{ from: 'example.com', id: 's1', version: '1.0', lang: 'en', secure: true }])
})

t.test('RFC 6120 §5.3.1, RFC 5802 §6: the client sees the features without <starttls/> and without -PLUS mechanisms; the rest untouched', async (t) => {
  const h = new StreamHarness()
  h.connect(DIRECT_TLS)
  h.mark()
  h.server(
    serverHeader() +
      `<stream:features><starttls xmlns='${TLS_NS}'/>` +
      `<mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism><mechanism> scram-sha-1-plus </mechanism><mechanism>PLAIN</mechanism></mechanisms>` +
      `<register xmlns='http://jabber.org/features/iq-register'/><sm xmlns='urn:xmpp:sm:3'/>` +
      `</stream:features>`,
  )
  t.same(h.wire.log, [
    `sink opened <stream:features><mechanisms xmlns="${SASL_NS}"><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms>` +
      `<register xmlns="http://jabber.org/features/iq-register"/><sm xmlns="urn:xmpp:sm:3"/></stream:features>`,
  ])
})

t.test(
  'XEP-0388 §2, RFC 5802 §6: -PLUS mechanisms offered for SASL2 are removed too (the client is not on the channel they bind to)',
  async (t) => {
    const h = new StreamHarness()
    h.connect(DIRECT_TLS)
    h.mark()
    h.server(
      serverHeader() +
        `<stream:features><authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism></authentication></stream:features>`,
    )
    t.same(h.wire.log, [`sink opened <stream:features><authentication xmlns="urn:xmpp:sasl:2"><mechanism>SCRAM-SHA-256</mechanism></authentication></stream:features>`])
  },
)

t.test('no client byte reaches the server before the first stream features; early data follows them, in order', async (t) => {
  const h = new StreamHarness()
  h.open()
  t.equal(h.stream.send(utf8(MSG(1))), true)
  h.stream.linkUp(LOOPBACK)
  t.equal(h.stream.send(utf8(MSG(2))), true)
  h.server(serverHeader())
  t.equal(h.stream.send(utf8(MSG(3))), true)
  t.equal(h.stream.bufferedBytes, 3 * Buffer.byteLength(MSG(1), 'utf8'), 'the queue counts UTF-8 bytes')
  t.same(h.wire.log, ['link connect', `link write ${OUR_HEADER}`], 'nothing of the client on the wire yet')
  h.server(FEATURES_PLAIN)
  t.same(h.wire.log, ['link connect', `link write ${OUR_HEADER}`, `sink opened ${FEATURES_PLAIN_OUT}`, `link write ${MSG(1)}`, `link write ${MSG(2)}`, `link write ${MSG(3)}`])
  t.equal(h.stream.bufferedBytes, 0)
  t.equal(h.stream.send(utf8(MSG(4))), true)
  t.equal(h.link.written.at(-1), MSG(4), 'later data goes straight out')
})

t.test('RFC 6120 §5.4.3.3: with STARTTLS, early client data waits for the secured stream’s features, never the plain one', async (t) => {
  const h = new StreamHarness()
  h.open()
  h.stream.send(utf8(MSG(1)))
  h.stream.linkUp(PLAIN_REMOTE)
  h.server(serverHeader() + FEATURES_STARTTLS)
  h.stream.send(utf8(MSG(2)))
  h.server(`<proceed xmlns='${TLS_NS}'/>`)
  h.stream.send(utf8(MSG(3)))
  h.stream.linkSecured()
  h.stream.send(utf8(MSG(4)))
  h.server(serverHeader('s2'))
  h.stream.send(utf8(MSG(5)))
  t.same(h.link.written, [OUR_HEADER, STARTTLS_OUT, OUR_HEADER])
  h.server(FEATURES_PLAIN)
  t.same(h.wire.log, [
    'link connect',
    `link write ${OUR_HEADER}`,
    `link write ${STARTTLS_OUT}`,
    'link starttls',
    `link write ${OUR_HEADER}`,
    `sink opened ${FEATURES_PLAIN_OUT}`,
    ...[1, 2, 3, 4, 5].map((n) => `link write ${MSG(n)}`),
  ])
})

t.test('early data above highWaterBytes makes send() return false; once flushed, the sink may write again', async (t) => {
  const size = Buffer.byteLength(MSG(1), 'utf8')
  const h = new StreamHarness({ highWaterBytes: 2 * size })
  h.connect(LOOPBACK)
  t.equal(h.stream.send(utf8(MSG(1))), true)
  t.equal(h.stream.send(utf8(MSG(2))), true, 'at the mark is still accepted')
  t.equal(h.stream.send(utf8(MSG(3))), false, 'above the mark: stop the client')
  t.equal(h.stream.bufferedBytes, 3 * size)
  h.mark()
  h.server(serverHeader() + FEATURES_PLAIN)
  t.same(h.wire.log, [`sink opened ${FEATURES_PLAIN_OUT}`, `link write ${MSG(1)}`, `link write ${MSG(2)}`, `link write ${MSG(3)}`, 'sink writable'])
})

t.test('early data whose flush fills the link: the client waits until the link drains', async (t) => {
  const size = Buffer.byteLength(MSG(1), 'utf8')
  const h = new StreamHarness({ highWaterBytes: size })
  h.connect(LOOPBACK)
  h.stream.send(utf8(MSG(1)))
  t.equal(h.stream.send(utf8(MSG(2))), false)
  h.link.queuedBytes = 2 * size // the kernel took none of it
  h.mark()
  h.server(serverHeader() + FEATURES_PLAIN)
  t.same(h.wire.log, [`sink opened ${FEATURES_PLAIN_OUT}`, `link write ${MSG(1)}`, `link write ${MSG(2)}`], 'not writable yet')
  h.link.queuedBytes = 0
  h.stream.linkDrained()
  t.same(h.wire.log.slice(3), ['sink writable'])
  h.clock.advance(h.settings.drainTimeoutMs)
  t.equal(h.stream.state, 'open', 'the drain deadline was cancelled')
})

t.test('pause() before the link exists is applied before it connects; resume() reaches the link', async (t) => {
  const h = new StreamHarness()
  h.stream.pause()
  h.open()
  h.stream.resume()
  t.same(h.wire.log, ['link pause', 'link connect', 'link resume'])
})

t.test('a link that comes up from inside connect(): the input is handled in order, our header after the connect', async (t) => {
  const h = new StreamHarness()
  h.onLink = (link) => link.when('connect', () => h.stream.linkUp(LOOPBACK))
  h.open()
  t.same(h.wire.log, ['link connect', `link write ${OUR_HEADER}`])
  t.equal(h.stream.state, 'awaiting-header')
})
