/*
 * Joyride NIC glue over DPDK 22.11. See jr_nic.h for the shared region layout.
 *
 * All data-path entry points are batched: one call moves up to a burst of frames between the
 * port and the region's rings. Nothing read from the region is trusted.
 */
#define _GNU_SOURCE
#include "jr_nic.h"

#include <errno.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/if_ether.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_gro.h>
#include <rte_gso.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_net.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#define JR_MAX_PORTS 8
#define JR_BURST 64
#define JR_OUT_MAX 512
#define JR_VNET_BATCH 32 /* frames per sendmmsg on the kernel-GSO socket */
#define JR_VNET_HDR 192  /* bytes of a frame copied privately: every header fits */
#define JR_STASH (2 * JR_VNET_BATCH)
#define JR_BIG_ROOM 65344u /* largest tx slot; fits a 65535-byte mbuf data room */
#define JR_MAX_RX_SLOT 65600u /* a frame the kernel's GRO made: 14 + 65535 bytes */

#define EXPORT __attribute__((visibility("default")))

struct jr_port {
  int used;
  int kind;
  uint16_t port_id;
  uint16_t mtu;
  uint16_t room; /* data room of `pool` mbufs: a whole frame of this MTU fits in one */
  char name[64];
  char ifname[IF_NAMESIZE];
  struct rte_mempool *pool;     /* frames up to 2 KB */
  struct rte_mempool *big_pool; /* TSO frames to segment */
  struct rte_mempool *ind_pool; /* GSO indirect mbufs */
  uint64_t rx_capa, tx_capa;
  int rx_intr; /* Rx queue interrupts configured (memif, af_xdp if the PMD has them) */
  uint32_t offloads;
  int steer_addrs_fd, steer_stats_fd; /* maps of the jr_xdp program (af_xdp steering) */
};

static struct jr_port ports[JR_MAX_PORTS];
static int eal_ready;
static char last_error[256];

struct jr_nic {
  struct jr_port *p;
  uint8_t *base;
  uint64_t size;
  uint32_t cap, mask;
  uint32_t rx_slot, rx_slots, tx_slot, tx_slots, rx_pool, tx_pool;
  uint8_t *ring[4];
  volatile uint64_t *cnt;
  /* Local copies of the indices this side owns. */
  uint32_t rx_head, rxf_tail, tx_tail, txf_head;
  uint8_t *cap_buf;
  uint64_t cap_len;
  int gro;
  /* A memif link whose other end is another Joyride NIC server (jr_nic_gso_link): TSO frames
   * cross it whole and TCP/UDP checksums are left partial, as on a virtio-net or veth link. */
  int gso_link;
  /* A GSO link's doorbells (jr_nic_link_bell): a small file both NIC servers map, two words per
   * side (bell, sleeping); a server that sends rings its peer's bell if the peer sleeps. */
  uint32_t *lk_map;
  uint32_t *lk_bell, *lk_sleeping, *lk_peer_bell, *lk_peer_sleeping;
  uint32_t lk_seen; /* our bell when the sleep was armed */
  struct rte_gso_ctx gso;
  int watch_fd, kick_fd;
  int watch_intr; /* watch_fd is the Rx queue's interrupt fd (not ours to close) */
  int vnet_fd;    /* af_packet: a PACKET_VNET_HDR socket for TCP/UDP frames (kernel GSO), or -1 */
  int vnet_ifindex;
  /* One sendmmsg batch on vnet_fd: per frame a virtio header, a private copy of the frame's
   * headers (checked and completed here) and the payload, read by the kernel from the region. */
  uint32_t vnet_k;
  struct mmsghdr vnet_msg[JR_VNET_BATCH];
  struct iovec vnet_iov[JR_VNET_BATCH][3];
  struct virtio_net_hdr vnet_vh[JR_VNET_BATCH];
  struct sockaddr_ll vnet_sll[JR_VNET_BATCH];
  uint8_t vnet_hdr[JR_VNET_BATCH][JR_VNET_HDR];
  int rx_fd; /* af_packet: a PACKET_VNET_HDR socket receiving (kernel GRO), or -1 */
  uint32_t rx_nstash, rx_idle;
  uint32_t rx_stash[JR_STASH]; /* rx buffers taken from RX_FREE and not used */
  struct rte_mbuf *out[JR_OUT_MAX];
};

static void set_error(const char *fmt, const char *a, int b) {
  snprintf(last_error, sizeof last_error, fmt, a, b);
}

/** The last error message of a failed call (static storage). */
EXPORT const char *jr_last_error(void) { return last_error; }

/* ---------------------------------------------------------------- layout report (drift test) */

/** Writes the layout constants of jr_nic.h into out[0..n) and returns how many there are. */
EXPORT int jr_layout(uint32_t *out, int n) {
  const uint32_t v[] = {JR_REGION_MAGIC, JR_REGION_VERSION, JR_HDR_SIZE, JR_H_RING_CAP,
                        JR_H_RX_SLOT_SIZE, JR_H_RX_SLOTS, JR_H_TX_SLOT_SIZE, JR_H_TX_SLOTS,
                        JR_H_TOTAL_SIZE, JR_H_RING_OFF, JR_H_RX_POOL_OFF, JR_H_TX_POOL_OFF,
                        JR_H_OFFLOADS, JR_H_MTU, JR_H_MAC, JR_H_NIC_PID, JR_H_GENERATION,
                        JR_H_LINK_UP, JR_H_COUNTERS, JR_H_CONTROL, JR_C_COUNT, JR_R_HEAD,
                        JR_R_TAIL, JR_R_BELL, JR_R_SLEEPING, JR_R_DESC, JR_DESC_SIZE,
                        JR_F_TX_CSUM, JR_F_TX_TSO, JR_F_RX_CSUM_OK, JR_F_RX_CSUM_BAD,
                        JR_F_RX_GRO, JR_CAP_HDR, JR_OFF_TX_CSUM, JR_OFF_TSO,
                        JR_OFF_RX_CSUM, JR_OFF_GRO, JR_OFF_TSO6};
  int k = (int)(sizeof v / sizeof v[0]);
  for (int i = 0; i < k && i < n; i++) out[i] = v[i];
  return k;
}

/* ---------------------------------------------------------------- futex doorbells */

static long futex(volatile uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
  return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

/** Waits while *word == expect, at most timeout_us. Returns 0 when woken or changed, 1 on
 * timeout, -errno on error. Shared (not private) futex: the word lives in a shared mapping. */
EXPORT int jr_futex_wait(uint32_t *word, uint32_t expect, uint32_t timeout_us) {
  struct timespec ts = {.tv_sec = timeout_us / 1000000u,
                        .tv_nsec = (long)(timeout_us % 1000000u) * 1000};
  if (futex(word, FUTEX_WAIT, expect, &ts) == 0) return 0;
  if (errno == ETIMEDOUT) return 1;
  if (errno == EAGAIN || errno == EINTR) return 0;
  return -errno;
}

/** Wakes every waiter on word. Returns how many were woken. */
EXPORT int jr_futex_wake(uint32_t *word) { return (int)futex(word, FUTEX_WAKE, INT32_MAX, NULL); }

/* ---------------------------------------------------------------- region */

static uint32_t ring_bytes(uint32_t cap) {
  return (JR_R_DESC + cap * JR_DESC_SIZE + 63u) & ~63u;
}

/** Size of a region with this geometry (0 if the geometry is invalid). */
EXPORT uint64_t jr_region_size(uint32_t cap, uint32_t rx_slot, uint32_t rx_slots, uint32_t tx_slot,
                               uint32_t tx_slots) {
  if (cap < 2 || cap > (1u << 20) || (cap & (cap - 1))) return 0;
  if (rx_slot < 64 || rx_slot > JR_MAX_RX_SLOT || rx_slot % 64) return 0;
  if (tx_slot < 64 || tx_slot > JR_BIG_ROOM || tx_slot % 64) return 0;
  if (rx_slots == 0 || rx_slots > cap || tx_slots == 0 || tx_slots > cap) return 0;
  uint64_t s = JR_HDR_SIZE + 4ull * ring_bytes(cap);
  s = (s + 4095) & ~4095ull;
  s += (uint64_t)rx_slot * rx_slots + (uint64_t)tx_slot * tx_slots;
  s = (s + 4095) & ~4095ull;
  if (s > 0xffffffffull) return 0; /* descriptors carry u32 offsets */
  return s;
}

/** Maps a region file (created and sized when create != 0). Returns NULL on error. */
EXPORT void *jr_region_map(const char *path, uint64_t size, int create) {
  int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (fd < 0) {
    set_error("Cannot open region %s: errno %d", path, errno);
    return NULL;
  }
  if (create && ftruncate(fd, (off_t)size) != 0) {
    set_error("Cannot size region %s: errno %d", path, errno);
    close(fd);
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < size) {
    set_error("Cannot map region %s: file smaller than expected (%d)", path, (int)st.st_size);
    close(fd);
    return NULL;
  }
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    set_error("Cannot map region %s: errno %d", path, errno);
    return NULL;
  }
  return p;
}

EXPORT int jr_region_unmap(void *p, uint64_t size) { return munmap(p, size) == 0 ? 0 : -errno; }

static inline uint32_t *u32at(uint8_t *b, uint32_t off) { return (uint32_t *)(b + off); }

/** Lays out a fresh region: header, four empty rings, every rx and tx buffer on its free ring. */
EXPORT int jr_region_init(uint8_t *b, uint64_t size, uint32_t cap, uint32_t rx_slot,
                          uint32_t rx_slots, uint32_t tx_slot, uint32_t tx_slots) {
  uint64_t need = jr_region_size(cap, rx_slot, rx_slots, tx_slot, tx_slots);
  if (need == 0 || need > size) return -EINVAL;
  memset(b, 0, JR_HDR_SIZE + 4ull * ring_bytes(cap));
  *u32at(b, JR_H_VERSION) = JR_REGION_VERSION;
  *u32at(b, JR_H_HDR_SIZE) = JR_HDR_SIZE;
  *u32at(b, JR_H_RING_CAP) = cap;
  *u32at(b, JR_H_RX_SLOT_SIZE) = rx_slot;
  *u32at(b, JR_H_RX_SLOTS) = rx_slots;
  *u32at(b, JR_H_TX_SLOT_SIZE) = tx_slot;
  *u32at(b, JR_H_TX_SLOTS) = tx_slots;
  *(uint64_t *)(b + JR_H_TOTAL_SIZE) = need;
  uint32_t off = JR_HDR_SIZE;
  for (int r = 0; r < 4; r++) {
    *u32at(b, JR_H_RING_OFF + 4 * r) = off;
    off += ring_bytes(cap);
  }
  off = (off + 4095u) & ~4095u;
  *u32at(b, JR_H_RX_POOL_OFF) = off;
  uint32_t rx_pool = off;
  off += rx_slot * rx_slots;
  *u32at(b, JR_H_TX_POOL_OFF) = off;
  uint32_t tx_pool = off;
  uint8_t *rf = b + *u32at(b, JR_H_RING_OFF + 4 * JR_RING_RX_FREE);
  for (uint32_t i = 0; i < rx_slots; i++) {
    uint8_t *d = rf + JR_R_DESC + i * JR_DESC_SIZE;
    *u32at(d, JR_D_OFF) = rx_pool + i * rx_slot;
    *u32at(d, JR_D_LEN) = rx_slot;
  }
  *u32at(rf, JR_R_HEAD) = rx_slots;
  uint8_t *tf = b + *u32at(b, JR_H_RING_OFF + 4 * JR_RING_TX_FREE);
  for (uint32_t i = 0; i < tx_slots; i++) {
    uint8_t *d = tf + JR_R_DESC + i * JR_DESC_SIZE;
    *u32at(d, JR_D_OFF) = tx_pool + i * tx_slot;
    *u32at(d, JR_D_LEN) = tx_slot;
  }
  *u32at(tf, JR_R_HEAD) = tx_slots;
  atomic_thread_fence(memory_order_seq_cst);
  *u32at(b, JR_H_MAGIC) = JR_REGION_MAGIC;
  return 0;
}

