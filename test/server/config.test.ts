import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';

describe('configuration', () => {
  it('starts from documented defaults with nothing set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 4000, HOST: '127.0.0.1', DEMO_CUSTOMERS: 3000, SHOP_CURRENCY: 'USD' });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('reports every bad value on its own line, and hides secret values', () => {
    const env = { PORT: 'eighty', SHOP_CURRENCY: 'usd', DATABASE_URL: 'mysql://root:topsecret@db/shop' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    let message = '';
    try {
      loadConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    const lines = message.split('\n').slice(1);
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.includes('PORT'))).toContain('got "eighty"');
    expect(lines.find((l) => l.includes('SHOP_CURRENCY'))).toContain('expected an ISO 4217 code such as USD');
    expect(lines.find((l) => l.includes('DATABASE_URL'))).toContain('(value hidden)');
    expect(message).not.toContain('topsecret');
  });
});
