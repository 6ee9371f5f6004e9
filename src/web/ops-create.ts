/**
 * The operator's "new sale" form: an existing product or a new one (not a new product every
 * time), the start counted from the server's clock (never the device's) and shown as a time with
 * its zone before creating, and one sale per submission however often the button is pressed.
 */
import { api, describe, el } from './api'
import type { Page, SaleEvent, Session } from './api'
import { clock, m, money } from './i18n'

interface Product { id: number, title: string, price_cents: number }

function field (id: string, label: string, input: HTMLElement, hint?: HTMLElement): HTMLElement {
  input.id = id
  if (hint !== undefined) input.setAttribute('aria-describedby', hint.id)
  return el('div', { class: 'field' }, el('label', { for: id }, label), input, ...(hint !== undefined ? [hint] : []))
}

export function createForm (session: Session, serverNow: () => number, onCreated: (id: number) => void): HTMLElement {
  const w = m()
  const product = el('select', { name: 'product' }, el('option', { value: 'new' }, w.opsNewProduct))
  const title = el('input', { name: 'title', value: 'Limited sneaker drop', required: '', maxlength: '200' })
  const price = el('input', { name: 'price', type: 'number', value: '99.00', min: '0.01', step: '0.01', required: '' })
  const stock = el('input', { name: 'stock', type: 'number', value: '100', min: '1', required: '' })
  const shards = el('input', { name: 'shards', type: 'number', value: '1', min: '1', max: '64', required: '' })
  const startIn = el('input', { name: 'start_in', type: 'number', value: '30', min: '3', required: '' })
  const minutes = el('input', { name: 'minutes', type: 'number', value: '60', min: '1', required: '' })
  const startsAt = el('p', { id: 'starts-at', class: 'hint' })
  const submit = el('button', { type: 'submit', id: 'create-sale' }, w.opsCreate)
  const message = el('p', { class: 'message', role: 'alert' })
  const notice = el('p', { class: 'notice', role: 'status', id: 'created' })
  const form = el('form', { class: 'create', id: 'create-event', 'aria-labelledby': 'create-title' },
    el('h2', { id: 'create-title' }, w.opsNewSale),
    field('product', w.opsProduct, product), field('title', w.opsTitle, title), field('price', w.opsPrice, price),
    field('stock', w.opsUnits, stock), field('shards', w.opsShards, shards),
    field('start-in', w.opsStartsIn, startIn, startsAt), field('minutes', w.opsLasts, minutes),
    submit, message, notice)
  const products = new Map<number, Product>()
  api<Page<Product>>('GET', '/products?page_size=100&sort=id,desc').then((p) => {
    for (const x of p.items) {
      products.set(x.id, x)
      product.append(el('option', { value: String(x.id) }, `#${x.id} ${x.title} (${money(x.price_cents)})`))
    }
  }).catch(() => undefined)
  // The start as the server will read it, said before the operator creates the sale.
  const showStart = (): void => { startsAt.textContent = w.opsStartsAt(clock(serverNow() + Number(startIn.value) * 1000)) }
  showStart()
  const timer = window.setInterval(() => { if (!document.contains(form)) window.clearInterval(timer); else showStart() }, 1000)
  startIn.addEventListener('input', showStart)
  product.addEventListener('change', () => {
    const chosen = products.get(Number(product.value))
    if (chosen === undefined) return
    title.value = chosen.title
    price.value = (chosen.price_cents / 100).toFixed(2)
  })
  let busy = false
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    // One sale per submission: a second click while the first is on its way does nothing.
    if (busy) return
    busy = true
    submit.setAttribute('disabled', '')
    message.textContent = ''
    notice.textContent = ''
    const cents = Math.round(Number(price.value) * 100)
    const startAt = serverNow() + Number(startIn.value) * 1000
    const chosen = product.value === 'new' ? undefined : Number(product.value)
    const productId = chosen !== undefined
      ? Promise.resolve(chosen)
      : api<Product>('POST', '/admin/products', { session, body: { title: title.value, price_cents: cents } }).then((p) => {
        products.set(p.id, p)
        const option = el('option', { value: String(p.id) }, `#${p.id} ${p.title} (${money(p.price_cents)})`)
        product.append(option)
        product.value = String(p.id)
        return p.id
      })
    productId.then(async (id) => await api<SaleEvent>('POST', '/admin/events', {
      session,
      body: {
        product_id: id,
        title: title.value,
        price_cents: cents,
        stock: Number(stock.value),
        shards: Number(shards.value),
        start_at: new Date(startAt).toISOString(),
        end_at: new Date(startAt + Number(minutes.value) * 60_000).toISOString()
      }
    }))
      .then((event) => { notice.textContent = w.opsCreated(event.id, clock(event.start_at)); onCreated(event.id) })
      .catch((err: unknown) => { message.textContent = describe(err) })
      .finally(() => { busy = false; submit.removeAttribute('disabled') })
  })
  return form
}