/* ---------------------------------------------------------------- EAL and ports */

/** Initialises DPDK's EAL from a space-separated argument string (argv[0] included). Returns 0,
 * or -rte_errno. Call once per process. */
EXPORT int jr_eal_init(const char *args) {
  if (eal_ready) return 0;
  static char *argv[64];
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s", args);
  int argc = 0;
  for (char *s = strtok(buf, " "); s && argc < 63; s = strtok(NULL, " ")) argv[argc++] = s;
  argv[argc] = NULL;
  int r = rte_eal_init(argc, argv);
  if (r < 0) {
    set_error("Cannot initialise DPDK EAL (%s): rte_errno %d", rte_strerror(rte_errno), rte_errno);
    return -rte_errno;
  }
  eal_ready = 1;
  return 0;
}

static int set_kernel_mtu(const char *ifname, uint32_t mtu) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  ifr.ifr_mtu = (int)mtu;
  int r = ioctl(fd, SIOCSIFMTU, &ifr) == 0 ? 0 : -errno;
  close(fd);
  return r;
}

static int kind_of(const char *kind) {
  if (!strcmp(kind, "af_packet")) return JR_KIND_AF_PACKET;
  if (!strcmp(kind, "af_xdp")) return JR_KIND_AF_XDP;
  if (!strcmp(kind, "memif")) return JR_KIND_MEMIF;
  if (!strcmp(kind, "tap")) return JR_KIND_TAP;
  if (!strcmp(kind, "pci")) return JR_KIND_PCI;
  return -1;
}

/*
 * FINDINGS R2: DPDK 22.11's af_packet PMD joins a PACKET_FANOUT group with
 * PACKET_FANOUT_FLAG_DEFRAG, and no devarg turns that off (later releases have one). The kernel
 * then reassembles IPv4 fragments before the packet socket sees them, holds incomplete ones
 * itself, and hands over datagrams cut to the PMD's frame size: Joyride's own reassembly never
 * runs and datagrams over ~2 kB are lost. The PMD's setsockopt import (its GOT slot) is pointed
 * at afp_setsockopt, which clears that one flag; every other call goes through unchanged.
 */
/* The af_packet PMD's socket (the last one it set up), for jr_nic_kernel_gro. */
static int afp_pmd_fd = -1;

static int afp_setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
  if (level == SOL_PACKET && name == PACKET_FANOUT && val && len >= sizeof(uint32_t) &&
      len <= 64) {
    uint8_t arg[64];
    memcpy(arg, val, len);
    uint32_t a;
    memcpy(&a, arg, sizeof a);
    a &= ~((uint32_t)PACKET_FANOUT_FLAG_DEFRAG << 16);
    memcpy(arg, &a, sizeof a);
    return setsockopt(fd, level, name, arg, len);
  }
  if (level == SOL_PACKET && name == PACKET_RX_RING) {
    /* The PMD's socket never needs the frames this process sends on the interface through
     * another socket (the kernel-GSO socket, jr_nic_kernel_gso): without this it would
     * receive a (truncated) copy of each. */
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    afp_pmd_fd = fd;
  }
  return setsockopt(fd, level, name, val, len);
}

static int afp_hook_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  if (!info->dlpi_name || !strstr(info->dlpi_name, "librte_net_af_packet")) return 0;
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  if (!dyn) return 0;
  ElfW(Addr) symtab = 0, strtab = 0, rel[2] = {0, 0};
  size_t relsz[2] = {0, 0};
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
    case DT_SYMTAB: symtab = dyn->d_un.d_ptr; break;
    case DT_STRTAB: strtab = dyn->d_un.d_ptr; break;
    case DT_JMPREL: rel[0] = dyn->d_un.d_ptr; break;
    case DT_PLTRELSZ: relsz[0] = dyn->d_un.d_val; break;
    case DT_RELA: rel[1] = dyn->d_un.d_ptr; break;
    case DT_RELASZ: relsz[1] = dyn->d_un.d_val; break;
    default: break;
    }
  }
  /* ld.so usually relocates these in place; an unrelocated one is an offset. */
  ElfW(Addr) base = info->dlpi_addr;
  if (symtab && symtab < base) symtab += base;
  if (strtab && strtab < base) strtab += base;
  if (!symtab || !strtab) return 0;
  long page = sysconf(_SC_PAGESIZE);
  for (int t = 0; t < 2; t++) {
    if (!rel[t]) continue;
    const ElfW(Rela) *r = (const ElfW(Rela) *)(rel[t] < base ? rel[t] + base : rel[t]);
    for (size_t i = 0; i < relsz[t] / sizeof *r; i++) {
      uint32_t type = ELF64_R_TYPE(r[i].r_info), sym = ELF64_R_SYM(r[i].r_info);
      if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || sym == 0) continue;
      const ElfW(Sym) *s = (const ElfW(Sym) *)symtab + sym;
      if (strcmp((const char *)strtab + s->st_name, "setsockopt") != 0) continue;
      void **slot = (void **)(base + r[i].r_offset);
      uintptr_t pg = (uintptr_t)slot & ~(uintptr_t)(page - 1);
      /* The slot is in RELRO (BIND_NOW): writable for the store, read-only again after. */
      if (mprotect((void *)pg, (size_t)page, PROT_READ | PROT_WRITE) != 0) continue;
      *slot = (void *)afp_setsockopt;
      mprotect((void *)pg, (size_t)page, PROT_READ);
      (*(int *)data)++;
    }
  }
  return 0;
}

/** Points the af_packet PMD's setsockopt at afp_setsockopt; returns the slots patched. */
static int afp_no_defrag(void) {
  static int patched = -1;
  if (patched <= 0) {
    patched = 0;
    dl_iterate_phdr(afp_hook_object, &patched);
  }
  return patched;
}

/**
 * Opens a port. kind: af_packet | af_xdp | memif | tap | pci. devargs: for virtual devices the
 * full DPDK devargs ("net_af_packet0,iface=veth0"), for pci the device address (which must be
 * allowed in the EAL arguments with -a). ifname: the kernel interface behind the port (for the
 * Rx wake-up watch; "" if none). Returns a port handle >= 0 or -errno.
 */
EXPORT int jr_port_open(const char *kind, const char *devargs, const char *ifname, uint32_t mtu,
                        uint32_t nrxd, uint32_t ntxd) {
  if (!eal_ready) {
    set_error("Cannot open port %s: EAL not initialised%d", devargs, 0);
    return -EINVAL;
  }
  int k = kind_of(kind);
  if (k < 0) {
    set_error("Cannot open port: unknown kind %s%d", kind, 0);
    return -EINVAL;
  }
  int h = -1;
  for (int i = 0; i < JR_MAX_PORTS; i++)
    if (!ports[i].used) {
      h = i;
      break;
    }
  if (h < 0) return -ENOSPC;
  struct jr_port *p = &ports[h];
  memset(p, 0, sizeof *p);
  p->kind = k;
  char name[64];
  snprintf(name, sizeof name, "%s", devargs);
  char *comma = strchr(name, ',');
  if (comma) *comma = 0;
  snprintf(p->name, sizeof p->name, "%s", name);
  snprintf(p->ifname, sizeof p->ifname, "%s", ifname);
  if (k == JR_KIND_AF_PACKET && afp_no_defrag() == 0)
    fprintf(stderr, "jr_nic: af_packet PMD's setsockopt not found; the kernel defragments\n");
  if (k != JR_KIND_PCI) {
    int r = rte_dev_probe(devargs);
    if (r < 0) {
      set_error("Cannot probe %s: error %d", devargs, r);
      return r;
    }
  }
  uint16_t pid;
  if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
    set_error("Cannot find port %s after probe%d", name, 0);
    return -ENODEV;
  }
  p->port_id = pid;
  struct rte_eth_dev_info info;
  int r = rte_eth_dev_info_get(pid, &info);
  if (r != 0) {
    set_error("Cannot query port %s: %d", name, r);
    return r;
  }
  p->rx_capa = info.rx_offload_capa;
  p->tx_capa = info.tx_offload_capa;
  char pn[64];
  snprintf(pn, sizeof pn, "jr_pool%d", h);
  /* The same power of two as the af_packet frame size main.ts picks (that PMD wants a whole
   * TPACKET frame to fit in one mbuf): 2048 up to MTU 1500, 16384 for 9000. */
  uint32_t want = (mtu ? mtu : 1500u) + 18u + 128u, room = RTE_MBUF_DEFAULT_DATAROOM;
  while (room < want) room *= 2;
  p->room = (uint16_t)room;
  p->pool = rte_pktmbuf_pool_create(pn, want > 4096 ? 4095 : 8191, 256, 0,
                                    (uint16_t)(p->room + RTE_PKTMBUF_HEADROOM), rte_socket_id());
  snprintf(pn, sizeof pn, "jr_big%d", h);
  p->big_pool = rte_pktmbuf_pool_create(pn, 63, 0, 0, 65535,
                                        rte_socket_id());
  snprintf(pn, sizeof pn, "jr_ind%d", h);
  p->ind_pool = rte_pktmbuf_pool_create(pn, 4095, 128, 0, 0, rte_socket_id());
  if (!p->pool || !p->big_pool || !p->ind_pool) {
    set_error("Cannot create mbuf pools for %s: rte_errno %d", name, rte_errno);
    return -ENOMEM;
  }
  struct rte_eth_conf conf;
  memset(&conf, 0, sizeof conf);
  /* Rx interrupts let an idle server sleep in poll(); af_packet and tap have none (they get
   * the packet-socket watch instead), other PMDs may refuse: then configure without. */
  conf.intr_conf.rxq = (k == JR_KIND_AF_PACKET || k == JR_KIND_TAP) ? 0 : 1;
  r = rte_eth_dev_configure(pid, 1, 1, &conf);
  if (r < 0 && conf.intr_conf.rxq) {
    conf.intr_conf.rxq = 0;
    r = rte_eth_dev_configure(pid, 1, 1, &conf);
  }
  p->rx_intr = conf.intr_conf.rxq;
  if (r < 0) {
    set_error("Cannot configure port %s: %d", name, r);
    return r;
  }
  uint16_t rxd = (uint16_t)nrxd, txd = (uint16_t)ntxd;
  rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd);
  r = rte_eth_rx_queue_setup(pid, 0, rxd, rte_eth_dev_socket_id(pid), NULL, p->pool);
  if (r < 0) {
    set_error("Cannot set up rx queue of %s: %d", name, r);
    return r;
  }
  r = rte_eth_tx_queue_setup(pid, 0, txd, rte_eth_dev_socket_id(pid), NULL);
  if (r < 0) {
    set_error("Cannot set up tx queue of %s: %d", name, r);
    return r;
  }
  int kernel_mtu = 0;
  if (mtu) {
    r = rte_eth_dev_set_mtu(pid, (uint16_t)mtu);
    if (r < 0 && p->ifname[0]) {
      /* net_af_packet reports a fixed 1518-byte maximum to ethdev, yet it only moves what the
       * kernel interface carries: set the interface's MTU directly. */
      r = set_kernel_mtu(p->ifname, mtu);
      kernel_mtu = r == 0;
    }
    if (r < 0 && r != -ENOTSUP) {
      set_error("Cannot set MTU on %s: %d", name, r);
      return r;
    }
  }
  uint16_t m = 0;
  p->mtu = kernel_mtu ? (uint16_t)mtu
                      : rte_eth_dev_get_mtu(pid, &m) == 0 && m ? m : (uint16_t)(mtu ? mtu : 1500);
  r = rte_eth_dev_start(pid);
  if (r < 0) {
    set_error("Cannot start port %s: %d", name, r);
    return r;
  }
  rte_eth_promiscuous_enable(pid);
  /* Software offloads done in this glue; hardware offloads are reported, not used (yet). */
  p->offloads = JR_OFF_TX_CSUM | JR_OFF_TSO | JR_OFF_RX_CSUM | JR_OFF_GRO;
  p->used = 1;
  return h;
}

