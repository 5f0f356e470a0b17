/**
 * Where sessions come from: the campaign (UTM) parameters and referrer of a session's landing page,
 * at rates typical of a small shop (direct and organic search lead; email and paid search next).
 */

export interface Campaign {
  readonly source: string;
  readonly medium: string;
  readonly name: string;
}

export interface Traffic {
  /** The landing page's document.referrer (null for direct visits and most email clients). */
  readonly referrer: string | null;
  readonly campaign: Campaign | null;
  /** Where such a visit tends to land. */
  readonly lands: 'home' | 'category' | 'product';
}

type Draw = (random: () => number, month: string, category: string) => Traffic;

const GOOGLE = 'https://www.google.com/';

const SOURCES: ReadonlyArray<{ weight: number; draw: Draw }> = [
  { weight: 30, draw: () => ({ referrer: null, campaign: null, lands: 'home' }) },
  { weight: 20, draw: (r) => ({ referrer: GOOGLE, campaign: null, lands: r() < 0.6 ? 'product' : 'category' }) },
  { weight: 3, draw: () => ({ referrer: 'https://www.bing.com/', campaign: null, lands: 'product' }) },
  { weight: 2, draw: () => ({ referrer: 'https://duckduckgo.com/', campaign: null, lands: 'product' }) },
  {
    weight: 12,
    draw: (r, month, category) => ({
      referrer: null,
      campaign: { source: 'newsletter', medium: 'email', name: r() < 0.7 ? `${month}-picks` : `${category.toLowerCase()}-spotlight` },
      lands: r() < 0.5 ? 'product' : 'category',
    }),
  },
  {
    weight: 10,
    draw: (r, _month, category) => ({
      referrer: GOOGLE,
      campaign: { source: 'google', medium: 'cpc', name: r() < 0.5 ? 'brand-search' : `shopping-${category.toLowerCase()}` },
      lands: 'product',
    }),
  },
  {
    weight: 6,
    draw: (r) => {
      const instagram = r() < 0.5;
      return {
        referrer: instagram ? 'https://l.instagram.com/' : 'https://l.facebook.com/',
        campaign: { source: instagram ? 'instagram' : 'facebook', medium: 'paid_social', name: r() < 0.5 ? 'retargeting' : 'prospecting' },
        lands: 'product',
      };
    },
  },
  { weight: 5, draw: (r) => ({ referrer: r() < 0.6 ? 'https://www.pinterest.com/' : 'https://t.co/', campaign: null, lands: 'product' }) },
  { weight: 5, draw: () => ({ referrer: 'https://www.reddit.com/', campaign: null, lands: 'product' }) },
  {
    weight: 4,
    draw: () => ({ referrer: 'https://deals.example.net/', campaign: { source: 'partner-network', medium: 'affiliate', name: 'partner-program' }, lands: 'product' }),
  },
];
const TOTAL = SOURCES.reduce((sum, s) => sum + s.weight, 0);

/**
 * One session's traffic source. `subscribed` people open newsletters; others never arrive by email
 * (the draw falls back to a direct visit). `month` names the newsletter ("2026-10").
 */
export function drawTraffic(random: () => number, options: { subscribed: boolean; month: string; category: string }): Traffic {
  let roll = random() * TOTAL;
  for (const source of SOURCES) {
    roll -= source.weight;
    if (roll < 0) {
      const traffic = source.draw(random, options.month, options.category);
      return traffic.campaign?.medium === 'email' && !options.subscribed ? SOURCES[0]!.draw(random, '', '') : traffic;
    }
  }
  return SOURCES[0]!.draw(random, '', '');
}

/** The landing URL's query string carrying the campaign, as analytics.js reads it into context.campaign. */
export function utmSearch(campaign: Campaign | null): string | null {
  if (!campaign) return null;
  const params = new URLSearchParams({ utm_source: campaign.source, utm_medium: campaign.medium, utm_campaign: campaign.name });
  return `?${params.toString()}`;
}
