/**
 * The local payment provider's own page (development, tests, drills): what a buyer sees at a real
 * provider, reduced to the amount and two buttons. Approve or Decline tells the provider, which
 * sends its signed webhook to the service the way Stripe or Alipay would, and the buyer is sent
 * back to the shop. Plain HTML forms, no script (the pages' CSP allows none inline). Registered
 * only when PAYMENT_PROVIDER=local.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { LocalIntent, LocalProvider } from '../../orders'

const INTENT = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^lpi_[0-9a-f]{24}$' } } }

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page (i: LocalIntent): string {
  const amount = `${(i.amountCents / 100).toFixed(2)} ${i.currency.toUpperCase()}`
  const state = i.status === 'succeeded'
    ? '<p id="state">Paid. You can go back to the shop.</p>'
    : `<p id="state">${i.status === 'failed' ? 'Declined. You may still approve it.' : 'Waiting for your approval.'}</p>
  <form method="post" action="/pay/local/${escape(i.id)}/approve"><button id="approve" type="submit">Approve</button></form>
  <form method="post" action="/pay/local/${escape(i.id)}/decline"><button id="decline" type="submit" class="secondary">Decline</button></form>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Local payment provider</title></head>
<body>
  <main>
  <h1>Local payment provider</h1>
  <p>Development only: no money moves. ${escape(i.description)}</p>
  <p id="amount">${escape(amount)}</p>
  ${state}
  <p><a href="${escape(i.returnUrl)}">Back to the shop</a></p>
  </main>
</body></html>
`
}

export async function localPayRoutes (app: FastifyInstance, opts: { local: LocalProvider }): Promise<void> {
  // The forms post an empty urlencoded body; nothing in it is read.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_r, _b, done) => { done(null, undefined) })
  const notFound = async (reply: FastifyReply): Promise<FastifyReply> => await reply.code(404).type('text/plain; charset=utf-8').send('No such payment.\n')

  app.get<{ Params: { id: string } }>('/pay/local/:id', { schema: { hide: true, params: INTENT } }, async (request, reply) => {
    const intent = await opts.local.intent(request.params.id)
    if (intent === undefined) return await notFound(reply)
    return await reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page(intent))
  })

  for (const action of ['approve', 'decline'] as const) {
    app.post<{ Params: { id: string } }>(`/pay/local/:id/${action}`, { schema: { hide: true, params: INTENT } }, async (request, reply) => {
      const intent = await opts.local[action](request.params.id)
      if (intent === undefined) return await notFound(reply)
      // Back to the shop, as a provider's hosted page does.
      return await reply.redirect(intent.returnUrl, 303)
    })
  }
}