static struct jr_port *port_of(int h) {
  if (h < 0 || h >= JR_MAX_PORTS || !ports[h].used) return NULL;
  return &ports[h];
}

/** JSON description of the port: driver, MAC, MTU, link, hardware offload capabilities and what
 * the glue provides. Returns the length written (truncated to len-1), or -errno. */
EXPORT int jr_port_info(int h, char *out, int len) {
  struct jr_port *p = port_of(h);
  if (!p || len <= 0) return -EINVAL;
  struct rte_eth_dev_info info;
  if (rte_eth_dev_info_get(p->port_id, &info) != 0) return -EIO;
  struct rte_ether_addr mac;
  rte_eth_macaddr_get(p->port_id, &mac);
  struct rte_eth_link link;
  memset(&link, 0, sizeof link);
  rte_eth_link_get_nowait(p->port_id, &link);
  uint64_t rc = p->rx_capa, tc = p->tx_capa;
#define B(x) ((x) ? "true" : "false")
  int n = snprintf(
      out, (size_t)len,
      "{\"driver\":\"%s\",\"name\":\"%s\",\"port\":%u,\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\","
      "\"mtu\":%u,\"link\":{\"up\":%s,\"speed\":%u},"
      "\"hw\":{\"rx_ipv4_cksum\":%s,\"rx_tcp_cksum\":%s,\"rx_udp_cksum\":%s,\"lro\":%s,"
      "\"tx_ipv4_cksum\":%s,\"tx_tcp_cksum\":%s,\"tx_udp_cksum\":%s,\"tso\":%s,"
      "\"multi_segs\":%s},"
      "\"enabled_hw\":{\"rx\":%llu,\"tx\":%llu},"
      "\"provided\":{\"tx_csum\":\"%s\",\"tso\":\"%s\",\"rx_csum\":\"%s\",\"gro\":\"%s\"},"
      "\"offloads\":%u,\"max_rx_pktlen\":%u}",
      info.driver_name, p->name, p->port_id, mac.addr_bytes[0], mac.addr_bytes[1],
      mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5], p->mtu,
      B(link.link_status), link.link_speed, B(rc & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM),
      B(rc & RTE_ETH_RX_OFFLOAD_TCP_CKSUM), B(rc & RTE_ETH_RX_OFFLOAD_UDP_CKSUM),
      B(rc & RTE_ETH_RX_OFFLOAD_TCP_LRO), B(tc & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM),
      B(tc & RTE_ETH_TX_OFFLOAD_TCP_CKSUM), B(tc & RTE_ETH_TX_OFFLOAD_UDP_CKSUM),
      B(tc & RTE_ETH_TX_OFFLOAD_TCP_TSO), B(tc & RTE_ETH_TX_OFFLOAD_MULTI_SEGS), 0ull, 0ull,
      "software", "rte_gso", "software", "rte_gro", p->offloads, info.max_rx_pktlen);
#undef B
  return n >= len ? len - 1 : n;
}

/** Port statistics: out[0..8) = ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors,
 * rx_nombuf. Returns 0 or -errno. */
EXPORT int jr_port_stats(int h, uint64_t *out) {
  struct jr_port *p = port_of(h);
  if (!p) return -EINVAL;
  struct rte_eth_stats s;
  int r = rte_eth_stats_get(p->port_id, &s);
  if (r != 0) return r;
  out[0] = s.ipackets;
  out[1] = s.opackets;
  out[2] = s.ibytes;
  out[3] = s.obytes;
  out[4] = s.imissed;
  out[5] = s.ierrors;
  out[6] = s.oerrors;
  out[7] = s.rx_nombuf;
  return 0;
}

/** Sets the link up (1) or down (0). Returns 0 or a negative DPDK error. */
EXPORT int jr_port_link(int h, int up) {
  struct jr_port *p = port_of(h);
  if (!p) return -EINVAL;
  return up ? rte_eth_dev_set_link_up(p->port_id) : rte_eth_dev_set_link_down(p->port_id);
}

/** Link status: 1 up, 0 down, negative on error. */
EXPORT int jr_port_link_status(int h) {
  struct jr_port *p = port_of(h);
  if (!p) return -EINVAL;
  struct rte_eth_link link;
  memset(&link, 0, sizeof link);
  if (rte_eth_link_get_nowait(p->port_id, &link) != 0) return -EIO;
  return link.link_status ? 1 : 0;
}

/** Stops and closes a port. */
EXPORT int jr_port_close(int h) {
  struct jr_port *p = port_of(h);
  if (!p) return -EINVAL;
  rte_eth_dev_stop(p->port_id);
  rte_eth_dev_close(p->port_id);
  if (p->steer_addrs_fd > 0) close(p->steer_addrs_fd);
  if (p->steer_stats_fd > 0) close(p->steer_stats_fd);
  p->used = 0;
  return 0;
}

/* ---------------------------------------------------------------- attach a port to a region */

/** Binds a port to a region. The geometry is copied and validated here once; the region's
 * header is never trusted again. Returns a handle (NULL on error, see jr_last_error). */
EXPORT struct jr_nic *jr_nic_attach(int h, uint8_t *b, uint64_t size, int gro) {
  struct jr_port *p = port_of(h);
  if (!b || size < JR_HDR_SIZE || *u32at(b, JR_H_MAGIC) != JR_REGION_MAGIC ||
      *u32at(b, JR_H_VERSION) != JR_REGION_VERSION) {
    set_error("Cannot attach to region: %s (size %d)", "bad magic or version", (int)size);
    return NULL;
  }
  struct jr_nic *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->p = p;
  n->base = b;
  n->size = size;
  n->cap = *u32at(b, JR_H_RING_CAP);
  n->rx_slot = *u32at(b, JR_H_RX_SLOT_SIZE);
  n->rx_slots = *u32at(b, JR_H_RX_SLOTS);
  n->tx_slot = *u32at(b, JR_H_TX_SLOT_SIZE);
  n->tx_slots = *u32at(b, JR_H_TX_SLOTS);
  uint64_t need = jr_region_size(n->cap, n->rx_slot, n->rx_slots, n->tx_slot, n->tx_slots);
  if (need == 0 || need > size) {
    set_error("Cannot attach to region: %s (size %d)", "bad geometry", (int)size);
    free(n);
    return NULL;
  }
  n->mask = n->cap - 1;
  uint32_t off = JR_HDR_SIZE;
  for (int r = 0; r < 4; r++) {
    n->ring[r] = b + off;
    off += ring_bytes(n->cap);
  }
  n->rx_pool = (off + 4095u) & ~4095u;
  n->tx_pool = n->rx_pool + n->rx_slot * n->rx_slots;
  n->cnt = (volatile uint64_t *)(b + JR_H_COUNTERS);
  n->rx_head = __atomic_load_n(u32at(n->ring[JR_RING_RX], JR_R_HEAD), __ATOMIC_ACQUIRE);
  n->rxf_tail = __atomic_load_n(u32at(n->ring[JR_RING_RX_FREE], JR_R_TAIL), __ATOMIC_ACQUIRE);
  n->tx_tail = __atomic_load_n(u32at(n->ring[JR_RING_TX], JR_R_TAIL), __ATOMIC_ACQUIRE);
  n->txf_head = __atomic_load_n(u32at(n->ring[JR_RING_TX_FREE], JR_R_HEAD), __ATOMIC_ACQUIRE);
  /* GRO output can be up to 64 KB: only with rx buffers that large. */
  n->gro = gro && n->rx_slot >= JR_BIG_ROOM;
  n->watch_fd = -1;
  n->kick_fd = -1;
  n->vnet_fd = -1;
  n->rx_fd = -1;
  if (p) {
    n->gso.direct_pool = p->pool;
    n->gso.indirect_pool = p->ind_pool;
    n->gso.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
    n->gso.flag = 0;
    *u32at(b, JR_H_OFFLOADS) = p->offloads & (n->gro ? ~0u : ~JR_OFF_GRO);
    *u32at(b, JR_H_MTU) = p->mtu;
    struct rte_ether_addr mac;
    if (rte_eth_macaddr_get(p->port_id, &mac) == 0) memcpy(b + JR_H_MAC, mac.addr_bytes, 6);
  }
  return n;
}

/**
 * Makes a memif port a GSO link: its other end is another Joyride NIC server that did the same.
 * TSO frames cross whole (up to 64 KB; the memif buffers must hold them, bsize) and TCP/UDP
 * checksums are neither filled nor verified, as between virtio-net or veth ends: memory does not
 * corrupt frames. Needs rx buffers of 64 KB (the GRO geometry). 0, or -errno.
 */
/* Sets or clears offload bits in the region's header, for the TCP/IP server to read. */
static void set_offload(struct jr_nic *n, uint32_t bits, int on) {
  uint32_t *w = u32at(n->base, JR_H_OFFLOADS);
  __atomic_store_n(w, on ? (*w | bits) : (*w & ~bits), __ATOMIC_RELEASE);
}

EXPORT int jr_nic_gso_link(struct jr_nic *n, int on) {
  if (!n || !n->p) return -EINVAL;
  if (on && (n->p->kind != JR_KIND_MEMIF || n->rx_slot < 14u + 65535u)) return -EOPNOTSUPP;
  n->gso_link = on != 0;
  set_offload(n, JR_OFF_TSO6, n->gso_link);
  return 0;
}

/**
 * Gives a GSO link doorbells: `path` (created if missing, 4 KB) is mapped by both NIC servers of
 * the link, `side` 0 for the memif server, 1 for the client. DPDK 22.11's memif has no Rx
 * interrupt an application can wait on, so an idle memif server would poll; with the doorbells
 * it sleeps (jr_nic_wait_link) until its TCP/IP server or the other NIC server rings. 0, or
 * -errno.
 */
EXPORT int jr_nic_link_bell(struct jr_nic *n, const char *path, int side) {
  if (!n || !path || (side != 0 && side != 1) || n->lk_map) return -EINVAL;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || (st.st_size < 4096 && ftruncate(fd, 4096) != 0)) {
    int e = errno;
    close(fd);
    return -e;
  }
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return -errno;
  uint32_t *w = p; /* a side's words 64 bytes apart */
  n->lk_map = w;
  n->lk_bell = w + 16 * side;
  n->lk_sleeping = n->lk_bell + 1;
  n->lk_peer_bell = w + 16 * (1 - side);
  n->lk_peer_sleeping = n->lk_peer_bell + 1;
  return 0;
}

/* After frames went out on a GSO link: wakes the other NIC server if it sleeps. The fence pairs
 * with the one in jr_nic_link_arm: either the sleeper's last rx poll sees the frames or this
 * sees it sleeping. */
static void link_ring(struct jr_nic *n) {
  atomic_thread_fence(memory_order_seq_cst);
  if (__atomic_load_n(n->lk_peer_sleeping, __ATOMIC_SEQ_CST)) {
    __atomic_fetch_add(n->lk_peer_bell, 1, __ATOMIC_SEQ_CST);
    jr_futex_wake(n->lk_peer_bell);
  }
}

/** Arms (1) or disarms (0) the link doorbell. Arm, then poll the port once more, then
 * jr_nic_wait_link. 0, or -ENODEV without doorbells. */
EXPORT int jr_nic_link_arm(struct jr_nic *n, int on) {
  if (!n || !n->lk_map) return -ENODEV;
  if (on) {
    n->lk_seen = __atomic_load_n(n->lk_bell, __ATOMIC_SEQ_CST);
    __atomic_store_n(n->lk_sleeping, 1, __ATOMIC_SEQ_CST);
    atomic_thread_fence(memory_order_seq_cst);
  } else {
    __atomic_store_n(n->lk_sleeping, 0, __ATOMIC_SEQ_CST);
  }
  return 0;
}

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

/** Sleeps until the TCP side publishes frames (TX doorbell), the other NIC server rings (link
 * doorbell, armed before), a kick, or timeout_us; disarms. 1 if frames wait on TX, else 0.
 * Blocking: call it off the JS thread. */
