// Graceful shutdown of the HTTP listener without resetting a single keep-alive connection.
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';

export interface DrainResult {
  /** Connections still open when the timeout ran out, cut off. */
  forced: number;
}

/**
 * Stops accepting connections, then waits until every open connection has closed by itself:
 * in-flight requests are answered (with "Connection: close", see the server's onSend hook) and their
 * sockets close after the response; idle keep-alive sockets close when their keep-alive timeout ends,
 * a timeout the server announces in every response's Keep-Alive header, so clients stop reusing them
 * in time. After timeoutMs, whatever is still open is cut.
 *
 * Not http.Server.close(): since Node 19 that destroys idle keep-alive sockets at once, and a client
 * that has just written its next request on one gets ECONNRESET. Only net.Server's close (stop
 * listening) is wanted here.
 */
export function drainConnections(server: Server, timeoutMs: number): Promise<DrainResult> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    NetServer.prototype.close.call(server, () => {
      if (timer) clearTimeout(timer);
      resolve({ forced: 0 });
    });
    timer = setTimeout(() => {
      server.getConnections((_err, open) => {
        server.closeAllConnections();
        resolve({ forced: open ?? 0 });
      });
    }, timeoutMs);
  });
}
