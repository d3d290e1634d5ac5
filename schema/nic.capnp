@0xb333ae2c9b75c350;
# NIC link control: link up/down, MTU, offload capabilities and statistics of a DPDK port.

using Common = import "common.capnp";

struct LinkCaps {
  mac @0 :Data;              # 6 bytes
  maxMtu @1 :UInt16;
  rxChecksumIp @2 :Bool;     # IPv4 header checksum verified on receive
  rxChecksumL4 @3 :Bool;     # TCP/UDP checksum verified on receive
  txChecksumIp @4 :Bool;
  txChecksumL4 @5 :Bool;
  tso @6 :Bool;              # TCP segmentation offload (hardware or DPDK GSO)
  tsoMaxBytes @7 :UInt32;
  lro @8 :Bool;              # large receive offload (hardware)
  gro @9 :Bool;              # generic receive offload (DPDK GRO library)
  rxQueues @10 :UInt16;
  txQueues @11 :UInt16;
  driver @12 :Text;          # DPDK driver name, e.g. "net_af_packet"
  features @13 :List(Text);  # other capability names, informative
}

struct LinkStatus {
  up @0 :Bool;
  mtu @1 :UInt16;
  speedMbps @2 :UInt32;
  fullDuplex @3 :Bool;
}

struct QueueStats {
  queue @0 :UInt16;
  rxPackets @1 :UInt64;
  txPackets @2 :UInt64;
  rxBytes @3 :UInt64;
  txBytes @4 :UInt64;
}

struct LinkStats {
  rxPackets @0 :UInt64;
  txPackets @1 :UInt64;
  rxBytes @2 :UInt64;
  txBytes @3 :UInt64;
  rxErrors @4 :UInt64;
  txErrors @5 :UInt64;
  rxMissed @6 :UInt64;       # dropped by the port: no descriptor
  rxNoMbuf @7 :UInt64;       # dropped: buffer pool empty
  queues @8 :List(QueueStats);
  perQueueRxDrops @9 :List(UInt32);
  avgBatch @10 :Float64;     # mean frames per rx burst
}

struct NicRequest {
  header @0 :Common.RequestHeader;
  port @1 :UInt16;           # DPDK port id
  union {
    setLink @2 :Bool;        # up (true) or down
    setMtu @3 :UInt16;
    queryCaps @4 :Void;
    queryStatus @5 :Void;
    queryStats @6 :Void;
    resetStats @7 :Void;
    setOffloads :group {     # turn offloads on/off (only those in LinkCaps)
      txChecksum @8 :Bool;
      tso @9 :Bool;
      gro @10 :Bool;
    }
  }
}

struct NicReply {
  header @0 :Common.ReplyHeader;
  errno @1 :Int32;
  union {
    none @2 :Void;
    caps @3 :LinkCaps;
    status @4 :LinkStatus;
    stats @5 :LinkStats;
  }
}