EXPORT int jr_nic_wait_link(struct jr_nic *n, uint32_t timeout_us) {
  if (!n || !n->lk_map) return -ENODEV;
  uint8_t *tx = n->ring[JR_RING_TX];
  uint32_t *bell = u32at(tx, JR_R_BELL), *sleeping = u32at(tx, JR_R_SLEEPING);
  uint32_t b = __atomic_load_n(bell, __ATOMIC_ACQUIRE);
  __atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
  atomic_thread_fence(memory_order_seq_cst);
  if (__atomic_load_n(u32at(tx, JR_R_HEAD), __ATOMIC_ACQUIRE) == n->tx_tail) {
    struct futex_waitv w[2];
    memset(w, 0, sizeof w);
    w[0].val = b;
    w[0].uaddr = (uintptr_t)bell;
    w[0].flags = FUTEX_32;
    w[1].val = n->lk_seen;
    w[1].uaddr = (uintptr_t)n->lk_bell;
    w[1].flags = FUTEX_32;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* futex_waitv's timeout is absolute */
    ts.tv_sec += timeout_us / 1000000u;
    ts.tv_nsec += (long)(timeout_us % 1000000u) * 1000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    syscall(SYS_futex_waitv, w, 2u, 0u, &ts, CLOCK_MONOTONIC);
  }
  __atomic_store_n(sleeping, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(n->lk_sleeping, 0, __ATOMIC_SEQ_CST);
  return __atomic_load_n(u32at(tx, JR_R_HEAD), __ATOMIC_ACQUIRE) != n->tx_tail;
}

EXPORT void jr_nic_detach(struct jr_nic *n) {
  if (!n) return;
  if (n->watch_fd >= 0 && !n->watch_intr) close(n->watch_fd);
  if (n->kick_fd >= 0) close(n->kick_fd);
  if (n->vnet_fd >= 0) close(n->vnet_fd);
  if (n->rx_fd >= 0) close(n->rx_fd);
  if (n->lk_map) munmap(n->lk_map, 4096);
  free(n);
}

/** Sets (buf != NULL) or clears the capture buffer. The caller drains it between calls. */
EXPORT void jr_nic_capture(struct jr_nic *n, uint8_t *buf, uint64_t len) {
  n->cap_buf = buf;
  n->cap_len = buf ? len : 0;
  if (buf && len >= 8) *(uint64_t *)buf = 8;
}

static inline void count(struct jr_nic *n, int c, uint64_t v) { n->cnt[c] += v; }

static uint64_t now_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void capture(struct jr_nic *n, const struct rte_mbuf *m, uint32_t dir, uint64_t ts) {
  uint64_t *used = (uint64_t *)n->cap_buf;
  uint32_t len = m->pkt_len;
  uint32_t caplen = len > 65535 ? 65535 : len;
  uint64_t need = JR_CAP_HDR + ((caplen + 7u) & ~7u);
  if (*used > n->cap_len || n->cap_len - *used < need) {
    count(n, JR_C_CAPTURE_LOST, 1);
    return;
  }
  uint8_t *r = n->cap_buf + *used;
  *(uint64_t *)r = ts;
  *u32at(r, 8) = caplen;
  *u32at(r, 12) = len;
  *u32at(r, 16) = dir;
  *u32at(r, 20) = 0;
  const void *src = rte_pktmbuf_read(m, 0, caplen, r + JR_CAP_HDR);
  if (src != r + JR_CAP_HDR) memcpy(r + JR_CAP_HDR, src, caplen);
  *used += need;
  count(n, JR_C_CAPTURED, 1);
}

static void maybe_wake(struct jr_nic *n, uint8_t *ring) {
  atomic_thread_fence(memory_order_seq_cst);
  if (__atomic_load_n(u32at(ring, JR_R_SLEEPING), __ATOMIC_RELAXED)) {
    __atomic_fetch_add(u32at(ring, JR_R_BELL), 1, __ATOMIC_SEQ_CST);
    jr_futex_wake(u32at(ring, JR_R_BELL));
    count(n, JR_C_WAKEUPS, 1);
  }
}

/* Publishes an rx burst: RX's head before RX_FREE's tail, so that a buffer taken from RX_FREE
 * is in one ring or both for a reader of RX_FREE's tail then RX's head (a restarted TCP/IP
 * server taking back the buffers its previous incarnation held, nic_link.ts reclaim). */
static void publish_rx(struct jr_nic *n, uint8_t *rx, uint8_t *rf, int moved) {
  if (moved) __atomic_store_n(u32at(rx, JR_R_HEAD), n->rx_head, __ATOMIC_RELEASE);
  __atomic_store_n(u32at(rf, JR_R_TAIL), n->rxf_tail, __ATOMIC_RELEASE);
  if (moved) maybe_wake(n, rx);
}

/* ---------------------------------------------------------------- rx */

static void tx_csum(struct rte_mbuf *m, uint32_t l2, uint32_t l3, uint8_t proto);

/* Verifies the IPv4 header and TCP/UDP (over IPv4 or IPv6) checksums of a single-segment frame;
 * fills packet_type and header lengths for GRO (IPv4). Returns JR_F_RX_CSUM_OK,
 * JR_F_RX_CSUM_BAD or 0 (not TCP/UDP). */
static uint16_t rx_classify(struct rte_mbuf *m) {
  struct rte_net_hdr_lens hl;
  uint32_t pt = rte_net_get_ptype(m, &hl, RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
  m->packet_type = 0;
  if (m->nb_segs != 1) return 0;
  uint32_t l4 = pt & RTE_PTYPE_L4_MASK;
  if (l4 != RTE_PTYPE_L4_TCP && l4 != RTE_PTYPE_L4_UDP) return 0;
  if (hl.l2_len + hl.l3_len + hl.l4_len > m->data_len) return 0;
  if (RTE_ETH_IS_IPV6_HDR(pt)) {
    /* Verified and flagged; not coalesced (DPDK 22.11's GRO is IPv4 only). */
    struct rte_ipv6_hdr *ip6 = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, hl.l2_len);
    uint32_t plen = rte_be_to_cpu_16(ip6->payload_len);
    if (hl.l3_len != sizeof *ip6 || plen < hl.l4_len ||
        hl.l2_len + sizeof *ip6 + plen > m->data_len)
      return 0;
    return rte_ipv6_udptcp_cksum_verify(ip6, (const uint8_t *)ip6 + hl.l3_len) == 0
               ? JR_F_RX_CSUM_OK
               : JR_F_RX_CSUM_BAD;
  }
  if (!RTE_ETH_IS_IPV4_HDR(pt)) return 0;
  struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, hl.l2_len);
  uint16_t tot = rte_be_to_cpu_16(ip->total_length);
  if (tot < hl.l3_len + hl.l4_len || hl.l2_len + tot > m->data_len) return 0;
  if (rte_raw_cksum(ip, hl.l3_len) != 0xffff) return JR_F_RX_CSUM_BAD;
  if (rte_ipv4_udptcp_cksum_verify(ip, (const uint8_t *)ip + hl.l3_len) != 0)
    return JR_F_RX_CSUM_BAD;
  m->packet_type = pt;
  m->l2_len = hl.l2_len;
  m->l3_len = hl.l3_len;
  m->l4_len = hl.l4_len;
  return JR_F_RX_CSUM_OK;
}

/* ---------------------------------------------------------------- kernel GRO (af_packet rx) */

static int set_filter(int fd, uint32_t keep);
static int ethtool_set(int fd, const char *ifname, uint32_t cmd, uint32_t v);
static void capture_flat(struct jr_nic *n, const uint8_t *h, uint32_t hlen, const uint8_t *pl,
                         uint32_t plen, uint32_t dir, uint64_t ts);

/* Verifies the checksums of a received TCP/UDP frame the kernel did not vouch for (flat
 * buffer). Returns JR_F_RX_CSUM_OK, JR_F_RX_CSUM_BAD or 0 (not TCP/UDP over IP, or short). */
static uint16_t flat_verify(const uint8_t *f, uint32_t len) {
  if (len < 14 + 20) return 0;
  const uint8_t *ip = f + 14;
  if (f[12] == 0x08 && f[13] == 0x00) {
    uint32_t hl = (ip[0] & 15u) * 4u, tot = ((uint32_t)ip[2] << 8) | ip[3];
    if ((ip[0] >> 4) != 4 || hl < 20 || tot < hl + 8 || 14 + tot > len) return 0;
    if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return 0; /* a fragment */
    if (ip[9] != IPPROTO_TCP && ip[9] != IPPROTO_UDP) return 0;
    if (ip[9] == IPPROTO_TCP && tot < hl + 20) return 0;
    if (rte_raw_cksum(ip, hl) != 0xffff) return JR_F_RX_CSUM_BAD;
    return rte_ipv4_udptcp_cksum_verify((const struct rte_ipv4_hdr *)ip, ip + hl) == 0
               ? JR_F_RX_CSUM_OK
               : JR_F_RX_CSUM_BAD;
  }
  if (f[12] == 0x86 && f[13] == 0xdd && len >= 14 + 40 + 8) {
    uint32_t plen = ((uint32_t)ip[4] << 8) | ip[5];
    if ((ip[0] >> 4) != 6 || (ip[6] != IPPROTO_TCP && ip[6] != IPPROTO_UDP)) return 0;
    if (plen < (ip[6] == IPPROTO_TCP ? 20u : 8u) || 14 + 40 + plen > len) return 0;
    return rte_ipv6_udptcp_cksum_verify((const struct rte_ipv6_hdr *)ip, ip + 40) == 0
               ? JR_F_RX_CSUM_OK
               : JR_F_RX_CSUM_BAD;
  }
  return 0;
}

/* Binds packet socket `fd` to interface `idx` for `protocol` (network order; 0: none).
 * 0, or -1 with errno. */
static int bind_ifindex(int fd, unsigned idx, uint16_t protocol) {
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = protocol;
  sll.sll_ifindex = (int)idx;
  return bind(fd, (struct sockaddr *)&sll, sizeof sll);
}

/**
 * af_packet ports with a GRO region: receives through a packet socket with PACKET_VNET_HDR
 * straight into the region's rx buffers, and turns on GRO on the interface, so the kernel
 * coalesces a TCP flow's segments (verifying their checksums) before this process sees them:
 * one frame of up to 64 KB instead of ~44, no copy in this process, no rte_gro. The PMD's own
 * socket gets a filter that keeps nothing (it still sends what the kernel-GSO socket does not).
 * Returns 0, or -errno (the PMD path stays).
 */
EXPORT int jr_nic_kernel_gro(struct jr_nic *n) {
  if (!n || !n->p || n->p->kind != JR_KIND_AF_PACKET || !n->p->ifname[0]) return -ENODEV;
  if (n->rx_fd >= 0) return 0;
  /* Whole coalesced frames only: rx buffers of at least 14 + 65535 bytes. */
  if (!n->gro || n->rx_slot < 14u + 65535u || afp_pmd_fd < 0) return -EOPNOTSUPP;
  unsigned idx = if_nametoindex(n->p->ifname);
  if (idx == 0) return -errno;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return -errno;
  int one = 1, rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) goto fail;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind_ifindex(fd, idx, htons(ETH_P_ALL)) != 0) goto fail;
  if (set_filter(afp_pmd_fd, 0) != 0) goto fail;
  ethtool_set(fd, n->p->ifname, ETHTOOL_SGRO, 1); /* best effort: else frames come one by one */
  n->rx_fd = fd;
  return 0;
fail: {
  int e = errno;
  close(fd);
  return -e;
}
}

