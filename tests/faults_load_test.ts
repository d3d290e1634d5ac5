/**
 * Load (issue 7): 1,000 connections open at once to the TCP echo, each echoing 64 bytes, and
 * 10,000 short connections in a row (connect, 32 bytes echoed, close), from the peer host's
 * kernel (`tools/peer_load.py`). No errors, and no leak: after the load the TCP/IP server's
 * socket table holds only its listeners again, its service has no open connection, every
 * accepted connection was closed, and its resident memory levels off (the second 5,000
 * connections add less than 48 MB, and it stays under 320 MB; figures printed). Against the built-in echo until the shim
 * runs unmodified servers (then: wrk -c 1000 against nginx under Joyride).
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { TestInstance } from "./_system.ts";
import { concurrent, rssKb, sequential, servers, status, tcpStats } from "./tools/traffic.ts";

const jr = new TestInstance("load");

Deno.test({
  name: "load: 1,000 concurrent and 10,000 sequential connections, no leak",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  await jr.cli(["stop"]);
  try {
    const start = await jr.cli(["start", "--detach"]);
    assertEquals(start.code, 0, `start --detach failed: ${start.stdout}${start.stderr}`);
    const warm = await sequential(jr, 200, 10); // JIT warm-up before the memory baseline
    assertEquals(warm.ok, 200, `warm-up: ${warm.errors}`);
    await new Promise((r) => setTimeout(r, 1500));
    const before = await status(jr);
    const tcpPid = before.servers.find((s) => s.name === "tcp")!.pid!;
    const rss0 = rssKb(tcpPid)!;
    const listeners = (tcpStats(before).sockets as unknown[]).length;

    await t.step("1,000 connections at once", async () => {
      const r = await concurrent(jr, 1000, 60);
      console.log(`1000 concurrent: ${r.ok} ok in ${r.secs.toFixed(2)} s, errors ${r.errors}`);
      assertEquals(r.errors, []);
      assertEquals(r.ok, 1000);
    });

    let rssHalf = 0;
    await t.step("10,000 short connections in a row (two halves)", async () => {
      for (const half of [1, 2]) {
        const r = await sequential(jr, 5_000, 10);
        if (half === 1) rssHalf = rssKb(tcpPid)!;
        console.log(
          `5000 sequential (${half}/2): ${r.ok} ok in ${r.secs.toFixed(2)} s (${
            (r.ok / r.secs).toFixed(0)
          }/s), errors ${r.errors}`,
        );
        assertEquals(r.errors, []);
        assertEquals(r.ok, 5_000);
      }
    });

    await t.step("no leak: sockets, connections, memory", async () => {
      // the last closes finish (LAST-ACK → CLOSED) and the counters come with the heartbeat
      let after = await status(jr);
      for (let i = 0; i < 30; i++) {
        const s = tcpStats(after);
        if ((s.sockets as unknown[]).length === listeners && s.serviceConnections === 0) break;
        await new Promise((r) => setTimeout(r, 500));
        after = await status(jr);
      }
      const a = tcpStats(after);
      const b = tcpStats(before);
      const rss1 = rssKb(tcpPid)!;
      const accepted = Number(a.accepted) - Number(b.accepted);
      const closed = Number(a.closed) - Number(b.closed);
      console.log(
        `tcp server: sockets ${(a.sockets as unknown[]).length} (listeners ${listeners}), ` +
          `service connections ${a.serviceConnections}, accepted +${accepted}, closed +${closed}, ` +
          `errors +${Number(a.errors) - Number(b.errors)}, RSS ${rss0} kB -> ${rssHalf} kB ` +
          `(half) -> ${rss1} kB`,
      );
      assertEquals(servers(after), servers(before), "servers: same pids, states, restarts");
      assertEquals((a.sockets as unknown[]).length, listeners, "only the listeners are left");
      assertEquals(a.serviceConnections, 0, "no service connection left open");
      assertEquals(accepted, 11_000, "connections accepted");
      assertEquals(closed, 11_000, "connections closed");
      // V8 grows its heap in steps and keeps it: the first thousands of connections raise the
      // RSS by tens of MB, then it levels off (measured: ~195 MB after 10k, ~202 MB after
      // 22k). A leak of 5 kB per connection would add 25 MB over the second half.
      assert(rss1 - rssHalf < 48 * 1024, `RSS grew by ${rss1 - rssHalf} kB in the second half`);
      assert(rss1 < 320 * 1024, `RSS ${rss1} kB after 11,000 connections`);
    });
  } finally {
    const stop = await jr.cli(["stop"]);
    assertEquals(stop.code, 0, `stop: ${stop.stdout}${stop.stderr}`);
    assertEquals(await jr.leftovers(), [], "left behind after stop");
  }
});
