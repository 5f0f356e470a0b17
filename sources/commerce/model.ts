/** The commerce source's own models: what its batch functions return and resolvers read. */

/** A decimal amount as PostgreSQL's NUMERIC prints it (exact; never a float). */
export type Decimal = string;

export interface Money {
  readonly amount: Decimal;
  readonly currencyCode: string;
}

export interface CommerceCustomer {
  /** `customers.id` as a decimal string. */
  readonly id: string;
  /** Lower-cased. */
  readonly email: string;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly phone: string | null;
  readonly city: string | null;
  readonly region: string | null;
  readonly postalCode: string | null;
  readonly countryCode: string | null;
  readonly signupAt: Date;
  readonly signupChannel: string | null;
}

export interface CategorySpend {
  readonly category: string;
  readonly spent: Money;
  readonly orderCount: number;
}

/** Completed orders in the shop currency; refunded and cancelled orders do not count. */
export interface PurchaseStats {
  readonly orderCount: number;
  readonly totalSpent: Money;
  /** Null when there are no orders. */
  readonly averageOrderValue: Money | null;
  readonly firstOrderAt: Date | null;
  readonly lastOrderAt: Date | null;
  /** Whole days between the last order and the source's clock; null without orders. */
  readonly daysSinceLastOrder: number | null;
  /** Categories by spend, highest first (at most 10). */
  readonly topCategories: readonly CategorySpend[];
}

export type RfmSegment =
  'CHAMPIONS' | 'LOYAL' | 'POTENTIAL_LOYALIST' | 'NEW' | 'PROMISING' | 'NEED_ATTENTION' | 'ABOUT_TO_SLEEP' | 'AT_RISK' | 'CANNOT_LOSE_THEM' | 'HIBERNATING' | 'LOST';

/** Quintile boundaries of the whole customer base (customers with at least one completed order). */
export interface RfmBoundaries {
  /** Days since last order at the 20th, 40th, 60th and 80th percentiles. */
  readonly recencyDays: readonly number[];
  readonly frequency: readonly number[];
  readonly monetary: readonly number[];
  readonly customers: number;
  readonly computedAt: Date;
}

export interface RfmScore {
  readonly recency: number;
  readonly frequency: number;
  readonly monetary: number;
  readonly segment: RfmSegment;
  readonly boundariesComputedAt: Date;
}

export type OrderStatus = 'COMPLETED' | 'REFUNDED' | 'CANCELLED';

export interface Order {
  readonly id: string;
  readonly placedAt: Date;
  readonly status: OrderStatus;
  readonly total: Money;
}

/** Position of an order in a customer's newest-first list; the page after it starts below it. */
export interface OrderPosition {
  readonly placedAt: Date;
  readonly id: string;
}

export interface OrderPageKey {
  readonly customerId: string;
  readonly first: number;
  readonly after: OrderPosition | null;
}

export interface OrderPage {
  readonly orders: readonly Order[];
  readonly hasNextPage: boolean;
}

export interface Product {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly category: string;
  readonly price: Money;
}

export interface LineItem {
  readonly product: Product;
  readonly quantity: number;
  readonly unitPrice: Money;
  readonly total: Money;
}

export interface CartItem {
  readonly product: Product;
  readonly quantity: number;
  readonly unitPrice: Money;
  readonly addedAt: Date;
}

export interface Cart {
  readonly id: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly items: readonly CartItem[];
  readonly value: Money;
}

export interface CustomerCarts {
  /** Open carts, most recently touched first. */
  readonly open: readonly Cart[];
  /** The latest open cart untouched for longer than the threshold with no order after it. */
  readonly abandoned: Cart | null;
  /** When the carts were read: what "untouched for longer than the threshold" was measured against. */
  readonly asOf: Date;
}

export interface SegmentFilter {
  readonly rfmSegments?: readonly RfmSegment[] | null;
  readonly lastOrderBefore?: Date | null;
  readonly lastOrderAfter?: Date | null;
  /** In the shop currency. */
  readonly totalSpentAtLeast?: Decimal | null;
  readonly hasAbandonedCart?: boolean | null;
}

export interface SegmentPageKey {
  readonly filter: SegmentFilter;
  readonly first: number;
  /** Customer id the page starts after. */
  readonly afterId: string | null;
}

export interface SegmentPage {
  readonly customerIds: readonly string[];
  readonly hasNextPage: boolean;
}