/* jr_nic_rx for the kernel-GRO socket: frames land in rx buffers of RX_FREE. */
static int rx_vnet(struct jr_nic *n, uint32_t max) {
  uint8_t *rx = n->ring[JR_RING_RX], *rf = n->ring[JR_RING_RX_FREE];
  uint32_t rx_tail = __atomic_load_n(u32at(rx, JR_R_TAIL), __ATOMIC_ACQUIRE);
  uint32_t rf_head = __atomic_load_n(u32at(rf, JR_R_HEAD), __ATOMIC_ACQUIRE);
  if (rf_head - n->rxf_tail > n->cap) {
    count(n, JR_C_BAD_INDEX, 1);
    rf_head = n->rxf_tail; /* garbage: take nothing */
  }
  uint32_t inflight = n->rx_head - rx_tail;
  if (inflight > n->cap) {
    count(n, JR_C_BAD_INDEX, 1);
    inflight = n->cap;
  }
  if (max > JR_VNET_BATCH) max = JR_VNET_BATCH;
  if (max > n->cap - inflight) max = n->cap - inflight;
  /* Spinning with nothing to receive: a syscall on every 8th poll only (arming the watch
   * resets this, so the last poll before sleeping always looks). */
  if (n->rx_idle > 64 && (n->rx_idle++ & 7) != 0) return 0;
  /* Buffers are peeked at on RX_FREE and only those filled are taken (the tail moves past
   * them), so a crash loses none; buffers of refused frames are stashed for the next call.
   * Candidates: first the stash's (bit set in `stashed`), then RX_FREE's (ends[]: the ring
   * position after each). */
  uint32_t k = 0, pos = n->rxf_tail, ring_k = 0;
  uint32_t offs[JR_VNET_BATCH], ends[JR_VNET_BATCH];
  uint64_t stashed = 0;
  while (k < max && (n->rx_nstash > 0 || pos != rf_head)) {
    uint32_t off, end = 0;
    if (n->rx_nstash > 0) {
      off = n->rx_stash[--n->rx_nstash];
      stashed |= 1ull << k;
    } else {
      uint8_t *d = rf + JR_R_DESC + (pos & n->mask) * JR_DESC_SIZE;
      off = __atomic_load_n(u32at(d, JR_D_OFF), __ATOMIC_RELAXED);
      pos++;
      if (off < n->rx_pool || off >= n->rx_pool + n->rx_slot * n->rx_slots ||
          (off - n->rx_pool) % n->rx_slot != 0) {
        if (ring_k == 0) { /* nothing before it to keep: consumed now */
          count(n, JR_C_FREE_BAD_DESC, 1);
          n->rxf_tail = pos;
        }
        continue;
      }
      end = pos;
      ring_k++;
    }
    offs[k] = off;
    ends[k] = end;
    struct iovec *iov = n->vnet_iov[k];
    iov[0].iov_base = &n->vnet_vh[k];
    iov[0].iov_len = sizeof n->vnet_vh[k];
    iov[1].iov_base = n->base + off;
    iov[1].iov_len = n->rx_slot;
    struct msghdr *m = &n->vnet_msg[k].msg_hdr;
    memset(m, 0, sizeof *m);
    m->msg_iov = iov;
    m->msg_iovlen = 2;
    k++;
  }
  int got = k > 0 ? recvmmsg(n->rx_fd, n->vnet_msg, k, MSG_DONTWAIT, NULL) : 0;
  if (got < 0) got = 0;
  n->rx_idle = got > 0 ? 0 : n->rx_idle + 1;
  /* Unused candidates: the stash's go back to it, RX_FREE's stay there. */
  for (uint32_t i = (uint32_t)got; i < k; i++)
    if (stashed & (1ull << i)) n->rx_stash[n->rx_nstash++] = offs[i];
  uint64_t ts = n->cap_buf && got > 0 ? now_realtime_ns() : 0;
  int moved = 0;
  for (uint32_t i = 0; i < (uint32_t)got; i++) {
    uint32_t off = offs[i];
    if (!(stashed & (1ull << i))) n->rxf_tail = ends[i];
    struct virtio_net_hdr *vh = &n->vnet_vh[i];
    uint32_t ml = n->vnet_msg[i].msg_len;
    if ((n->vnet_msg[i].msg_hdr.msg_flags & MSG_TRUNC) || ml < sizeof *vh + 14 ||
        ml > sizeof *vh + n->rx_slot) {
      if (n->vnet_msg[i].msg_hdr.msg_flags & MSG_TRUNC) count(n, JR_C_RX_TOO_BIG, 1);
      /* Its buffer is used again next time (lost only if this process dies meanwhile). */
      if (n->rx_nstash < JR_STASH) n->rx_stash[n->rx_nstash++] = off;
      continue;
    }
    uint32_t len = ml - (uint32_t)sizeof *vh;
    const uint8_t *f = n->base + off;
    uint16_t fl;
    if (vh->flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
      /* Verified by the kernel (GRO), or made by a local stack with a partial checksum that
       * nothing between it and us could have damaged. */
      fl = JR_F_RX_CSUM_OK;
    } else {
      fl = flat_verify(f, len);
      if (fl == JR_F_RX_CSUM_BAD) count(n, JR_C_RX_CSUM_BAD, 1);
    }
    if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE && (fl & JR_F_RX_CSUM_OK)) {
      fl |= JR_F_RX_GRO;
      if (vh->gso_size) count(n, JR_C_GRO_MERGED, (len + vh->gso_size - 1) / vh->gso_size - 1);
    }
    if (n->cap_buf) capture_flat(n, f, len, NULL, 0, 0, ts);
    uint8_t *d = rx + JR_R_DESC + (n->rx_head & n->mask) * JR_DESC_SIZE;
    *u32at(d, JR_D_OFF) = off;
    *u32at(d, JR_D_LEN) = len;
    *(uint16_t *)(d + JR_D_FLAGS) = fl;
    *(uint16_t *)(d + JR_D_MSS) = 0;
    n->rx_head++;
    moved++;
    count(n, JR_C_RX_FRAMES, 1);
    count(n, JR_C_RX_BYTES, len);
  }
  publish_rx(n, rx, rf, moved);
  return moved;
}

/* Whether DPDK 22.11's TCP/IPv4 GRO takes this frame into its table: rx_classify set its
 * IPv4/TCP packet type (checksums right), its TCP flags are ACK alone, or ACK and PSH (then
 * gro_in_order ends a run with it), and it carries data. 2 for ACK|PSH, 1 for ACK, else 0. */
static int gro_kind(const struct rte_mbuf *m) {
  if (!RTE_ETH_IS_IPV4_HDR(m->packet_type) ||
      (m->packet_type & RTE_PTYPE_L4_MASK) != RTE_PTYPE_L4_TCP)
    return 0;
  const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, m->l2_len);
  const struct rte_tcp_hdr *t =
      rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, m->l2_len + m->l3_len);
  if (rte_be_to_cpu_16(ip->total_length) <= m->l3_len + m->l4_len) return 0; /* no data */
  if (t->tcp_flags == RTE_TCP_ACK_FLAG) return 1;
  if (t->tcp_flags == (RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG)) return 2;
  return 0;
}

/* The ones' complement sum (folded, not inverted) of bytes [off, pkt_len) of a chain. Right for
 * segments of odd length, unlike DPDK 22.11's rte_raw_cksum_mbuf (it byte-swaps a segment's
 * unfolded 32-bit sum truncated to 16 bits): GRO chains segments of any payload length. */
static uint16_t chain_sum(const struct rte_mbuf *m, uint32_t off) {
  uint32_t sum = 0, done = 0;
  for (; m; m = m->next) {
    uint32_t len = m->data_len;
    if (off >= len) {
      off -= len;
      continue;
    }
    uint32_t s = rte_raw_cksum(rte_pktmbuf_mtod_offset(m, const uint8_t *, off), len - off);
    if (done & 1) s = rte_bswap16((uint16_t)s);
    sum += s;
    done += len - off;
    off = 0;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* Makes the IPv4 and TCP checksums of a frame GRO merged (a chain) right again. */
static void gro_csum(struct rte_mbuf *m) {
  struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, m->l2_len);
  struct rte_tcp_hdr *t = rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, m->l2_len + m->l3_len);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  t->cksum = 0;
  uint32_t sum = (uint32_t)rte_ipv4_phdr_cksum(ip, 0) + chain_sum(m, m->l2_len + m->l3_len);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  t->cksum = (uint16_t)~sum;
}

/**
 * Receive coalescing that keeps each flow's order. DPDK 22.11's rte_gro_reassemble_burst puts
 * the frames it does not take (flags other than ACK, e.g. PSH; no data; not TCP/IPv4) after
 * every merged one of the burst: a data segment with PSH came out behind the segments that
 * followed it (the receiver saw reordering: fast retransmits, nearly all undone as spurious).
 * Here the burst is cut into runs of frames GRO takes, each reassembled alone, and a frame it
 * does not take stays where it was, between the runs. A run may end with one ACK|PSH segment:
 * its PSH is cleared for the reassembly (so that it merges with the run's segments before it)
 * and set again on whatever frame came out holding it (its checksums are redone if merged).
 * Returns the frames left in pk[0..].
 */
static uint16_t gro_in_order(struct rte_mbuf **pk, uint16_t got) {
  struct rte_gro_param gp = {.gro_types = RTE_GRO_TCP_IPV4,
                             .max_flow_num = JR_BURST,
                             .max_item_per_flow = JR_BURST};
  uint16_t cnt = 0, i = 0;
  while (i < got) {
    uint16_t j = i;
    int k = 0;
    while (j < got && (k = gro_kind(pk[j])) == 1) j++;
    struct rte_mbuf *psh = NULL;
    if (k == 2) {
      psh = pk[j++];
      rte_pktmbuf_mtod_offset(psh, struct rte_tcp_hdr *, psh->l2_len + psh->l3_len)->tcp_flags =
          RTE_TCP_ACK_FLAG;
    }
    uint16_t run = (uint16_t)(j - i);
    uint16_t out = run > 1 ? rte_gro_reassemble_burst(pk + i, run, &gp) : run;
    if (psh) {
      for (uint16_t o = i; o < i + out; o++) {
        struct rte_mbuf *s = pk[o];
        while (s && s != psh) s = s->next;
        if (!s) continue;
        struct rte_mbuf *h = pk[o];
        rte_pktmbuf_mtod_offset(h, struct rte_tcp_hdr *, h->l2_len + h->l3_len)->tcp_flags |=
            RTE_TCP_PSH_FLAG;
        break;
      }
    }
    memmove(pk + cnt, pk + i, out * sizeof *pk);
    cnt = (uint16_t)(cnt + out);
    if (j == i) pk[cnt++] = pk[j++]; /* not for GRO: in its place */
    i = j;
  }
  return cnt;
}

/* Whether a frame from a GSO link (its headers in the first segment) is TCP or UDP over IPv4
 * (not a fragment) or IPv6 (no extension header), with IP lengths inside the frame: its
 * checksums are partial and taken as right, the link being memory (jr_nic_gso_link). */
static int link_l4(const struct rte_mbuf *m) {
  const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
  if (m->data_len < 14 + 20) return 0;
  const uint8_t *ip = f + 14;
  if (f[12] == 0x08 && f[13] == 0x00) {
    uint32_t hl = (ip[0] & 15u) * 4u, tot = ((uint32_t)ip[2] << 8) | ip[3];
    if ((ip[0] >> 4) != 4 || hl < 20 || tot < hl + 8 || 14 + tot > m->pkt_len) return 0;
    if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return 0;
    return ip[9] == IPPROTO_TCP || ip[9] == IPPROTO_UDP;
  }
  if (f[12] == 0x86 && f[13] == 0xdd && m->data_len >= 14 + 40) {
    uint32_t plen = ((uint32_t)ip[4] << 8) | ip[5];
    if ((ip[0] >> 4) != 6 || plen < 8 || 14 + 40 + plen > m->pkt_len) return 0;
    return ip[6] == IPPROTO_TCP || ip[6] == IPPROTO_UDP;
  }
  return 0;
}

/**
 * One rx burst: up to max frames from the port onto the RX ring, each copied into a buffer taken
 * from RX_FREE. Verifies checksums (flagging, not dropping) and merges TCP segments with GRO when
 * enabled. Returns the number of frames put on the ring (>= 0) or -errno.
 */
