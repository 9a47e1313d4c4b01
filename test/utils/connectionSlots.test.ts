// The bound on requests in flight upstream: slots taken and given back, a line that is served in
// order, a wait that ends at its deadline or when its client leaves.
import t from 'tap'
import { ConnectionSlots } from '../../src/utils/connectionSlots.js'

t.test('slots up to the limit, then none; a slot given back is free again, once', async (t) => {
  const slots = new ConnectionSlots(2)
  const a = slots.tryAcquire()
  const b = slots.tryAcquire()
  t.ok(a !== null && b !== null)
  t.equal(slots.tryAcquire(), null, 'the third waits')
  t.equal(slots.inUse, 2)
  a!()
  a!()
  t.equal(slots.inUse, 1, 'giving back twice frees one slot')
  t.ok(slots.tryAcquire() !== null)
})

t.test('waiters are served in order as slots free up; a new arrival cannot overtake them', async (t) => {
  const slots = new ConnectionSlots(1)
  const held = slots.tryAcquire()!
  const order: string[] = []
  const first = slots.acquire(5000).then((release) => { order.push('first'); return release })
  const second = slots.acquire(5000).then((release) => { order.push('second'); return release })
  t.equal(slots.waiting, 2)
  held()
  t.equal(slots.tryAcquire(), null, 'the freed slot went to the line, not to a newcomer')
  const release = await first
  t.same(order, ['first'])
  release!()
  await second
  t.same(order, ['first', 'second'])
  t.equal(slots.inUse, 1)
  t.equal(slots.waiting, 0)
})

t.test('a wait ends with null at its deadline, or when cancelled, and takes no slot', async (t) => {
  const slots = new ConnectionSlots(1)
  const held = slots.tryAcquire()!
  const started = performance.now()
  t.equal(await slots.acquire(50), null, 'the deadline')
  t.ok(performance.now() - started >= 45)
  let cancel = (): void => {}
  const waiting = slots.acquire(5000, (fn) => { cancel = fn })
  cancel()
  t.equal(await waiting, null, 'the client left')
  cancel()
  t.equal(slots.waiting, 0)
  held()
  t.equal(slots.inUse, 0, 'nothing leaked')
  t.ok(await slots.acquire(10) !== null, 'a free slot is taken at once')
})
