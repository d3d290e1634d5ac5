/**
 * Follow-ups of issue 5 in the shim: blocking calls restarted under SA_RESTART, EINTR without
 * it, SO_RCVTIMEO (EAGAIN, EINTR even under SA_RESTART, as Linux) for recv and accept (a C
 * program); a program linking libcap-ng (setpriv, whose library constructor calls intercepted
 * functions before the shim's own constructor) runs; a program the policy sends to the kernel
 * is told so (not "service is not running"). Own instance; everything started here is ended.
 */
import { assert, assertEquals } from "../servers/supervisor/_assert.ts";
import { repoRoot, systemTest, TestInstance, uniqueInstance } from "./_system.ts";
import { appSession, compileC, runShim } from "./_apps.ts";

const jr = new TestInstance(uniqueInstance("interopshim"), {
  policy: { apps: [{ command: "jrkernelonly", stack: "kernel" }] },
});
const addr = jr.config.topology.joyrideAddress;

systemTest(
  "interop shim: SA_RESTART, SO_RCVTIMEO, execl, recvmmsg timeout, libcap-ng, policy-kernel message",
  async (t) => {
    {
      await using session = await appSession(jr, "jr-interopshim-");
      const { dir: tmp } = session;

      await t.step("signals and socket timeouts (C program, its own listener)", async () => {
        const bin = `${tmp}/signals`;
        await compileC(bin, `${repoRoot}/tests/_interop_signals.c`, ["-pthread"]);
        const r = await runShim(jr, [bin, addr, "7201"], { timeoutMs: 30_000 });
        assertEquals(
          r.stdout.trim().split("\n"),
          ["restart ok", "eintr ok", "rcvtimeo ok", "timeo-eintr ok", "accept-timeo ok"],
          r.stderr,
        );
        assertEquals(r.code, 0);
      });

      await t.step("execl carries sockets into the new image; recvmmsg's timeout", async () => {
        const bin = `${tmp}/exec`;
        await compileC(bin, `${repoRoot}/tests/_interop_exec.c`);
        const r = await runShim(jr, [bin, addr, "7202"], { timeoutMs: 30_000 });
        assertEquals(r.stdout.trim().split("\n"), ["execl ok", "recvmmsg-timeout ok"], r.stderr);
        assertEquals(r.code, 0);
      });

      await t.step("setpriv (libcap-ng) under the shim", async () => {
        const r = await runShim(jr, [
          "setpriv",
          "--reuid",
          "65534",
          "--regid",
          "65534",
          "--clear-groups",
          "id",
          "-u",
        ], { timeoutMs: 20_000 });
        assertEquals(r.code, 0, `setpriv under the shim: code ${r.code} ${r.stderr}`);
        assertEquals(r.stdout.trim(), "65534");
      });

      await t.step("a program the policy sends to the kernel is told so", async () => {
        const link = `${tmp}/jrkernelonly`;
        Deno.symlinkSync("/usr/bin/python3", link);
        const r = await runShim(jr, [
          link,
          "-c",
          "import socket; s = socket.socket(); s.close(); print('made')",
        ], { timeoutMs: 20_000 });
        assertEquals(r.stdout.trim(), "made", r.stderr);
        assert(r.stderr.includes("the policy sends this program to the kernel"), r.stderr);
        assert(!r.stderr.includes("not running"), r.stderr);
      });
    }
  },
);