EXPORT int jr_nic_rx(struct jr_nic *n, uint32_t max) {
  if (!n || !n->p) return -EINVAL;
  if (n->rx_fd >= 0) return rx_vnet(n, max);
  struct rte_mbuf *pk[JR_BURST];
  uint16_t flags[JR_BURST];
  if (max > JR_BURST) max = JR_BURST;
  uint16_t got = rte_eth_rx_burst(n->p->port_id, 0, pk, (uint16_t)max);
  if (got == 0) return 0;
  uint64_t ts = n->cap_buf ? now_realtime_ns() : 0;
  for (uint16_t i = 0; i < got; i++) {
    if (n->cap_buf) capture(n, pk[i], 0, ts);
    pk[i]->ol_flags = 0;
    if (n->gso_link) {
      pk[i]->hash.usr = link_l4(pk[i]) ? JR_F_RX_CSUM_OK : 0;
      continue;
    }
    uint16_t f = rx_classify(pk[i]);
    if (f == JR_F_RX_CSUM_BAD) count(n, JR_C_RX_CSUM_BAD, 1);
    pk[i]->hash.usr = f; /* carried through GRO on the first segment */
  }
  uint16_t cnt = got;
  if (n->gro && !n->gso_link && got > 1) {
    cnt = gro_in_order(pk, got);
    if (cnt < got) count(n, JR_C_GRO_MERGED, got - cnt);
  }
  for (uint16_t i = 0; i < cnt; i++) {
    flags[i] = (uint16_t)pk[i]->hash.usr;
    if (pk[i]->nb_segs > 1 && flags[i] == JR_F_RX_CSUM_OK && !n->gso_link) {
      /* GRO merged this one (every part was verified before): make its IPv4 and TCP
       * checksums right again so that it reads as one valid segment. */
      flags[i] |= JR_F_RX_GRO;
      gro_csum(pk[i]);
    }
  }
  uint8_t *rx = n->ring[JR_RING_RX], *rf = n->ring[JR_RING_RX_FREE];
  uint32_t rx_tail = __atomic_load_n(u32at(rx, JR_R_TAIL), __ATOMIC_ACQUIRE);
  uint32_t rf_head = __atomic_load_n(u32at(rf, JR_R_HEAD), __ATOMIC_ACQUIRE);
  if (rf_head - n->rxf_tail > n->cap) {
    count(n, JR_C_BAD_INDEX, 1);
    rf_head = n->rxf_tail; /* garbage: take nothing */
  }
  uint32_t inflight = n->rx_head - rx_tail;
  if (inflight > n->cap) {
    count(n, JR_C_BAD_INDEX, 1);
    inflight = n->cap; /* garbage: treat as full */
  }
  int moved = 0;
  for (uint16_t i = 0; i < cnt; i++) {
    struct rte_mbuf *m = pk[i];
    uint32_t len = m->pkt_len;
    if (len > n->rx_slot) {
      count(n, JR_C_RX_TOO_BIG, 1);
      rte_pktmbuf_free(m);
      continue;
    }
    if (inflight >= n->cap) {
      count(n, JR_C_RX_RING_FULL, 1);
      rte_pktmbuf_free(m);
      continue;
    }
    uint32_t off = 0;
    int have = 0;
    while (n->rxf_tail != rf_head) {
      uint8_t *d = rf + JR_R_DESC + (n->rxf_tail & n->mask) * JR_DESC_SIZE;
      off = __atomic_load_n(u32at(d, JR_D_OFF), __ATOMIC_RELAXED);
      n->rxf_tail++;
      if (off >= n->rx_pool && off < n->rx_pool + n->rx_slot * n->rx_slots &&
          (off - n->rx_pool) % n->rx_slot == 0) {
        have = 1;
        break;
      }
      count(n, JR_C_FREE_BAD_DESC, 1);
    }
    if (!have) {
      count(n, JR_C_RX_NO_BUF, 1);
      rte_pktmbuf_free(m);
      continue;
    }
    uint8_t *dst = n->base + off;
    for (struct rte_mbuf *s = m; s; s = s->next) {
      memcpy(dst, rte_pktmbuf_mtod(s, void *), s->data_len);
      dst += s->data_len;
    }
    uint8_t *d = rx + JR_R_DESC + (n->rx_head & n->mask) * JR_DESC_SIZE;
    *u32at(d, JR_D_OFF) = off;
    *u32at(d, JR_D_LEN) = len;
    *(uint16_t *)(d + JR_D_FLAGS) = flags[i];
    *(uint16_t *)(d + JR_D_MSS) = 0;
    n->rx_head++;
    inflight++;
    moved++;
    count(n, JR_C_RX_FRAMES, 1);
    count(n, JR_C_RX_BYTES, len);
    rte_pktmbuf_free(m);
  }
  publish_rx(n, rx, rf, moved);
  return moved;
}

/* ---------------------------------------------------------------- tx */

static void tx_csum(struct rte_mbuf *m, uint32_t l2, uint32_t l3, uint8_t proto) {
  void *l3h = rte_pktmbuf_mtod_offset(m, void *, l2);
  int v6 = (*(uint8_t *)l3h >> 4) == 6;
  struct rte_ipv4_hdr *ip = l3h;
  struct rte_ipv6_hdr *ip6 = l3h;
  if (!v6) {
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
  uint16_t off = (uint16_t)(l2 + l3);
  /* Offset of the checksum field in the transport header (the headers sit in the first
   * segment: the glue copies whole frames, GSO copies headers into its first segment). */
  uint32_t at = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMP &&
      proto != IPPROTO_ICMPV6)
    return;
  uint8_t *ck = rte_pktmbuf_mtod_offset(m, uint8_t *, off + at);
  uint16_t c = 0;
  memcpy(ck, &c, 2);
  if (proto == IPPROTO_ICMP) {
    /* ICMP (RFC 792): no pseudo-header, over the whole message. */
    uint16_t sum = 0;
    rte_raw_cksum_mbuf(m, off, m->pkt_len - off, &sum);
    c = (uint16_t)~sum;
  } else {
    c = v6 ? rte_ipv6_udptcp_cksum_mbuf(m, ip6, off) : rte_ipv4_udptcp_cksum_mbuf(m, ip, off);
    if (proto == IPPROTO_UDP && c == 0) c = 0xffff; /* RFC 768: 0 means "no checksum" */
  }
  memcpy(ck, &c, 2);
}

/* Parses Ethernet + IPv4 or IPv6 (no extension headers) + TCP/UDP/ICMP of a tx frame for
 * offloads. 0 if not offloadable. */
static int tx_parse(const uint8_t *f, uint32_t len, uint32_t *l3, uint32_t *l4, uint8_t *proto) {
  if (len < 14 + 20) return 0;
  const uint8_t *ip = f + 14;
  uint32_t hl, tot;
  if (f[12] == 0x08 && f[13] == 0x00) {
    hl = (ip[0] & 15u) * 4u;
    if ((ip[0] >> 4) != 4 || hl < 20 || 14 + hl > len) return 0;
    tot = ((uint32_t)ip[2] << 8) | ip[3];
    if (tot < hl || 14 + tot > len) return 0;
    if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return 0; /* fragment */
    *proto = ip[9];
  } else if (f[12] == 0x86 && f[13] == 0xdd) {
    hl = 40;
    if (len < 14 + 40 || (ip[0] >> 4) != 6) return 0;
    tot = 40 + (((uint32_t)ip[4] << 8) | ip[5]);
    if (14 + tot > len) return 0;
    *proto = ip[6];
    if (*proto != IPPROTO_TCP && *proto != IPPROTO_UDP && *proto != IPPROTO_ICMPV6) return 0;
  } else {
    return 0;
  }
  *l3 = hl;
  if (*proto == IPPROTO_TCP) {
    if (14 + hl + 20 > 14 + tot) return 0;
    uint32_t doff = (f[14 + hl + 12] >> 4) * 4u;
    if (doff < 20 || 14 + hl + doff > 14 + tot) return 0;
    *l4 = doff;
  } else if (*proto == IPPROTO_UDP) {
    if (14 + hl + 8 > 14 + tot) return 0;
    *l4 = 8;
  } else if (*proto == IPPROTO_ICMP || *proto == IPPROTO_ICMPV6) {
    if (14 + hl + 4 > 14 + tot) return 0;
    *l4 = 4;
  } else {
    *l4 = 0;
  }
  return 1;
}

/* Copies a chained mbuf into one segment, for ports that cannot send chains (af_xdp). */
static void linearize(struct jr_nic *n, struct rte_mbuf **pm) {
  struct rte_mbuf *m = *pm, *c;
  if (m->nb_segs == 1 || m->pkt_len > n->p->room) return;
  c = rte_pktmbuf_alloc(n->p->pool);
  if (!c) return; /* the port will refuse it and it is counted as dropped */
  char *dst = rte_pktmbuf_append(c, (uint16_t)m->pkt_len);
  const void *src = rte_pktmbuf_read(m, 0, m->pkt_len, dst);
  if (src != dst) memcpy(dst, src, m->pkt_len);
  rte_pktmbuf_free(m);
  *pm = c;
}

/* ---------------------------------------------------------------- kernel GSO (af_packet) */

/* Copies a frame given as headers + payload to the capture buffer. */
static void capture_flat(struct jr_nic *n, const uint8_t *h, uint32_t hlen, const uint8_t *pl,
                         uint32_t plen, uint32_t dir, uint64_t ts) {
  uint64_t *used = (uint64_t *)n->cap_buf;
  uint32_t len = hlen + plen;
  uint32_t caplen = len > 65535 ? 65535 : len;
  uint64_t need = JR_CAP_HDR + ((caplen + 7u) & ~7u);
  if (*used > n->cap_len || n->cap_len - *used < need) {
    count(n, JR_C_CAPTURE_LOST, 1);
    return;
  }
  uint8_t *r = n->cap_buf + *used;
  *(uint64_t *)r = ts;
  *u32at(r, 8) = caplen;
  *u32at(r, 12) = len;
  *u32at(r, 16) = dir;
  *u32at(r, 20) = 0;
  uint32_t a = hlen < caplen ? hlen : caplen;
  memcpy(r + JR_CAP_HDR, h, a);
  if (caplen > a) memcpy(r + JR_CAP_HDR + a, pl, caplen - a);
  *used += need;
  count(n, JR_C_CAPTURED, 1);
}

static int ethtool_set(int fd, const char *ifname, uint32_t cmd, uint32_t v) {
  struct ethtool_value ev = {.cmd = cmd, .data = v};
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  ifr.ifr_data = (void *)&ev;
  return ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? 0 : -errno;
}

/**
 * af_packet ports: sends TCP and UDP frames flagged for offload through a packet socket with
 * PACKET_VNET_HDR instead of the PMD, so a TSO frame leaves as one GSO packet of up to 64 KB
 * (the kernel segments it only where a device needs it; on a veth it reaches the peer's
 * stack whole) and checksums are left to the kernel (CHECKSUM_PARTIAL). With `features`, also
 * turns on scatter-gather, tx checksumming and TSO on the interface, so that the veth passes
 * the GSO packet on instead of segmenting it. Returns 0, or -errno (the PMD path stays).
 */
EXPORT int jr_nic_kernel_gso(struct jr_nic *n, int features) {
  if (!n || !n->p || n->p->kind != JR_KIND_AF_PACKET || !n->p->ifname[0]) return -ENODEV;
  if (n->vnet_fd >= 0) return 0;
  unsigned idx = if_nametoindex(n->p->ifname);
  if (idx == 0) return -errno;
  /* Protocol 0: this socket receives nothing. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1, sndbuf = 4 << 20;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) goto fail;
  /* No PACKET_QDISC_BYPASS: its direct transmit drops a packet the kernel would have to
   * segment (a device without TSO), where dev_queue_xmit segments it. */
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind_ifindex(fd, idx, 0) != 0) goto fail;
  if (features) {
    /* Best effort: without them the kernel segments and checksums in software. */
    ethtool_set(fd, n->p->ifname, ETHTOOL_SSG, 1);
    ethtool_set(fd, n->p->ifname, ETHTOOL_STXCSUM, 1);
    ethtool_set(fd, n->p->ifname, ETHTOOL_STSO, 1);
  }
  n->vnet_fd = fd;
  n->vnet_ifindex = (int)idx;
  set_offload(n, JR_OFF_TSO6, 1);
  return 0;
