import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of one SQL source's database, so a network fault can hit that
 * source alone while both share the suite's cluster: `refuse` closes the port (new connections get
 * ECONNREFUSED, open ones are cut), `hang` holds every byte in both directions (a partition: the
 * driver waits), `restore` undoes either. Connections it opened are counted.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private hung = false;
  private listening = false;
  /** Connections accepted since start. */
  opened = 0;

  private boundPort = 0;

  private constructor(private readonly target: number) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens on a free loopback port and forwards to 127.0.0.1:`target`. */
  static async start(target: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.listen(0);
    proxy.boundPort = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.boundPort;
  }

  get state(): 'open' | 'refusing' | 'hung' {
    return !this.listening ? 'refusing' : this.hung ? 'hung' : 'open';
  }

  async refuse(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const pair of this.pairs) pair.destroy();
    await closed;
  }

  hang(): void {
    this.hung = true;
  }

  /** Opens the port again (same number) and lets held bytes through, in order. */
  async restore(): Promise<void> {
    if (!this.listening) await this.listen(this.port);
    this.hung = false;
    for (const pair of this.pairs) pair.flush();
  }

  async close(): Promise<void> {
    this.hung = false;
    await this.refuse();
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.listening = true;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.opened++;
    const upstream = connect(this.target, '127.0.0.1');
    const pair = new Pair(client, upstream, () => this.hung);
    this.pairs.add(pair);
    pair.onEnd = () => this.pairs.delete(pair);
  }
}

class Pair {
  private readonly held: Array<{ to: Socket; chunk: Buffer }> = [];
  onEnd: () => void = () => undefined;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly hung: () => boolean,
  ) {
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (this.hung()) this.held.push({ to, chunk });
      else to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => this.destroy());
    }
  }

  flush(): void {
    for (const { to, chunk } of this.held.splice(0)) if (!to.destroyed) to.write(chunk);
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.held.length = 0;
    this.onEnd();
  }
}
