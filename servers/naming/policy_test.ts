import { assert, assertEquals } from "../supervisor/_assert.ts";
import fc from "fast-check";
import {
  cardFor,
  decodeCard,
  DEFAULT_LIMITS,
  encodeCard,
  limitsFor,
  newTokenId,
  parsePolicy,
  policyProblem,
  portsFor,
  sameToken,
  stackFor,
} from "./policy.ts";
import { flatRefusals, REFUSAL_REASONS, Refusals } from "./policy_refusals.ts";
import { appLayout } from "./apps_region.ts";

const sample = {
  limits: { sockets: 100, pending: 8 },
  privilegedPorts: [{ uid: 1000, ports: [80, 443] }, { uid: 1000, ports: [80, 22] }],
  apps: [
    { command: "curl", stack: "kernel" },
    { uid: 1001, limits: { sockets: 8, bufferBytes: 65536 } },
    { uid: 1002, command: "nginx", stack: "joyride" },
  ],
};

Deno.test("policy: defaults when absent", () => {
  const p = parsePolicy(undefined);
  assertEquals(p.limits, DEFAULT_LIMITS);
  assertEquals(stackFor(p, { uid: 5, command: "x" }), "joyride");
  assertEquals(portsFor(p, 0), []);
});

Deno.test("policy: stack by command or uid, limits by uid, grants merged", () => {
  const p = parsePolicy(sample);
  assertEquals(stackFor(p, { uid: 0, command: "curl" }), "kernel");
  assertEquals(stackFor(p, { uid: 1002, command: "nginx" }), "joyride");
  assertEquals(stackFor(p, { uid: 1003, command: "nginx" }), "joyride");
  assertEquals(limitsFor(p, { uid: 1001, command: "x" }), {
    sockets: 8,
    bufferBytes: 65536,
    pending: 8,
    apps: 256,
  });
  assertEquals(limitsFor(p, { uid: 7, command: "x" }).sockets, 100);
  assertEquals(portsFor(p, 1000), [22, 80, 443]);
  assertEquals(portsFor(p, 1001), []);
  const c = cardFor(p, { pid: 9, uid: 1000, gid: 1000 }, "srv", "abcd0123");
  assertEquals(decodeCard(encodeCard(c)), c);
  assertEquals(c.ports, [22, 80, 443]);
});

Deno.test("policy: errors name the field", () => {
  const cases: [unknown, string, string][] = [
    [{ limits: { sockets: 0 } }, "policy.limits.sockets", "1..4096"],
    [{ limits: { socket: 1 } }, "policy.limits.socket", "not a known field"],
    [{ privilegedPorts: [{ ports: [80] }] }, "policy.privilegedPorts[0].uid", "required"],
    [{ privilegedPorts: [{ uid: 1, ports: [8080] }] }, "policy.privilegedPorts[0].ports[0]", ""],
    [{ apps: [{ stack: "kernel" }] }, "policy.apps[0]", "uid or a command"],
    [{ apps: [{ uid: 1, stack: "bsd" }] }, "policy.apps[0].stack", "joyride"],
    [{ apps: [{ command: "x", limits: { sockets: 9 } }] }, "policy.apps[0].limits", "uid"],
    [{ apps: [{ command: "a-very-long-command-name" }] }, "policy.apps[0].command", "1-15"],
    [[], "policy", "object"],
    [{ extra: 1 }, "policy.extra", "not a known field"],
  ];
  for (const [input, field, why] of cases) {
    const pr = policyProblem(input);
    assert(pr !== undefined, `accepted ${JSON.stringify(input)}`);
    assertEquals(pr.field, field);
    assert(pr.reason.includes(why), `${pr.reason} lacks ${why}`);
  }
  assertEquals(policyProblem(sample), undefined);
  let msg = "";
  try {
    parsePolicy({ limits: { pending: -1 } });
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("policy.limits.pending must be an integer"), msg);
});

Deno.test("policy: cards that are not cards decode to undefined", () => {
  for (const s of ["", "{}", "null", "[1]", '{"pid":-1}', "not json"]) {
    assertEquals(decodeCard(s), undefined, s);
  }
  fc.assert(
    fc.property(fc.string(), (s) => {
      const c = decodeCard(s);
      return c === undefined || typeof c.uid === "number";
    }),
    { seed: 6, numRuns: 200 },
  );
});

Deno.test("policy: tokens compare exactly; token ids are random hex", () => {
  const a = new Uint8Array([1, 2, 3]);
  assert(sameToken(new Uint8Array([1, 2, 3]), a));
  assert(!sameToken(new Uint8Array([1, 2, 4]), a));
  assert(!sameToken(new Uint8Array([1, 2]), a));
  assert(!sameToken(undefined, a));
  const ids = new Set(Array.from({ length: 100 }, newTokenId));
  assert(ids.size > 95);
  for (const id of ids) assert(/^[0-9a-f]{8}$/.test(id));
});

Deno.test("refusals: counted per reason, total excludes appsGone", () => {
  const r = new Refusals();
  assertEquals(r.count("badToken", 1), 1);
  r.count("badToken");
  r.count("appsGone");
  assertEquals(r.counts.badToken, 2);
  assertEquals(r.total, 2);
  const f = flatRefusals("refused", r);
  assertEquals(f["refused.badToken"], 2);
  assertEquals(f["refused.total"], 2);
  assertEquals(Object.keys(f).length, REFUSAL_REASONS.length + 1);
});

Deno.test("policy: the instance configuration checks its policy section, naming the field", async () => {
  const { configFrom, parseConfig } = await import("../supervisor/config.ts");
  assertEquals(configFrom({}).policy, {});
  assertEquals(configFrom({ policy: sample }).policy, sample);
  let msg = "";
  try {
    parseConfig(JSON.stringify({ policy: { apps: [{ uid: 5, stack: "bsd" }] } }), "j.json");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(
    msg,
    'Cannot load configuration j.json: policy.apps[0].stack must be "joyride" or "kernel", got "bsd"',
  );
});

Deno.test("policy: with the default ring size, the default socket limit is met before the ring bytes", () => {
  const l = appLayout(DEFAULT_LIMITS.sockets);
  assert(
    DEFAULT_LIMITS.sockets * l.socketBytes <= DEFAULT_LIMITS.bufferBytes,
    `${DEFAULT_LIMITS.sockets} sockets × ${l.socketBytes} B > ${DEFAULT_LIMITS.bufferBytes}`,
  );
});
