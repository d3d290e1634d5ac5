/* Generated from servers/ipc/layout.ts by servers/ipc/gen_layout_h.ts: do not edit. */
#ifndef JOYRIDE_LAYOUT_H
#define JOYRIDE_LAYOUT_H

/* Ring header (256 bytes, four cache lines), offsets from the ring's start. */
#define JR_RING_MAGIC                0x474e524au /* "JRNG" */
#define JR_RING_VERSION              1u
#define JR_RING_CACHE_LINE           64u
#define JR_RING_HEADER_SIZE          256u
#define JR_RING_OFF_MAGIC            0u
#define JR_RING_OFF_VERSION          4u
#define JR_RING_OFF_KIND             8u
#define JR_RING_OFF_CAPACITY         12u
#define JR_RING_OFF_SLOT_SIZE        16u
#define JR_RING_OFF_DATA_OFFSET      20u
#define JR_RING_OFF_DATA_SIZE        24u
#define JR_RING_OFF_HEAD             64u /* consumer index (u32, free-running), own cache line */
#define JR_RING_OFF_TAIL             128u /* producer index (u32, free-running), own cache line */
#define JR_RING_OFF_DATA_BELL        192u /* futex word: the consumer waits here for data */
#define JR_RING_OFF_SPACE_BELL       196u /* futex word: the producer waits here for space */
#define JR_RING_OFF_STATE            200u /* JR_STATE_* flags */
#define JR_RING_MIN_CAPACITY         64u
#define JR_RING_MAX_CAPACITY         0x40000000u

/* Ring kinds. */
#define JR_KIND_MESSAGE              1u
#define JR_KIND_BYTE                 2u
#define JR_KIND_DESCRIPTOR           3u
#define JR_KIND_INDEX                4u

/* Message ring records: u32 length, u32 flags, payload padded to 8 bytes. */
#define JR_MSG_ALIGN                 8u
#define JR_MSG_RECORD_HEADER         8u
#define JR_MSG_OFF_LENGTH            0u
#define JR_MSG_OFF_FLAGS             4u
#define JR_MSG_FLAG_PAD              1u /* padding to the end of the data area */

/* Frame descriptor slots: u32 offset, u32 length, u32 flags, u32 user. */
#define JR_DESC_SLOT_SIZE            16u
#define JR_DESC_OFF_OFFSET           0u
#define JR_DESC_OFF_LENGTH           4u
#define JR_DESC_OFF_FLAGS            8u
#define JR_DESC_OFF_USER             12u

/* Index ring slots: u32 buffer index. */
#define JR_INDEX_SLOT_SIZE           4u

/* Doorbell words: bit 0 waiter flag, the rest a wake sequence. */
#define JR_BELL_WAITER               1u
#define JR_BELL_SEQ_STEP             2u

/* Ring state flags. */
#define JR_STATE_PRODUCER_CLOSED     1u
#define JR_STATE_CONSUMER_CLOSED     2u

/* Datagram ring records: this header, then the payload. */
#define JR_DGRAM_HEADER_SIZE         48u
#define JR_DGRAM_OFF_LEN             0u /* u32 payload length */
#define JR_DGRAM_OFF_FAMILY          4u /* u16 AF_INET/AF_INET6 of the peer's address, 0: none */
#define JR_DGRAM_OFF_PORT            6u /* u16 peer port (host order) */
#define JR_DGRAM_OFF_ADDR            8u /* 16 bytes, peer address (IPv4: the first 4) */
#define JR_DGRAM_OFF_DST             24u /* 16 bytes, receive only: the datagram's destination address */
#define JR_DGRAM_OFF_IFINDEX         40u /* u32, receive only: the interface it came in on (1 loopback, 2 the NIC; 0 unknown) */
#define JR_DGRAM_OFF_TTL             44u /* u8, receive only: its TTL / hop limit */

/* Buffer pool header (64 bytes), then the free-list ring, then the buffers. */
#define JR_POOL_MAGIC                0x4c4f504au /* "JPOL" */
#define JR_POOL_VERSION              1u
#define JR_POOL_HEADER_SIZE          64u
#define JR_POOL_OFF_MAGIC            0u
#define JR_POOL_OFF_VERSION          4u
#define JR_POOL_OFF_BUF_SIZE         8u
#define JR_POOL_OFF_COUNT            12u
#define JR_POOL_OFF_RING             16u /* u32, from the pool's start */
#define JR_POOL_OFF_BUFFERS          20u /* u32, ditto */
#define JR_POOL_BUF_ALIGN            64u

#endif /* JOYRIDE_LAYOUT_H */
