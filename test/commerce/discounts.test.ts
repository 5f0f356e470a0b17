import { describe, expect, it } from 'vitest';
import { discountSensitivity, type DiscountHistory, type DiscountOrder } from '../../sources/commerce/discounts.ts';

const asOf = new Date('2026-11-01T12:00:00Z');
const daysAgo = (days: number) => new Date(asOf.getTime() - days * 86_400_000);
const order = (days: number, paid: number, discount = 0): DiscountOrder => ({ placedAt: daysAgo(days), paidCents: paid * 100, discountCents: discount * 100 });
const history = (orders: DiscountOrder[]): DiscountHistory => ({ unavailableReason: null, orders, asOf, currencyCode: 'USD' });

describe('discount sensitivity', () => {
  // Paid 80 after 20 off (rate 0.2), 90 after 10 off (0.1), 100 and, 200 days ago, 50 at full price.
  const orders = [order(200, 50), order(20, 80, 20), order(10, 90, 10), order(5, 100)];

  it('over the whole history: shares, means of what was paid, their ratio and the mean rate', () => {
    expect(discountSensitivity(history(orders), null)).toEqual({
      unavailableReason: null,
      days: null,
      orders: 4,
      discountedOrders: 2,
      discountedShare: 0.5,
      meanDiscountedOrderValue: { amount: '85.00', currencyCode: 'USD' },
      meanFullPriceOrderValue: { amount: '75.00', currencyCode: 'USD' },
      valueRatio: 85 / 75,
      meanDiscountRate: (0.2 + 0.1) / 2,
      sensitivity: 'HIGH',
      asOf,
    });
  });

  it('over a window: only the orders placed in its days', () => {
    expect(discountSensitivity(history(orders), 30)).toMatchObject({
      days: 30,
      orders: 3,
      discountedOrders: 2,
      discountedShare: 2 / 3,
      meanFullPriceOrderValue: { amount: '100.00' },
      valueRatio: 0.85,
    });
  });

  it.each([
    [0, 'NONE'],
    [1, 'LOW'],
    [2, 'MEDIUM'],
    [3, 'MEDIUM'],
    [4, 'HIGH'],
  ])('with %i discounted orders of 8 is %s', (discounted, level) => {
    const list = Array.from({ length: 8 }, (_, i) => order(i + 1, 40, i < discounted ? 10 : 0));
    expect(discountSensitivity(history(list), null)?.sensitivity).toBe(level);
  });

  it('has no ratio or rate without orders of both kinds', () => {
    expect(discountSensitivity(history([order(1, 40)]), null)).toMatchObject({ meanDiscountedOrderValue: null, valueRatio: null, meanDiscountRate: null, sensitivity: 'NONE' });
    expect(discountSensitivity(history([order(1, 30, 10)]), null)).toMatchObject({ meanFullPriceOrderValue: null, valueRatio: null, meanDiscountRate: 0.25 });
  });

  it('is null without a completed order in the window', () => {
    expect(discountSensitivity(history([]), null)).toBeNull();
    expect(discountSensitivity(history([order(200, 50)]), 30)).toBeNull();
  });

  it('gives the reason and no numbers when the shop cannot say which orders had a discount', () => {
    const reason = 'no orders.discount_amount';
    expect(discountSensitivity({ ...history([]), unavailableReason: reason }, 90)).toEqual({
      unavailableReason: reason,
      days: 90,
      orders: null,
      discountedOrders: null,
      discountedShare: null,
      meanDiscountedOrderValue: null,
      meanFullPriceOrderValue: null,
      valueRatio: null,
      meanDiscountRate: null,
      sensitivity: null,
      asOf,
    });
  });
});
