import { assert, assertEquals } from "../supervisor/_assert.ts";
import { hops, HopTrace, parseTrace, quantiles } from "./hoptrace.ts";

Deno.test("hoptrace: a traced exchange splits into its hops; merged files sort by time", () => {
  const dir = Deno.makeTempDirSync();
  try {
    let t = 1_000_000n;
    const at = (ns: bigint) => () => (t = ns);
    const nic = new HopTrace(dir, "nic", () => t);
    const tcp = new HopTrace(dir, "tcp", () => t);
    at(1_000_000n)();
    tcp.mark("tcp.sleep");
    at(1_010_000n)();
    nic.mark("nic.rx", 1);
    at(1_050_000n)();
    tcp.mark("tcp.wake");
    at(1_060_000n)();
    tcp.mark("tcp.rx", 1);
    at(1_085_000n)();
    tcp.mark("tcp.tx", 1);
    at(1_100_000n)();
    nic.mark("nic.tx", 1);
    at(1_130_000n)();
    nic.mark("nic.rx", 1);
    nic.flush();
    tcp.flush();
    let text = "";
    for (const f of Deno.readDirSync(dir)) text += Deno.readTextFileSync(`${dir}/${f.name}`);
    const h = hops(parseTrace(text));
    assertEquals(h["nic.rx→tcp.rx"], [50]);
    assertEquals(h["  of which tcp asleep→awake"], [40]);
    assertEquals(h["tcp.rx→tcp.tx (engine+service)"], [25]);
    assertEquals(h["tcp.tx→nic.tx"], [15]);
    assertEquals(h["nic.tx→nic.rx (kernel+peer)"], [30]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("hoptrace: batches of several frames are no single-frame exchange", () => {
  const ev = (t: number, e: string, n: number) => `${t} ${e} ${n}`;
  const h = hops(
    parseTrace([ev(1, "nic.rx", 3), ev(2, "tcp.rx", 3), ev(3, "tcp.tx", 1)].join("\n")),
  );
  assertEquals(h["nic.rx→tcp.rx"], []);
  const q = quantiles([5, 1, 3, 2, 4]);
  assert(q.n === 5 && q.p50 === 3 && q.p99 === 5, JSON.stringify(q));
});
