import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ipFromBytes,
  ipToBytes,
  ipVersion,
  isMulticast,
  parseCidr,
  parseIp,
  samePrefix,
} from "./addr.ts";

Deno.test("parseIp: canonical forms (RFC 5952)", () => {
  assert.equal(parseIp("198.18.0.2"), "198.18.0.2");
  assert.equal(parseIp("FD00:0198:0018:0000:0000:0000:0000:0002"), "fd00:198:18::2");
  assert.equal(parseIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(parseIp("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  assert.equal(parseIp("::"), "::");
  assert.equal(parseIp("::1"), "::1");
  assert.equal(parseIp("::ffff:198.18.0.1"), "::ffff:198.18.0.1");
  assert.equal(parseIp("fe80::"), "fe80::");
  for (
    const bad of [
      "1.2.3",
      "198.18.0.256",
      "198.18.0.01",
      "1::2::3",
      "12345::",
      "fe80::1%eth0",
      "",
      ":",
      "1:2:3:4:5:6:7:8:9",
      "x",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("ip bytes round trip for any address", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
      ),
      (b) => {
        const v = b.length === 4 ? 4 : 6;
        const a = ipFromBytes(b, 0, v);
        assert.equal(ipVersion(a), v);
        assert.deepEqual(ipToBytes(a), b);
        assert.equal(parseIp(a), a);
      },
    ),
    { seed: 3, numRuns: 500 },
  );
});

Deno.test("parseCidr and samePrefix", () => {
  assert.deepEqual(parseCidr("198.18.0.2/24"), { addr: "198.18.0.2", prefix: 24, version: 4 });
  assert.deepEqual(parseCidr("fd00:198:18::2/64"), {
    addr: "fd00:198:18::2",
    prefix: 64,
    version: 6,
  });
  assert.equal(parseCidr("198.18.0.2/33"), undefined);
  assert.equal(samePrefix(ipToBytes("198.18.0.2"), ipToBytes("198.18.0.200"), 24), true);
  assert.equal(samePrefix(ipToBytes("198.18.0.2"), ipToBytes("198.18.1.2"), 24), false);
  assert.equal(samePrefix(ipToBytes("198.18.0.2"), ipToBytes("198.19.0.2"), 15), true);
  assert.equal(
    samePrefix(ipToBytes("198.18.0.2"), ipToBytes([198, 20, 0, 2].join(".")), 15),
    false,
  );
});

Deno.test("addr: isMulticast agrees with the first octet (any IPv4 address) and ff00::/8", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), (o) => {
      assert.equal(isMulticast(o.join(".")), o[0] >= 224 && o[0] <= 239, o.join("."));
    }),
    { seed: 13, numRuns: 2000 },
  );
  for (const a of ["ff02::1", "ff12::18:7"]) assert.ok(isMulticast(a), a);
  for (const a of ["fe80::1", "fd00:198:18::1", "::ffff:198.18.0.1", "::", ""]) {
    assert.ok(!isMulticast(a), a);
  }
});
