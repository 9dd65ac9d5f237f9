// One run at a time: a call while a run is going on asks for exactly one more run after it (however
// many calls came), and shares its promise. Used where each run reads the latest state anyway.
export class Serial {
  private running: Promise<void> | undefined;
  private again = false;

  /** RUN is the work; KEEP_GOING is asked before a repeat (false once the owner has stopped). */
  constructor(
    private readonly run: () => Promise<void>,
    private readonly keepGoing: () => boolean = () => true,
  ) {}

  trigger(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.run();
      } while (this.again && this.keepGoing());
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
}