fail: {
  int e = errno;
  close(fd);
  return -e;
}
}

/* Sends the batched kernel-GSO frames. */
static void vnet_flush(struct jr_nic *n) {
  uint32_t k = n->vnet_k, done = 0;
  n->vnet_k = 0;
  while (done < k) {
    int r = sendmmsg(n->vnet_fd, n->vnet_msg + done, k - done, MSG_DONTWAIT);
    if (r <= 0) {
      /* The socket's buffer is full or the device refused: dropped (TCP sends again). */
      if (r < 0 && errno == EINTR) continue;
      count(n, JR_C_TX_DROPPED, k - done);
      return;
    }
    for (uint32_t i = done; i < done + (uint32_t)r; i++) {
      count(n, JR_C_TX_FRAMES, 1);
      count(n, JR_C_TX_BYTES, n->vnet_msg[i].msg_len - sizeof(struct virtio_net_hdr));
    }
    done += (uint32_t)r;
  }
}

/*
 * Queues one frame of the TX ring (at f, len bytes, flags fl) on the kernel-GSO socket.
 * Returns 1 if taken (queued or refused and counted), 0 if the frame is not for this path (not
 * TCP/UDP, padding after the IP packet): the caller sends it through the PMD. The headers are
 * copied and checked privately; the payload is read by the kernel straight from the region
 * (what the TCP side does to its own payload meanwhile is its own business).
 */
static int vnet_queue(struct jr_nic *n, const uint8_t *f, uint32_t len, uint16_t fl,
                      uint16_t mss, int tso, uint64_t ts) {
  uint32_t i = n->vnet_k;
  uint8_t *h = n->vnet_hdr[i];
  uint32_t hl0 = len < JR_VNET_HDR ? len : JR_VNET_HDR;
  memcpy(h, f, hl0);
  uint32_t l3 = 0, l4 = 0;
  uint8_t proto = 0;
  if (!(fl & JR_F_TX_CSUM) || !tx_parse(h, len, &l3, &l4, &proto)) return 0;
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return 0;
  int v6 = h[12] == 0x86;
  uint32_t tot = v6 ? 40u + (((uint32_t)h[18] << 8) | h[19]) : ((uint32_t)h[16] << 8) | h[17];
  uint32_t hlen = 14 + l3 + l4;
  if (14 + tot != len || hlen > hl0) return 0;
  if (tso && (proto != IPPROTO_TCP || mss < 8 || len - hlen <= mss)) tso = 0;
  if (tso && hlen + mss > (uint32_t)n->p->mtu + RTE_ETHER_HDR_LEN) {
    count(n, JR_C_TX_BAD_DESC, 1);
    return 1;
  }
  uint8_t *l4h = h + 14 + l3;
  uint16_t ck;
  if (!v6) {
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(h + 14);
    ip->hdr_checksum = 0;
    uint16_t c = rte_raw_cksum(ip, l3);
    ip->hdr_checksum = c == 0xffff ? c : (uint16_t)~c;
    ck = rte_ipv4_phdr_cksum(ip, 0);
  } else {
    ck = rte_ipv6_phdr_cksum((struct rte_ipv6_hdr *)(h + 14), 0);
  }
  uint32_t at = proto == IPPROTO_TCP ? 16 : 6;
  memcpy(l4h + at, &ck, 2);
  struct virtio_net_hdr *vh = &n->vnet_vh[i];
  memset(vh, 0, sizeof *vh);
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->csum_start = (uint16_t)(14 + l3);
  vh->csum_offset = (uint16_t)at;
  vh->hdr_len = (uint16_t)hlen;
  if (tso) {
    vh->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    if (l4h[13] & 0x80) vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN; /* CWR: RFC 3168 §6.1.2 */
    vh->gso_size = mss;
  }
  struct sockaddr_ll *sll = &n->vnet_sll[i];
  memset(sll, 0, sizeof *sll);
  sll->sll_family = AF_PACKET;
  sll->sll_protocol = v6 ? htons(ETH_P_IPV6) : htons(ETH_P_IP);
  sll->sll_ifindex = n->vnet_ifindex;
  sll->sll_halen = 6;
  memcpy(sll->sll_addr, h, 6);
  struct iovec *iov = n->vnet_iov[i];
  iov[0].iov_base = vh;
  iov[0].iov_len = sizeof *vh;
  iov[1].iov_base = h;
  iov[1].iov_len = hlen;
  iov[2].iov_base = (void *)(f + hlen);
  iov[2].iov_len = len - hlen;
  struct msghdr *m = &n->vnet_msg[i].msg_hdr;
  memset(m, 0, sizeof *m);
  m->msg_name = sll;
  m->msg_namelen = sizeof *sll;
  m->msg_iov = iov;
  m->msg_iovlen = len > hlen ? 3 : 2;
  n->vnet_msg[i].msg_len = 0;
  if (n->cap_buf) capture_flat(n, h, hlen, f + hlen, len - hlen, 1, ts);
  if (tso) count(n, JR_C_GSO_SEGMENTS, (len - hlen + mss - 1) / mss);
  if (++n->vnet_k == JR_VNET_BATCH) vnet_flush(n);
  return 1;
}

static int tx_flush(struct jr_nic *n, uint32_t k) {
  uint32_t sent = 0;
  for (int tries = 0; sent < k && tries < 64; tries++) {
    uint16_t s = rte_eth_tx_burst(n->p->port_id, 0, n->out + sent,
                                  (uint16_t)((k - sent) > 0xffff ? 0xffff : k - sent));
    sent += s;
    if (s == 0 && tries > 8) break;
  }
  for (uint32_t i = sent; i < k; i++) rte_pktmbuf_free(n->out[i]);
  if (sent < k) count(n, JR_C_TX_DROPPED, k - sent);
  return (int)sent;
}

/**
 * One tx burst: up to max descriptors from the TX ring to the port. Frames are copied into
 * mbufs, checksummed (JR_F_TX_CSUM) or segmented (JR_F_TX_TSO, with the descriptor's mss) as
 * asked, and their buffers go back on TX_FREE at once. Returns descriptors consumed or -errno.
 */
