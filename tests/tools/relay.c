/*
 * relay: a seeded, reproducible impairing Ethernet relay between two interfaces (tc netem is
 * not in this kernel). Every frame received on one interface is sent out of the other after
 * the impairments of its direction: random loss, duplication, corruption (one byte past the
 * Ethernet header flipped, so a checksum catches it), a fixed delay with uniform jitter (order
 * kept: a frame never leaves before one that arrived earlier, unless reordered), reordering
 * (a chosen frame is held back until GAP later frames of its direction have left, or
 * HOLD_MS passed), and a rate limit (serialization at RATE kbit/s behind a QUEUE-frame
 * tail-drop queue).
 *
 * Usage: relay IF_A IF_B [--seed N] [--loss PPM] [--dup PPM] [--corrupt PPM]
 *                        [--delay-us N] [--jitter-us N] [--reorder PPM] [--gap N]
 *                        [--hold-us N] [--rate-kbps N] [--queue N] [--dir both|ab|ba]
 *                        [--delay-dir both|ab|ba]
 * Probabilities are in parts per million (1 % = 10000). Impairments apply to the directions
 * chosen by --dir (default both); the other direction is a plain relay. The delay and jitter
 * apply to the directions of --delay-dir (default both; `ba` alone is netem on one interface).
 * SIGTERM/SIGINT: prints the counters as one JSON line on stdout and exits 0.
 * Decisions come from a per-direction xorshift generator seeded by --seed, drawn per frame in
 * arrival order: the same frame sequence gets the same fate.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 8192
#define FRAME_MAX 9216

struct frame {
  uint64_t due;  /* departure time, ns (CLOCK_MONOTONIC) */
  uint64_t order; /* tie-break: arrival order */
  uint32_t len;
  uint32_t slot;
  uint32_t held; /* reordered: leaves after `held` more frames, or at due */
};

struct dir {
  const char *name;
  int in, out;
  int out_ifindex;
  int impaired;
  int delayed; /* --delay-dir: the delay and jitter apply to this direction */
  uint64_t rng;
  /* heap of pending frames by (due, order) */
  struct frame heap[SLOTS];
  int n;
  uint32_t free_slots[SLOTS];
  int nfree;
  uint8_t *buf;
  uint64_t last_due;   /* order keeping under jitter */
  uint64_t link_free;  /* rate limit: when the link is free again */
  uint64_t seq;
  /* counters */
  uint64_t rx, tx, lost, dup, corrupt, reordered, queue_drop, tx_err, bytes;
};

static volatile sig_atomic_t stop_flag;
static void on_signal(int s) {
  (void)s;
  stop_flag = 1;
}

static uint64_t opt_seed = 1, opt_loss, opt_dup, opt_corrupt, opt_delay_us, opt_jitter_us,
                opt_reorder, opt_gap = 3, opt_hold_us = 20000, opt_rate_kbps, opt_queue = 4096;
static int opt_ab = 1, opt_ba = 1, opt_delay_ab = 1, opt_delay_ba = 1;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* xorshift64*; never zero */
static uint64_t next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t ppm(uint64_t *s) { return next(s) % 1000000u; }

static int before(const struct frame *a, const struct frame *b) {
  return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_push(struct dir *d, struct frame f) {
  int i = d->n++;
  d->heap[i] = f;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!before(&d->heap[i], &d->heap[p])) break;
    struct frame t = d->heap[i];
    d->heap[i] = d->heap[p];
    d->heap[p] = t;
    i = p;
  }
}

static struct frame heap_pop(struct dir *d) {
  struct frame top = d->heap[0];
  d->heap[0] = d->heap[--d->n];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < d->n && before(&d->heap[l], &d->heap[m])) m = l;
    if (r < d->n && before(&d->heap[r], &d->heap[m])) m = r;
    if (m == i) break;
    struct frame t = d->heap[i];
    d->heap[i] = d->heap[m];
    d->heap[m] = t;
    i = m;
  }
  return top;
}

static int open_if(const char *name, int *ifindex) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) {
    perror("relay: socket(AF_PACKET)");
    exit(2);
  }
  unsigned idx = if_nametoindex(name);
  if (idx == 0) {
    fprintf(stderr, "relay: no interface %s\n", name);
    exit(2);
  }
  int one = 1;
  /* Frames this socket (or anyone here) sends out are not frames to relay. */
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
    perror("relay: PACKET_IGNORE_OUTGOING");
    exit(2);
  }
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = (int)idx;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
    perror("relay: promiscuous mode");
    exit(2);
  }
  int rcv = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &rcv, sizeof rcv);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)idx;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    perror("relay: bind");
    exit(2);
  }
  *ifindex = (int)idx;
  return fd;
}

