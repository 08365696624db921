// Starts an n-node nats-server cluster with JetStream on free loopback ports and temporary directories (cluster-mode tests and bench).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, launch, natsServerCommand, stop, type ServiceInfo } from './services.ts';

export interface NatsCluster {
  servers: ServiceInfo[];
  /** `nats://h:p,h:p,...`, as a topology's queue takes it. */
  url: string;
  stop(): Promise<void>;
}

/** n servers routed to each other (one server, n = 1, is a plain JetStream server). */
export async function startNatsCluster(n: number): Promise<NatsCluster> {
  const command = natsServerCommand();
  if (command === undefined)
    throw new Error('nats-server is not installed (run `bash scripts/services/install.sh nats`)');
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(',');
  const servers: ServiceInfo[] = ports.map((port, i) => {
    const dir = mkdtempSync(path.join(tmpdir(), `sandbox-nats-c${i}-`));
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(dir, 'jetstream'), '-n', `n${i}`];
    if (n > 1)
      args.push('--cluster_name', 'sandbox', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes);
    return {
      kind: 'nats',
      host: '127.0.0.1',
      port,
      url: `nats://127.0.0.1:${port}`,
      dir,
      command,
      args,
      pidFile: path.join(dir, 'server.pid'),
      logFile: path.join(dir, 'server.log'),
    };
  });
  const started: ServiceInfo[] = [];
  try {
    for (const info of servers) {
      await launch(info, 20_000);
      started.push(info);
    }
  } catch (error) {
    await Promise.all(started.map((info) => stop(info)));
    throw error;
  }
  return {
    servers,
    url: `nats://${servers.map((s) => `${s.host}:${s.port}`).join(',')}`,
    stop: async () => void (await Promise.all(servers.map((info) => stop(info)))),
  };
}