EXPORT int jr_nic_tx(struct jr_nic *n, uint32_t max) {
  if (!n || !n->p) return -EINVAL;
  uint8_t *tx = n->ring[JR_RING_TX], *tf = n->ring[JR_RING_TX_FREE];
  uint32_t head = __atomic_load_n(u32at(tx, JR_R_HEAD), __ATOMIC_ACQUIRE);
  uint32_t avail = head - n->tx_tail;
  if (avail == 0) return 0;
  if (avail > n->cap) {
    count(n, JR_C_BAD_INDEX, 1);
    n->tx_tail = head; /* garbage: skip it all, buffers in it are lost to the peer */
    __atomic_store_n(u32at(tx, JR_R_TAIL), n->tx_tail, __ATOMIC_RELEASE);
    return 0;
  }
  if (avail > max) avail = max;
  uint32_t tf_tail = __atomic_load_n(u32at(tf, JR_R_TAIL), __ATOMIC_ACQUIRE);
  uint32_t k = 0, done = 0, bytes = 0;
  uint64_t ts = n->cap_buf ? now_realtime_ns() : 0;
  /* The largest frame the port carries whole: the MTU and an untagged Ethernet header (the
   * engine sends no VLAN tags). With 18 (room for a tag), a TSO frame 1-4 bytes past one
   * segment went out whole and the port dropped it: a retransmission ~235 ms later. */
  uint32_t maxframe = (uint32_t)n->p->mtu + RTE_ETHER_HDR_LEN;
  for (; done < avail; done++) {
    if (k + 64 > JR_OUT_MAX) break;
    if (n->txf_head - tf_tail >= n->cap) break; /* peer not taking buffers back: wait */
    uint8_t *d = tx + JR_R_DESC + (n->tx_tail & n->mask) * JR_DESC_SIZE;
    uint32_t off = __atomic_load_n(u32at(d, JR_D_OFF), __ATOMIC_RELAXED);
    uint32_t len = __atomic_load_n(u32at(d, JR_D_LEN), __ATOMIC_RELAXED);
    uint16_t fl = __atomic_load_n((uint16_t *)(d + JR_D_FLAGS), __ATOMIC_RELAXED);
    uint16_t mss = __atomic_load_n((uint16_t *)(d + JR_D_MSS), __ATOMIC_RELAXED);
    n->tx_tail++;
    int slot_ok = off >= n->tx_pool && off < n->tx_pool + n->tx_slot * n->tx_slots &&
                  (off - n->tx_pool) % n->tx_slot == 0;
    if (!slot_ok) {
      count(n, JR_C_TX_BAD_DESC, 1); /* not one of ours: nothing to give back */
      continue;
    }
    const uint8_t *f = n->base + off;
    int ok = len >= 14 && len <= n->tx_slot && (fl & ~(JR_F_TX_CSUM | JR_F_TX_TSO)) == 0;
    int tso = ok && (fl & JR_F_TX_TSO) && len > maxframe;
    if (ok && !tso && len > maxframe) ok = 0;
    if (ok && n->vnet_fd >= 0 && vnet_queue(n, f, len, fl, mss, tso, ts)) {
      /* Queued for the kernel, which copies it before vnet_flush returns (below, before the
       * buffer is published back on TX_FREE). */
      uint8_t *fd = tf + JR_R_DESC + (n->txf_head & n->mask) * JR_DESC_SIZE;
      *u32at(fd, JR_D_OFF) = off;
      *u32at(fd, JR_D_LEN) = n->tx_slot;
      *(uint16_t *)(fd + JR_D_FLAGS) = 0;
      n->txf_head++;
      continue;
    }
    struct rte_mbuf *m = NULL;
    if (ok) {
      m = rte_pktmbuf_alloc(len > n->p->room ? n->p->big_pool : n->p->pool);
      if (!m) count(n, JR_C_TX_DROPPED, 1);
    } else {
      count(n, JR_C_TX_BAD_DESC, 1);
    }
    if (m) {
      char *dst = rte_pktmbuf_append(m, (uint16_t)len);
      if (!dst) {
        rte_pktmbuf_free(m);
        m = NULL;
        count(n, JR_C_TX_DROPPED, 1);
      } else {
        memcpy(dst, f, len);
      }
    }
    /* The frame is copied: its buffer goes back to the TCP side now. */
    uint8_t *fd = tf + JR_R_DESC + (n->txf_head & n->mask) * JR_DESC_SIZE;
    *u32at(fd, JR_D_OFF) = off;
    *u32at(fd, JR_D_LEN) = n->tx_slot;
    *(uint16_t *)(fd + JR_D_FLAGS) = 0;
    n->txf_head++;
    if (!m) continue;
    /* Headers are checked on the private copy, never on shared memory the peer can still
     * change under us. */
    const uint8_t *c = rte_pktmbuf_mtod(m, const uint8_t *);
    uint32_t l3 = 0, l4 = 0;
    uint8_t proto = 0;
    int hdr_ok = !(fl & (JR_F_TX_CSUM | JR_F_TX_TSO)) || tx_parse(c, len, &l3, &l4, &proto);
    /* rte_gso in DPDK 22.11 segments TCP over IPv4 only; a GSO link carries IPv6 whole. */
    if (hdr_ok && tso &&
        (proto != IPPROTO_TCP || (c[12] != 0x08 && !n->gso_link) || mss < 8 ||
         14 + l3 + l4 + mss > maxframe))
      hdr_ok = 0;
    if (!hdr_ok) {
      rte_pktmbuf_free(m);
      count(n, JR_C_TX_BAD_DESC, 1);
      continue;
    }
    if (n->gso_link && (proto == IPPROTO_TCP || proto == IPPROTO_UDP)) {
      /* Whole, with the transport checksum left partial for the other end (which takes it as
       * right): only the IPv4 header's is filled. */
      if (c[12] == 0x08) {
        struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
      }
      n->out[k++] = m;
    } else if (tso) {
      m->l2_len = 14;
      m->l3_len = l3;
      m->l4_len = l4;
      m->ol_flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4;
      m->tso_segsz = mss;
      n->gso.gso_size = (uint16_t)(14 + l3 + l4 + mss);
      int s = rte_gso_segment(m, &n->gso, n->out + k, (uint16_t)(JR_OUT_MAX - k));
      if (s < 0) {
        rte_pktmbuf_free(m);
        count(n, JR_C_TX_DROPPED, 1);
        continue;
      }
      if (s == 0) {
        m->ol_flags = 0;
        tx_csum(m, 14, l3, proto);
        n->out[k++] = m;
      } else {
        rte_pktmbuf_free(m); /* the segments hold references to its payload */
        for (int j = 0; j < s; j++) {
          n->out[k + j]->ol_flags = 0;
          tx_csum(n->out[k + j], 14, l3, proto);
          if (!(n->p->tx_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) linearize(n, &n->out[k + j]);
        }
        k += (uint32_t)s;
        count(n, JR_C_GSO_SEGMENTS, (uint64_t)s);
      }
    } else {
      if (fl & JR_F_TX_CSUM) tx_csum(m, 14, l3, proto);
      n->out[k++] = m;
    }
  }
  if (n->vnet_k) vnet_flush(n);
  /* TX_FREE's head before TX's tail: a buffer on its way back is in one ring or both for a
   * reader of TX's tail then TX_FREE's head (a restarted TCP/IP server taking back the
   * buffers its previous incarnation held, nic_link.ts reclaim). */
  __atomic_store_n(u32at(tf, JR_R_HEAD), n->txf_head, __ATOMIC_RELEASE);
  __atomic_store_n(u32at(tx, JR_R_TAIL), n->tx_tail, __ATOMIC_RELEASE);
  maybe_wake(n, tf);
  if (n->cap_buf)
    for (uint32_t i = 0; i < k; i++) capture(n, n->out[i], 1, ts);
  for (uint32_t i = 0; i < k; i++) bytes += n->out[i]->pkt_len;
  int sent = k ? tx_flush(n, k) : 0;
  if (sent > 0 && n->lk_map) link_ring(n);
  count(n, JR_C_TX_FRAMES, (uint64_t)sent);
  count(n, JR_C_TX_BYTES, sent == (int)k ? bytes : 0);
  return (int)done;
}

/* ---------------------------------------------------------------- sleeping */

/** Sleeps on the TX ring's doorbell until the TCP side publishes frames or timeout_us passes.
 * Returns 1 if frames are waiting, 0 otherwise. Blocking: call it off the JS thread. */
EXPORT int jr_nic_wait_tx(struct jr_nic *n, uint32_t timeout_us) {
  uint8_t *tx = n->ring[JR_RING_TX];
  uint32_t *bell = u32at(tx, JR_R_BELL), *sleeping = u32at(tx, JR_R_SLEEPING);
  uint32_t b = __atomic_load_n(bell, __ATOMIC_ACQUIRE);
  __atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
  atomic_thread_fence(memory_order_seq_cst);
  if (__atomic_load_n(u32at(tx, JR_R_HEAD), __ATOMIC_ACQUIRE) == n->tx_tail)
    jr_futex_wait(bell, b, timeout_us);
  __atomic_store_n(sleeping, 0, __ATOMIC_SEQ_CST);
  return __atomic_load_n(u32at(tx, JR_R_HEAD), __ATOMIC_ACQUIRE) != n->tx_tail;
}

/** Ends a jr_nic_wait_tx in progress (another thread). */
EXPORT void jr_nic_kick_tx(struct jr_nic *n) {
  uint32_t *bell = u32at(n->ring[JR_RING_TX], JR_R_BELL);
  __atomic_fetch_add(bell, 1, __ATOMIC_SEQ_CST);
  jr_futex_wake(bell);
}

/*
 * Rx wake-up watch for af_packet ports: DPDK's af_packet PMD has no Rx interrupts, so a second
 * packet socket on the same interface carries a BPF filter that drops everything while the
 * server is busy and keeps one byte of each frame while it sleeps; poll() on it wakes the server.
 */
static int set_filter(int fd, uint32_t keep) {
  struct sock_filter code[1] = {BPF_STMT(BPF_RET | BPF_K, keep)};
  struct sock_fprog prog = {.len = 1, .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

static void drain(int fd) {
  char b[64];
  while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0) {
  }
}

/** Opens the Rx watch: the Rx queue's interrupt fd where the port has one, else a packet
 * socket on the port's interface. Returns 0, or -errno (then callers poll). */
EXPORT int jr_nic_watch_open(struct jr_nic *n) {
  if (!n->p) return -ENODEV;
  if (n->p->rx_intr) {
    int ifd = rte_eth_dev_rx_intr_ctl_q_get_fd(n->p->port_id, 0);
    if (ifd >= 0) {
      n->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (n->kick_fd < 0) return -errno;
      n->watch_fd = ifd;
      n->watch_intr = 1;
      return 0;
    }
  }
  /* Frames an XDP program redirects never reach packet sockets: no watch for af_xdp. */
  if (!n->p->ifname[0] || n->p->kind == JR_KIND_AF_XDP) return -ENODEV;
  unsigned idx = if_nametoindex(n->p->ifname);
  if (idx == 0) return -errno;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if (set_filter(fd, 0) != 0) goto fail;
#ifdef PACKET_IGNORE_OUTGOING
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
#endif
  (void)one;
  if (bind_ifindex(fd, idx, htons(ETH_P_ALL)) != 0) goto fail;
  n->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (n->kick_fd < 0) goto fail;
  n->watch_fd = fd;
  return 0;
fail: {
  int e = errno;
  close(fd);
  return -e;
}
}

/** Arms (1) or disarms (0) the Rx watch. Arm, then poll the port once more, then wait. */
EXPORT int jr_nic_watch_arm(struct jr_nic *n, int on) {
  if (n->watch_fd < 0) return -ENODEV;
  if (n->watch_intr) {
    int r = on ? rte_eth_dev_rx_intr_enable(n->p->port_id, 0)
               : rte_eth_dev_rx_intr_disable(n->p->port_id, 0);
    if (!on && n->p->kind == JR_KIND_MEMIF) {
      /* memif's interrupt fd is an eventfd: clear it, without ever blocking. */
      struct pollfd pf = {.fd = n->watch_fd, .events = POLLIN};
      uint64_t v;
      if (poll(&pf, 1, 0) > 0 && read(n->watch_fd, &v, sizeof v) < 0) {
      }
    }
    if (r < 0) return r;
  } else {
    if (set_filter(n->watch_fd, on ? 1u : 0u) != 0) return -errno;
    if (!on) drain(n->watch_fd);
  }
  if (on) {
    n->rx_idle = 0; /* the next jr_nic_rx looks at the kernel-GRO socket for sure */
    uint64_t v; /* forget kicks meant for an earlier wait */
    if (read(n->kick_fd, &v, sizeof v) < 0) {
    }
  }
  return 0;
}

/** Waits until the watch sees a frame, a kick arrives, or timeout_ms. 1: frame, 0: otherwise.
 * Blocking: call it off the JS thread. */
EXPORT int jr_nic_watch_wait(struct jr_nic *n, int timeout_ms) {
  if (n->watch_fd < 0) return -ENODEV;
  struct pollfd p[2] = {{.fd = n->watch_fd, .events = POLLIN}, {.fd = n->kick_fd, .events = POLLIN}};
  int r = poll(p, 2, timeout_ms);
  if (r > 0 && (p[1].revents & POLLIN)) {
    uint64_t v;
    if (read(n->kick_fd, &v, sizeof v) < 0) {
    }
  }
  return r > 0 && (p[0].revents & POLLIN) ? 1 : 0;
}

/** Ends a jr_nic_watch_wait in progress. */
EXPORT void jr_nic_watch_kick(struct jr_nic *n) {
  uint64_t one = 1;
  if (n->kick_fd >= 0 && write(n->kick_fd, &one, sizeof one) < 0) {
  }
}

/** Monotonic clock in nanoseconds (for heartbeats). */
EXPORT uint64_t jr_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** Releases DPDK's EAL resources (call last, after closing ports). */
EXPORT int jr_eal_cleanup(void) {
  if (!eal_ready) return 0;
  eal_ready = 0;
  return rte_eal_cleanup();
}

/** How the idle server learns about received frames: 0 it polls, 1 packet-socket watch,
 * 2 the Rx queue's interrupt. */
EXPORT int jr_nic_watch_kind(struct jr_nic *n) {
  if (n->watch_fd < 0) return 0;
  return n->watch_intr ? 2 : 1;
}

/* ---------------------------------------------------------------- af_xdp steering */

/* Finds a map of the XDP program attached to ifindex by name. Returns an fd or -errno. */
static int xdp_map_fd(unsigned ifindex, const char *name) {
  __u32 prog_id = 0;
  int r = bpf_xdp_query_id((int)ifindex, 0, &prog_id);
  if (r < 0) return r;
  if (prog_id == 0) return -ENOENT;
  int pfd = bpf_prog_get_fd_by_id(prog_id);
  if (pfd < 0) return -errno;
  __u32 ids[16];
  struct bpf_prog_info pi;
  memset(&pi, 0, sizeof pi);
  pi.nr_map_ids = 16;
  pi.map_ids = (__u64)(unsigned long)ids;
  __u32 len = sizeof pi;
  r = bpf_obj_get_info_by_fd(pfd, &pi, &len);
  close(pfd);
  if (r < 0) return -errno;
  for (__u32 i = 0; i < pi.nr_map_ids && i < 16; i++) {
    int mfd = bpf_map_get_fd_by_id(ids[i]);
    if (mfd < 0) continue;
    struct bpf_map_info mi;
    memset(&mi, 0, sizeof mi);
    __u32 ml = sizeof mi;
    if (bpf_obj_get_info_by_fd(mfd, &mi, &ml) == 0 && strcmp(mi.name, name) == 0) return mfd;
    close(mfd);
  }
  return -ENOENT;
}

/**
 * Kernel coexistence on an af_xdp port opened with xdp_prog=build/jr_xdp.o: steers IPv4 and
 * ARP for these addresses (network byte order) to the port, everything else to the kernel.
 * Returns 0 or -errno.
 */
EXPORT int jr_port_steer(int h, const uint32_t *addrs, int n) {
  struct jr_port *p = port_of(h);
  if (!p || p->kind != JR_KIND_AF_XDP || !p->ifname[0]) return -EINVAL;
  unsigned idx = if_nametoindex(p->ifname);
  if (idx == 0) return -errno;
  if (p->steer_addrs_fd <= 0) {
    int fd = xdp_map_fd(idx, "jr_addrs");
    if (fd < 0) {
      set_error("Cannot steer on %s: the jr_xdp program's map is not there (%d)", p->ifname, fd);
      return fd;
    }
    p->steer_addrs_fd = fd;
    int sfd = xdp_map_fd(idx, "jr_stats");
    p->steer_stats_fd = sfd > 0 ? sfd : -1;
  }
  for (int i = 0; i < n; i++) {
    uint32_t one = 1;
    if (bpf_map_update_elem(p->steer_addrs_fd, &addrs[i], &one, BPF_ANY) != 0) return -errno;
  }
  return 0;
}

/** Steering counters: out[0] frames steered to the port, out[1] frames left to the kernel. */
EXPORT int jr_port_steer_stats(int h, uint64_t *out) {
  struct jr_port *p = port_of(h);
  if (!p || p->steer_stats_fd <= 0) return -ENOENT;
  for (uint32_t k = 0; k < 2; k++) {
    /* ARRAY maps of a non-per-CPU kind: one value. */
    if (bpf_map_lookup_elem(p->steer_stats_fd, &k, &out[k]) != 0) return -errno;
  }
  return 0;
}
