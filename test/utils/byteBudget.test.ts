// The shared budget of replay bodies: reservations that fit, never beyond the total.
import t from 'tap'
import { ByteBudget } from '../../src/utils/byteBudget.js'

t.test('reserves while it fits, releases, never goes below zero', async (t) => {
  const budget = new ByteBudget(100)
  t.equal(budget.tryReserve(60), true)
  t.equal(budget.tryReserve(41), false, 'one byte too many: nothing reserved')
  t.equal(budget.inUse, 60)
  t.equal(budget.tryReserve(40), true, 'exactly the rest')
  budget.release(100)
  budget.release(5)
  t.equal(budget.inUse, 0)
  t.equal(new ByteBudget(0).tryReserve(1), false, 'a budget of 0 holds nothing')
  t.equal(new ByteBudget(0).tryReserve(0), true)
})
