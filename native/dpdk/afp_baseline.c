/*
 * afp_baseline: a plain AF_PACKET program, the baseline of `./joyride bench nic`.
 *
 *   afp_baseline tx IFACE SIZE SECONDS   send SIZE-byte frames as fast as sendmmsg allows
 *   afp_baseline rx IFACE SECONDS        count frames received with recvmmsg
 *
 * Prints one JSON line: {"frames":N,"bytes":B,"seconds":S,"cpu":C} (C: user + system CPU
 * seconds this program used). Frames are Ethernet broadcast with
 * the experimental ethertype 0x88b5 (IEEE 802 local experimental), so no stack answers them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: afp_baseline tx IFACE SIZE SECONDS | rx IFACE SECONDS\n");
    return 2;
  }
  int tx = strcmp(argv[1], "tx") == 0;
  unsigned idx = if_nametoindex(argv[2]);
  if (idx == 0) {
    perror("if_nametoindex");
    return 1;
  }
  int size = tx ? atoi(argv[3]) : 2048;
  double secs = atof(argv[tx ? 4 : 3]);
  if (tx && (size < 60 || size > 9000)) {
    fprintf(stderr, "afp_baseline: size must be 60..9000\n");
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, tx ? 0 : htons(ETH_P_ALL));
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = tx ? 0 : htons(ETH_P_ALL);
  sll.sll_ifindex = (int)idx;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
    perror("bind");
    return 1;
  }
  int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  static uint8_t buf[BATCH][2048];
  static uint8_t big[9000];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  memset(big, 0xab, sizeof big);
  memset(big, 0xff, 6);
  big[12] = 0x88;
  big[13] = 0xb5;
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = tx ? (void *)big : (void *)buf[i];
    iov[i].iov_len = tx ? (size_t)size : sizeof buf[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint64_t frames = 0, bytes = 0;
  double t0 = now(), t = t0;
  while ((t = now()) - t0 < secs) {
    int r = tx ? sendmmsg(fd, msgs, BATCH, 0) : recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (r <= 0) continue;
    frames += (uint64_t)r;
    for (int i = 0; i < r; i++) bytes += tx ? (uint64_t)size : msgs[i].msg_len;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  printf("{\"frames\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"cpu\":%.6f}\n",
         (unsigned long long)frames, (unsigned long long)bytes, t - t0, cpu);
  return 0;
}
