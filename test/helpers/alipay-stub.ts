/**
 * Alipay for tests: key pairs made here (the app's, and "Alipay's"), notifications signed the way
 * Alipay signs them (RSA2 over the sorted parameters but `sign` and `sign_type`), and a stub
 * gateway answering trade.query and trade.refund with signed answers, as the SDK verifies them.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSign, generateKeyPairSync } from 'node:crypto'

export interface KeyPair { readonly privateKey: string, readonly publicKey: string }

export function rsaKeys (): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

const rsa2 = (privateKey: string, content: string): string => createSign('RSA-SHA256').update(content, 'utf8').sign(privateKey, 'base64')

/** `yyyy-MM-dd HH:mm:ss` on Beijing time. */
export function beijing (ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace('T', ' ').slice(0, 19)
}

/** A notification's form body, signed with `privateKey` (Alipay's, or a forger's). */
export function signedNotification (privateKey: string, fields: Record<string, string>): string {
  const content = Object.keys(fields).filter((k) => k !== 'sign' && k !== 'sign_type').sort().map((k) => `${k}=${fields[k] ?? ''}`).join('&')
  return new URLSearchParams({ ...fields, sign_type: 'RSA2', sign: rsa2(privateKey, content) }).toString()
}

export interface AlipayStub {
  readonly url: string
  /** trade status by out_trade_no (absent: the trade does not exist yet). */
  readonly trades: Map<string, string>
  readonly refunds: Array<{ outTradeNo: string, amount: string, outRequestNo: string }>
  close: () => Promise<void>
}

export async function startAlipayStub (alipayPrivateKey: string): Promise<AlipayStub> {
  const trades = new Map<string, string>()
  const refunds: AlipayStub['refunds'] = []
  const seenRefunds = new Set<string>()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const params = new URLSearchParams((req.url ?? '').split('?')[1] ?? '')
      for (const [k, v] of new URLSearchParams(body)) params.set(k, v)
      const method = params.get('method') ?? ''
      const biz = JSON.parse(params.get('biz_content') ?? '{}') as Record<string, string>
      let inner: Record<string, string>
      if (method === 'alipay.trade.query') {
        const status = trades.get(biz.out_trade_no ?? '')
        inner = status === undefined
          ? { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: 'no such trade' }
          : { code: '10000', msg: 'Success', out_trade_no: biz.out_trade_no ?? '', trade_status: status }
      } else if (method === 'alipay.trade.refund') {
        const key = `${biz.out_trade_no ?? ''}|${biz.out_request_no ?? ''}`
        if (!seenRefunds.has(key)) {
          seenRefunds.add(key)
          refunds.push({ outTradeNo: biz.out_trade_no ?? '', amount: biz.refund_amount ?? '', outRequestNo: biz.out_request_no ?? '' })
        }
        inner = { code: '10000', msg: 'Success', out_trade_no: biz.out_trade_no ?? '', refund_fee: biz.refund_amount ?? '', fund_change: 'Y' }
      } else {
        inner = { code: '40004', msg: 'Business Failed', sub_code: 'stub.unknown_method', sub_msg: method }
      }
      const text = JSON.stringify(inner)
      const responseKey = `${method.replaceAll('.', '_')}_response`
      res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' }).end(`{"${responseKey}":${text},"sign":"${rsa2(alipayPrivateKey, text)}"}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/gateway.do`, trades, refunds, close: async () => { await new Promise<void>((resolve) => server.close(() => resolve())) } }
}
