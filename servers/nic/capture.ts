/**
 * Capture: a pcapng of what the NIC server sends and receives.
 *
 * Enabling it on a running server goes through the control block of the NIC region (no signal,
 * no socket): the requester writes the output path, bumps `captureSeq` and sets `captureOn`; the
 * NIC server notices on its next loop turn (the requester rings the TX doorbell to wake a
 * sleeping server), opens the file, writes
 * the section and interface headers, then one Enhanced Packet Block per frame ("in" = received
 * from the wire, "out" = sent). Clearing `captureOn` (or reaching `maxFrames`) closes the file.
 *
 * ```ts
 * import { capture } from "./servers/nic/capture.ts";
 * await capture({ file: "/tmp/x.pcapng", seconds: 5 }); // or count, or an AbortSignal
 * ```
 */
import { openDpdk } from "../../ffi/dpdk.ts";
import {
  C,
  CAPTURE_ERROR,
  CAPTURE_IDLE,
  CAPTURE_RUNNING,
  defaultRegionPath,
  NicRegion,
  TX,
} from "./region.ts";
import { enhancedPacket, interfaceDescription, sectionHeader } from "./pcapng.ts";

/** Options of {@link capture}. */
export interface CaptureOptions {
  /** Output file (pcapng). Written by the NIC server process, so an absolute path is best. */
  file: string;
  /** NIC region of the server to capture on (default: the default instance's). */
  region?: string;
  /** Stop after this many seconds. */
  seconds?: number;
  /** Stop after this many frames. */
  count?: number;
  /** Stop when aborted (e.g. on Ctrl-C). */
  signal?: AbortSignal;
  /** How long to wait for the NIC server to start capturing (ms, default 3000). */
  startTimeoutMs?: number;
}

/** Result of {@link capture}. */
export interface CaptureResult {
  file: string;
  frames: number;
  lost: number;
}

/**
 * Asks a running NIC server to capture into `file` until `seconds`, `count` or `signal` ends it.
 * Resolves once the server has closed the file. Throws if no NIC server answers.
 */
