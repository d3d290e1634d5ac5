/*
 * Joyride NIC glue: a thin C layer over DPDK 22.11, loaded by the NIC server with Deno.dlopen.
 *
 * The NIC region (shared memory between the NIC server and the TCP/IP server):
 *
 *   [0, 4096)        header: geometry, advertised offloads, MAC, MTU, counters, control words
 *   ring RX          NIC -> TCP  descriptors of received frames   (producer: NIC)
 *   ring RX_FREE     TCP -> NIC  rx buffers given back             (producer: TCP)
 *   ring TX          TCP -> NIC  frames to send                    (producer: TCP)
 *   ring TX_FREE     NIC -> TCP  tx buffers given back after send  (producer: NIC)
 *   rx pool          rx_slots fixed-size buffers of rx_slot_size bytes
 *   tx pool          tx_slots fixed-size buffers of tx_slot_size bytes
 *
 * Every ring is single-producer single-consumer: head (written by the producer), tail (written by
 * the consumer), each on its own cache line, then a doorbell (futex word + "consumer sleeps"
 * flag), then `ring_cap` 16-byte descriptors. Indices run freely (u32, wrapping); the entry is
 * index & (cap - 1). A consumer that goes to sleep sets `sleeping`, re-checks the ring, and
 * futex-waits on `bell`; a producer that sees `sleeping` after publishing bumps `bell` and wakes.
 *
 * The layout is mirrored by servers/nic/region.ts; jr_layout() reports it so a test catches drift.
 * Nothing read from the region is trusted: the geometry is copied once at attach and every
 * descriptor (offset, length, flags) is checked against it before use.
 */
#ifndef JR_NIC_H
#define JR_NIC_H
#include <stdint.h>

#define JR_REGION_MAGIC 0x434e524au /* "JRNC" */
#define JR_REGION_VERSION 1u
#define JR_HDR_SIZE 4096u

/* Header field offsets (bytes). */
#define JR_H_MAGIC 0
#define JR_H_VERSION 4
#define JR_H_HDR_SIZE 8
#define JR_H_RING_CAP 12
#define JR_H_RX_SLOT_SIZE 16
#define JR_H_RX_SLOTS 20
#define JR_H_TX_SLOT_SIZE 24
#define JR_H_TX_SLOTS 28
#define JR_H_TOTAL_SIZE 32 /* u64 */
#define JR_H_RING_OFF 40   /* u32[4]: rx, rx_free, tx, tx_free */
#define JR_H_RX_POOL_OFF 56
#define JR_H_TX_POOL_OFF 60
#define JR_H_OFFLOADS 64 /* JR_OFF_* the NIC server provides */
#define JR_H_MTU 68
#define JR_H_MAC 72 /* u8[6] */
#define JR_H_NIC_PID 80
#define JR_H_GENERATION 84
#define JR_H_LINK_UP 88
#define JR_H_COUNTERS 128 /* u64[JR_C_COUNT] */
#define JR_H_CONTROL 512  /* control block, owned by the TypeScript side (capture, ...) */

/* Counters (u64 at JR_H_COUNTERS + 8 * index). */
enum {
  JR_C_HEARTBEAT_NS = 0, /* CLOCK_MONOTONIC of the NIC loop's last turn (written by TS) */
  JR_C_RX_FRAMES,        /* frames put on the RX ring */
  JR_C_RX_BYTES,
  JR_C_TX_FRAMES, /* frames handed to the port (after segmentation) */
  JR_C_TX_BYTES,
  JR_C_RX_NO_BUF,     /* received but dropped: no free rx buffer */
  JR_C_RX_RING_FULL,  /* received but dropped: RX ring full */
  JR_C_TX_BAD_DESC,   /* TX descriptors refused (offset/length/flags out of range) */
  JR_C_FREE_BAD_DESC, /* RX_FREE descriptors refused */
  JR_C_TX_DROPPED,    /* port did not take the frame / no mbuf */
  JR_C_GSO_SEGMENTS,  /* frames produced by segmentation */
  JR_C_GRO_MERGED,    /* received frames merged away by GRO */
  JR_C_RX_CSUM_BAD,   /* received TCP/UDP over IPv4 with a bad checksum (flagged, not dropped) */
  JR_C_RX_TOO_BIG,    /* received frames longer than an rx slot */
  JR_C_BAD_INDEX,     /* ring index jumped out of range (peer wrote garbage) */
  JR_C_WAKEUPS,       /* futex wakes issued */
  JR_C_CAPTURED,      /* frames copied to the capture buffer */
  JR_C_CAPTURE_LOST,  /* frames not captured: capture buffer full */
  JR_C_COUNT
};

/* Ring layout. */
#define JR_R_HEAD 0
#define JR_R_TAIL 64
#define JR_R_BELL 128
#define JR_R_SLEEPING 132
#define JR_R_DESC 192
#define JR_DESC_SIZE 16
/* Descriptor: u32 offset (from region start), u32 length, u16 flags, u16 mss, u32 reserved. */
#define JR_D_OFF 0
#define JR_D_LEN 4
#define JR_D_FLAGS 8
#define JR_D_MSS 10

enum { JR_RING_RX = 0, JR_RING_RX_FREE = 1, JR_RING_TX = 2, JR_RING_TX_FREE = 3 };

/* Descriptor flags. TX: what the NIC server should do. RX: what it did. */
#define JR_F_TX_CSUM 0x0001u   /* fill IPv4 header and TCP/UDP checksums */
#define JR_F_TX_TSO 0x0002u    /* segment this TCP/IPv4 frame into mss-sized frames */
#define JR_F_RX_CSUM_OK 0x0100u  /* IPv4 + TCP/UDP checksums verified good */
#define JR_F_RX_CSUM_BAD 0x0200u /* a checksum is wrong */
#define JR_F_RX_GRO 0x0400u      /* several received TCP segments merged into this one */

/* Offloads the NIC server provides (header JR_H_OFFLOADS). Software counts. */
#define JR_OFF_TX_CSUM 0x1u
#define JR_OFF_TSO 0x2u
#define JR_OFF_RX_CSUM 0x4u
#define JR_OFF_GRO 0x8u
/* TSO for TCP over IPv6 too (the kernel-GSO socket, a GSO link; rte_gso in DPDK 22.11 cuts
 * IPv4 only): set by jr_nic_kernel_gso and jr_nic_gso_link. */
#define JR_OFF_TSO6 0x10u

/* Port kinds for jr_port_open. */
enum { JR_KIND_AF_PACKET = 0, JR_KIND_AF_XDP, JR_KIND_MEMIF, JR_KIND_TAP, JR_KIND_PCI };

/* Capture records in the capture buffer: u64 used-bytes word at offset 0, then records of
 * u64 timestamp_ns (CLOCK_REALTIME), u32 caplen, u32 origlen, u32 direction (0 rx, 1 tx),
 * u32 reserved, caplen bytes, padded to 8. */
#define JR_CAP_HDR 24

#endif
