/*
 * jr_xdp: the XDP program of the af_xdp port in kernel-coexistence mode (DESIGN §8).
 *
 * Frames for Joyride go to its AF_XDP socket; everything else stays with the kernel:
 *   - IPv4 whose destination is one of Joyride's addresses (map jr_addrs),
 *   - ARP whose target protocol address is one of them.
 * The NIC glue fills jr_addrs after the af_xdp PMD has loaded this object (devarg xdp_prog=)
 * and registered its socket in xsks_map (the PMD looks the map up by that name).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u32);
} xsks_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);   /* IPv4 address, network byte order */
  __type(value, __u32); /* unused */
} jr_addrs SEC(".maps");

/* Counters: [0] frames steered to Joyride, [1] frames left to the kernel. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} jr_stats SEC(".maps");

static __always_inline int count(__u32 k) {
  __u64 *v = bpf_map_lookup_elem(&jr_stats, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}

SEC("xdp")
int jr_steer(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) goto kernel;
  __u32 addr;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    __u8 *ip = (__u8 *)(eth + 1);
    if ((void *)(ip + 20) > end) goto kernel;
    __builtin_memcpy(&addr, ip + 16, 4);
  } else if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
    __u8 *arp = (__u8 *)(eth + 1);
    if ((void *)(arp + 28) > end) goto kernel;
    __builtin_memcpy(&addr, arp + 24, 4); /* target protocol address */
  } else {
    goto kernel;
  }
  if (!bpf_map_lookup_elem(&jr_addrs, &addr)) goto kernel;
  count(0);
  return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
kernel:
  count(1);
  return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
