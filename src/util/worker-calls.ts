import { Worker, type TransferListItem } from "node:worker_threads";

/**
 * Calls to one worker thread running inline source (inline so that it runs the same from dist/
 * and from the TypeScript sources under test); each reply carries the id of its call. The worker
 * starts on the first call and never keeps the process alive; if it dies, the calls in flight
 * fail and the next call starts another.
 */
export class WorkerCalls<Reply extends { id: number }> {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly source: string,
    private readonly workerData: () => unknown,
  ) {}

  /** Starts the worker ahead of the first call, so that its start-up overlaps other work. */
  warm(): void {
    this.worker ??= this.start();
  }

  call(job: object, transfer: TransferListItem[]): Promise<Reply> {
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ ...job, id }, transfer);
    });
  }

  private start(): Worker {
    const w = new Worker(this.source, { eval: true, workerData: this.workerData() });
    w.unref();
    w.on("message", (m: Reply) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      p?.resolve(m);
    });
    w.on("error", (err) => {
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = undefined;
    });
    return w;
  }
}