static void enqueue(struct dir *d, const uint8_t *data, uint32_t len, uint64_t t, int copy) {
  if (d->nfree == 0 || (uint64_t)d->n >= opt_queue) {
    d->queue_drop++;
    return;
  }
  uint32_t slot = d->free_slots[--d->nfree];
  memcpy(d->buf + (size_t)slot * FRAME_MAX, data, len);
  struct frame f = {.due = t, .order = d->seq++, .len = len, .slot = slot, .held = 0};
  if (d->impaired && !copy) {
    uint64_t delay = d->delayed ? opt_delay_us * 1000u : 0;
    if (d->delayed && opt_jitter_us > 0) {
      uint64_t span = 2 * opt_jitter_us * 1000u + 1;
      delay = delay + next(&d->rng) % span;
      delay = delay > opt_jitter_us * 1000u ? delay - opt_jitter_us * 1000u : 0;
    }
    uint64_t due = t + delay;
    if (opt_rate_kbps > 0) {
      /* serialization: bits / (kbit/s) in ns */
      uint64_t ser = (uint64_t)len * 8u * 1000000u / opt_rate_kbps;
      uint64_t start = d->link_free > t ? d->link_free : t;
      d->link_free = start + ser;
      due = d->link_free + delay;
    }
    if (due < d->last_due) due = d->last_due; /* jitter keeps order */
    d->last_due = due;
    f.due = due;
    if (opt_reorder > 0 && ppm(&d->rng) < opt_reorder) {
      f.held = (uint32_t)opt_gap;
      f.due = due + opt_hold_us * 1000u;
      d->reordered++;
    }
  } else if (copy) {
    f.due = d->last_due > t ? d->last_due : t;
  } else {
    f.due = t;
  }
  heap_push(d, f);
}

static void receive(struct dir *d, uint64_t t) {
  static uint8_t pkt[FRAME_MAX];
  for (int i = 0; i < 256; i++) {
    ssize_t n = recv(d->in, pkt, sizeof pkt, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) return;
    if (n > FRAME_MAX || n < ETH_HLEN) continue;
    d->rx++;
    d->bytes += (uint64_t)n;
    if (d->impaired) {
      if (opt_loss > 0 && ppm(&d->rng) < opt_loss) {
        d->lost++;
        continue;
      }
      if (opt_corrupt > 0 && ppm(&d->rng) < opt_corrupt && n > ETH_HLEN) {
        uint64_t r = next(&d->rng);
        size_t at = ETH_HLEN + (size_t)(r % (uint64_t)(n - ETH_HLEN));
        pkt[at] ^= (uint8_t)(1u + (r >> 32) % 255u);
        d->corrupt++;
      }
      int dup = opt_dup > 0 && ppm(&d->rng) < opt_dup;
      enqueue(d, pkt, (uint32_t)n, t, 0);
      if (dup) {
        d->dup++;
        enqueue(d, pkt, (uint32_t)n, t, 1);
      }
    } else {
      enqueue(d, pkt, (uint32_t)n, t, 0);
    }
  }
}

static void transmit(struct dir *d, const struct frame *f) {
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = d->out_ifindex;
  sll.sll_halen = ETH_ALEN;
  const uint8_t *p = d->buf + (size_t)f->slot * FRAME_MAX;
  memcpy(sll.sll_addr, p, ETH_ALEN);
  for (int tries = 0; tries < 1000; tries++) {
    if (sendto(d->out, p, f->len, 0, (struct sockaddr *)&sll, sizeof sll) >= 0) {
      d->tx++;
      break;
    }
    if (errno != ENOBUFS && errno != EAGAIN) {
      d->tx_err++;
      break;
    }
    struct pollfd pf = {.fd = d->out, .events = POLLOUT};
    poll(&pf, 1, 1);
    if (tries == 999) d->tx_err++;
  }
  d->free_slots[d->nfree++] = f->slot;
}

/* Sends every due frame; a held frame leaves once `gap` later frames have left. */
static void flush(struct dir *d, uint64_t t) {
  while (d->n > 0 && d->heap[0].due <= t) {
    struct frame f = heap_pop(d);
    transmit(d, &f);
    /* a frame that left ahead of held ones counts toward their gap */
    for (int i = 0; i < d->n; i++) {
      if (d->heap[i].held > 0 && d->heap[i].order < f.order) {
        if (--d->heap[i].held == 0) {
          /* release now: earliest possible due keeps heap order valid after re-heapify */
          d->heap[i].due = t;
          int j = i;
          while (j > 0) {
            int p = (j - 1) / 2;
            if (!before(&d->heap[j], &d->heap[p])) break;
            struct frame tmp = d->heap[j];
            d->heap[j] = d->heap[p];
            d->heap[p] = tmp;
            j = p;
          }
        }
      }
    }
  }
}

static void dir_init(struct dir *d, const char *name, int in, int out, int out_ifindex,
                     int impaired, uint64_t seed) {
  d->name = name;
  d->in = in;
  d->out = out;
  d->out_ifindex = out_ifindex;
  d->impaired = impaired;
  d->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 8; i++) next(&d->rng);
  d->buf = malloc((size_t)SLOTS * FRAME_MAX);
  if (!d->buf) {
    fprintf(stderr, "relay: out of memory\n");
    exit(2);
  }
  for (int i = 0; i < SLOTS; i++) d->free_slots[i] = (uint32_t)(SLOTS - 1 - i);
  d->nfree = SLOTS;
}

