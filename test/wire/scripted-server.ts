import { PassThrough } from "node:stream";
import { ProtocolClient, type ProtocolClientOptions } from "../../src/wire/client.js";
import { encodeHello, message } from "../../src/wire/messages.js";
import { ACCEPTS } from "../../src/wire/protocol.js";
import { MessageReader, type Message } from "../../src/wire/reader.js";

/**
 * The far end of a ProtocolClient played by the test: it says HELLO, then `answer` is called with
 * each request the client sends and writes whatever replies the test scripts, true or forged.
 */
export class ScriptedServer {
  readonly toServer = new PassThrough();
  readonly toClient = new PassThrough();
  readonly client: ProtocolClient;
  private readonly reader = new MessageReader(ACCEPTS.server);

  constructor(
    answer: (m: Message, server: ScriptedServer) => void,
    site = "lyon",
    opts: ProtocolClientOptions = {},
  ) {
    this.toServer.on("data", (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let m = this.reader.next(); m; m = this.reader.next()) if (m.type !== 0) answer(m, this);
    });
    this.toClient.write(encodeHello());
    this.client = new ProtocolClient(site, this.toClient, this.toServer, opts);
  }

  reply(type: number, req: number, body?: Buffer): void {
    this.toClient.write(Buffer.concat(message(type, req, body)));
  }
}