export async function capture(opts: CaptureOptions): Promise<CaptureResult> {
  const path = opts.region ?? defaultRegionPath();
  const file = opts.file.startsWith("/") ? opts.file : `${Deno.cwd()}/${opts.file}`;
  using region = NicRegion.attach(openDpdk(), path);
  if (region.u32(C.captureOn) !== 0) {
    throw new Error(`Cannot capture: a capture is already running on ${path}`);
  }
  const lost0 = Number(region.counter("captureLost"));
  region.setCString(C.capturePath, C.portInfo - C.capturePath, file);
  region.setU32(C.captureMaxFrames, opts.count ?? 0);
  region.setU32(C.captureSeq, (region.u32(C.captureSeq) + 1) >>> 0);
  region.setU32(C.captureOn, 1);
  // Wake a sleeping server (it sleeps on the TX doorbell) so that it starts capturing now,
  // not at its next heartbeat (up to 0.5 s later, missing the first frames of the traffic
  // that would wake it).
  region.rings[TX].publish();
  const deadline = Date.now() + (opts.startTimeoutMs ?? 3000);
  while (region.u32(C.captureState) !== CAPTURE_RUNNING) {
    if (region.u32(C.captureState) === CAPTURE_ERROR) {
      region.setU32(C.captureOn, 0);
      throw new Error(`Cannot capture: the NIC server could not write ${file}`);
    }
    if (Date.now() > deadline) {
      region.setU32(C.captureOn, 0);
      throw new Error(`Cannot capture: no NIC server answered on ${path}`);
    }
    await sleep(20);
  }
  const end = opts.seconds !== undefined ? Date.now() + opts.seconds * 1000 : Infinity;
  while (
    region.u32(C.captureState) === CAPTURE_RUNNING && Date.now() < end && !opts.signal?.aborted &&
    !(opts.count && region.u32(C.captureFrames) >= opts.count)
  ) {
    await sleep(50);
  }
  region.setU32(C.captureOn, 0);
  const stopBy = Date.now() + 3000;
  while (region.u32(C.captureState) === CAPTURE_RUNNING && Date.now() < stopBy) await sleep(20);
  return {
    file,
    frames: region.u32(C.captureFrames),
    lost: Number(region.counter("captureLost")) - lost0,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Record header in the glue's capture buffer (JR_CAP_HDR). */
const CAP_HDR = 24;

/**
 * The NIC server's side: watches the control block and turns the glue's capture records into
 * pcapng blocks. `poll()` once per loop turn.
 */
export class CaptureWriter {
  readonly #region: NicRegion;
  readonly #setBuffer: (buf: Uint8Array | null) => void;
  readonly #ifName: string;
  readonly buffer = new Uint8Array(4 << 20);
  readonly #bufView = new DataView(this.buffer.buffer);
  #seq: number;
  #file: Deno.FsFile | undefined;
  #frames = 0;
  #max = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(region: NicRegion, ifName: string, setBuffer: (buf: Uint8Array | null) => void) {
    this.#region = region;
    this.#ifName = ifName;
    this.#setBuffer = setBuffer;
    this.#seq = region.u32(C.captureSeq);
    region.setU32(C.captureState, CAPTURE_IDLE);
    region.setU32(C.captureOn, 0);
  }

  get active(): boolean {
    return this.#file !== undefined;
  }

  /** Starts or stops on request, writes what the glue captured since the last call. */
  poll(): void {
    const r = this.#region;
    const on = r.u32(C.captureOn) !== 0;
    const seq = r.u32(C.captureSeq);
    if (this.#file && (!on || seq !== this.#seq)) this.stop();
    if (!this.#file && on && seq !== this.#seq) this.#start(seq);
    if (this.#file) this.#drain();
  }

  #start(seq: number): void {
    const r = this.#region;
    this.#seq = seq;
    const path = r.cString(C.capturePath, C.portInfo - C.capturePath);
    try {
      this.#file = Deno.openSync(path, { write: true, create: true, truncate: true });
    } catch (e) {
      console.error(`nic: cannot capture to ${path}: ${(e as Error).message}`);
      r.setU32(C.captureState, CAPTURE_ERROR);
      return;
    }
    this.#frames = 0;
    this.#max = r.u32(C.captureMaxFrames);
    this.#write(sectionHeader());
    this.#write(interfaceDescription(this.#ifName));
    this.#flush();
    r.setU32(C.captureFrames, 0);
    this.#setBuffer(this.buffer);
    r.setU32(C.captureState, CAPTURE_RUNNING);
  }

  #drain(): void {
    const used = Number(this.#bufView.getBigUint64(0, true));
    if (used <= 8) return;
    let o = 8;
    while (o + CAP_HDR <= used && o + CAP_HDR <= this.buffer.length) {
      const ts = this.#bufView.getBigUint64(o, true);
      const caplen = this.#bufView.getUint32(o + 8, true);
      const orig = this.#bufView.getUint32(o + 12, true);
      const dir = this.#bufView.getUint32(o + 16, true);
      if (o + CAP_HDR + caplen > this.buffer.length) break;
      if (!this.#max || this.#frames < this.#max) {
        this.#write(
          enhancedPacket(
            0,
            ts,
            this.buffer.subarray(o + CAP_HDR, o + CAP_HDR + caplen),
            dir === 0 ? "in" : "out",
            orig,
          ),
        );
        this.#frames++;
      }
      o += CAP_HDR + ((caplen + 7) & ~7);
    }
    this.#bufView.setBigUint64(0, 8n, true);
    this.#flush();
    this.#region.setU32(C.captureFrames, this.#frames);
    if (this.#max && this.#frames >= this.#max) this.stop();
  }

  #write(b: Uint8Array): void {
    this.#pending.push(b);
    this.#pendingBytes += b.length;
  }

  #flush(): void {
    if (!this.#file || this.#pendingBytes === 0) return;
    const all = new Uint8Array(this.#pendingBytes);
    let o = 0;
    for (const p of this.#pending) {
      all.set(p, o);
      o += p.length;
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    let w = 0;
    while (w < all.length) w += this.#file.writeSync(all.subarray(w));
  }

  /** Stops capturing and closes the file. */
  stop(): void {
    if (!this.#file) return;
    this.#drain();
    this.#setBuffer(null);
    this.#flush();
    this.#file.close();
    this.#file = undefined;
    this.#region.setU32(C.captureFrames, this.#frames);
    this.#region.setU32(C.captureState, CAPTURE_IDLE);
  }
}