static void print_dir(const struct dir *d, const char *sep) {
  printf("\"%s\":{\"rx\":%llu,\"tx\":%llu,\"bytes\":%llu,\"lost\":%llu,\"dup\":%llu,"
         "\"corrupt\":%llu,\"reordered\":%llu,\"queueDrop\":%llu,\"txErr\":%llu,\"pending\":%d}%s",
         d->name, (unsigned long long)d->rx, (unsigned long long)d->tx,
         (unsigned long long)d->bytes, (unsigned long long)d->lost,
         (unsigned long long)d->dup, (unsigned long long)d->corrupt,
         (unsigned long long)d->reordered, (unsigned long long)d->queue_drop,
         (unsigned long long)d->tx_err, d->n, sep);
}

static uint64_t num(const char *opt, const char *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || *end || end == v) {
    fprintf(stderr, "relay: %s needs a number, got %s\n", opt, v);
    exit(2);
  }
  return (uint64_t)x;
}

static struct dir ab, ba;

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: relay IF_A IF_B [options] (see relay.c)\n");
    return 2;
  }
  for (int i = 3; i < argc; i++) {
    const char *o = argv[i];
    if (i + 1 >= argc) {
      fprintf(stderr, "relay: %s needs a value\n", o);
      return 2;
    }
    const char *v = argv[++i];
    if (!strcmp(o, "--seed")) opt_seed = num(o, v);
    else if (!strcmp(o, "--loss")) opt_loss = num(o, v);
    else if (!strcmp(o, "--dup")) opt_dup = num(o, v);
    else if (!strcmp(o, "--corrupt")) opt_corrupt = num(o, v);
    else if (!strcmp(o, "--delay-us")) opt_delay_us = num(o, v);
    else if (!strcmp(o, "--jitter-us")) opt_jitter_us = num(o, v);
    else if (!strcmp(o, "--reorder")) opt_reorder = num(o, v);
    else if (!strcmp(o, "--gap")) opt_gap = num(o, v);
    else if (!strcmp(o, "--hold-us")) opt_hold_us = num(o, v);
    else if (!strcmp(o, "--rate-kbps")) opt_rate_kbps = num(o, v);
    else if (!strcmp(o, "--queue")) opt_queue = num(o, v);
    else if (!strcmp(o, "--dir")) {
      opt_ab = !strcmp(v, "both") || !strcmp(v, "ab");
      opt_ba = !strcmp(v, "both") || !strcmp(v, "ba");
      if (!opt_ab && !opt_ba) {
        fprintf(stderr, "relay: --dir must be both, ab or ba\n");
        return 2;
      }
    } else if (!strcmp(o, "--delay-dir")) {
      opt_delay_ab = !strcmp(v, "both") || !strcmp(v, "ab");
      opt_delay_ba = !strcmp(v, "both") || !strcmp(v, "ba");
      if (!opt_delay_ab && !opt_delay_ba) {
        fprintf(stderr, "relay: --delay-dir must be both, ab or ba\n");
        return 2;
      }
    } else {
      fprintf(stderr, "relay: unknown option %s\n", o);
      return 2;
    }
  }
  if (opt_delay_us > 0 && opt_jitter_us > opt_delay_us) {
    fprintf(stderr, "relay: --jitter-us must not exceed --delay-us\n");
    return 2;
  }
  if (opt_queue > SLOTS) opt_queue = SLOTS;
  int ia, ib;
  int fa = open_if(argv[1], &ia);
  int fb = open_if(argv[2], &ib);
  dir_init(&ab, "ab", fa, fb, ib, opt_ab, opt_seed * 2 + 1);
  dir_init(&ba, "ba", fb, fa, ia, opt_ba, opt_seed * 2 + 2);
  ab.delayed = opt_delay_ab;
  ba.delayed = opt_delay_ba;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("{\"ready\":true}\n");
  fflush(stdout);
  while (!stop_flag) {
    uint64_t t = now_ns();
    flush(&ab, t);
    flush(&ba, t);
    uint64_t next_due = UINT64_MAX;
    if (ab.n > 0 && ab.heap[0].due < next_due) next_due = ab.heap[0].due;
    if (ba.n > 0 && ba.heap[0].due < next_due) next_due = ba.heap[0].due;
    struct timespec ts, *tsp = NULL;
    if (next_due != UINT64_MAX) {
      uint64_t wait = next_due > t ? next_due - t : 0;
      ts.tv_sec = (time_t)(wait / 1000000000u);
      ts.tv_nsec = (long)(wait % 1000000000u);
      tsp = &ts;
    }
    struct pollfd pf[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
    int r = ppoll(pf, 2, tsp, NULL);
    if (r < 0 && errno != EINTR) {
      perror("relay: ppoll");
      return 1;
    }
    t = now_ns();
    if (r > 0 && (pf[0].revents & POLLIN)) receive(&ab, t);
    if (r > 0 && (pf[1].revents & POLLIN)) receive(&ba, t);
  }
  printf("{");
  print_dir(&ab, ",");
  print_dir(&ba, "");
  printf("}\n");
  fflush(stdout);
  return 0;
}
