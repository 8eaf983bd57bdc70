/**
 * The Node side of test/e2e/workerd-process.ts: one Miniflare for one Worker,
 * its arguments as JSON in argv[2]. Prints `ready` when Miniflare is ready,
 * passes workerd's stdout/stderr through, disposes on SIGTERM.
 */
import { startWorkerd, type WorkerdOptions } from "../../src/cli/serve-workerd.ts";

export interface WorkerdProcessArgs {
  readonly root: string;
  readonly configPath: string;
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly devRegistry: string;
  /** The Worker hosting `FulcrumState` in another process; absent: this one hosts it. */
  readonly stateHost?: string;
}

async function run(args: WorkerdProcessArgs): Promise<void> {
  const options: WorkerdOptions = {
    names: [args.name],
    devRegistry: args.devRegistry,
    ...(args.stateHost ? { stateHost: args.stateHost } : {}),
    stdio: (out, err) => {
      out.pipe(process.stdout);
      err.pipe(process.stderr);
    },
  };
  const workers = await startWorkerd(args.root, args.configPath, args.host, [args.port], options);
  process.once("SIGTERM", () => void workers.dispose().finally(() => process.exit(0)));
  console.log("ready");
}

run(JSON.parse(process.argv[2] ?? "{}") as WorkerdProcessArgs).catch((e: unknown) => {
  console.error(`workerd process: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
