/*
 * ipc_peer: the C side of the cross-process ring tests and of `./joyride bench ipc`.
 *
 *   ipc_peer echo        REGION OFF_IN OFF_OUT          messages in -> out until `in` closes
 *   ipc_peer produce     REGION OFF_OUT - N             N pattern messages, then close
 *   ipc_peer consume     REGION OFF_IN - N              checks N pattern messages, prints "ok N"
 *   ipc_peer sink        REGION OFF_IN OFF_OUT N        sends "ready", takes N messages, sends an ack
 *   ipc_peer bytes-echo  REGION OFF_IN OFF_OUT          byte ring in -> out until `in` closes
 *   ipc_peer desc-echo   REGION OFF_IN OFF_OUT BYTES BUF  descriptors in -> out until `in` closes
 *   ipc_peer hostile     REGION OFF_OUT - N SEED        N rounds of garbage into a message ring
 *   ipc_peer drain       REGION OFF_IN -                reads until closed or broken, says which
 *   ipc_peer pool-send   REGION POOL_OFF DESC_OFF N     N pattern frames in pool buffers, by descriptor
 *   ipc_peer script      REGION OFF KIND                 runs ops from stdin on one ring, both sides
 *                        (push LEN SEQ | pop | write N SEQ | read N | dpush OFF LEN | dpop), one
 *                        result line each: the differential test against the TypeScript rings
 *   ipc_peer sock-echo   PATH SIZE                      unix stream socket: echo SIZE-byte messages
 *   ipc_peer sock-sink   PATH SIZE N                    reads N messages, writes one byte back
 *
 * REGION is a path such as /proc/<pid>/fd/<fd>. JR_SPIN_US sets the spin before sleeping.
 * Exit status 0 on success, 1 on a failed check, 2 on bad usage or set-up errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "joyride_ipc.h"

#define TIMEOUT_NS (10LL * 1000000000)

static int64_t spin_ns = 20000;

static void fill_pattern(uint8_t *b, uint32_t len, uint32_t seq)
{
	uint32_t x = seq * 2654435761u;
	for (uint32_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 24);
	}
}

static uint32_t pattern_len(uint32_t seq, uint32_t max)
{
	return (seq * 37u) % (max + 1);
}

static int attach(jr_ring *r, jr_region *reg, const char *off, uint32_t kind)
{
	if (jr_ring_attach(r, reg, (uint32_t)strtoul(off, NULL, 0), kind) != 0) {
		fprintf(stderr, "ipc_peer: cannot attach ring at %s\n", off);
		exit(2);
	}
	return 0;
}

static int msg_echo(jr_ring *in, jr_ring *out)
{
	for (;;) {
		uint32_t len;
		const void *m = jr_msg_peek(in, &len);
		if (!m) {
			if (in->error) {
				fprintf(stderr, "ipc_peer: %s\n", in->error);
				return 1;
			}
			if (!jr_wait_readable(in, TIMEOUT_NS, spin_ns)) {
				if (jr_ring_state(in, JR_STATE_PRODUCER_CLOSED) && !jr_has_data(in))
					break;
				if (in->error || !jr_has_data(in))
					return 1;
			}
			continue;
		}
		while (!jr_msg_push(out, m, len)) {
			if (!jr_wait_writable(out, len, TIMEOUT_NS, spin_ns))
				return 1;
		}
		jr_msg_release(in);
	}
	jr_ring_close(out, JR_STATE_PRODUCER_CLOSED);
	return 0;
}

static int msg_produce(jr_ring *out, uint32_t n)
{
	static uint8_t buf[1 << 20];
	for (uint32_t seq = 0; seq < n; seq++) {
		uint32_t len = pattern_len(seq, out->max_message);
		fill_pattern(buf, len, seq);
		while (!jr_msg_push(out, buf, len)) {
			if (!jr_wait_writable(out, len, TIMEOUT_NS, spin_ns)) {
				fprintf(stderr, "ipc_peer: produce stuck at %u\n", seq);
				return 1;
			}
		}
	}
	jr_ring_close(out, JR_STATE_PRODUCER_CLOSED);
	return 0;
}

static int msg_consume(jr_ring *in, uint32_t n)
{
	static uint8_t want[1 << 20];
	for (uint32_t seq = 0; seq < n; seq++) {
		uint32_t len;
		const uint8_t *m;
		while (!(m = jr_msg_peek(in, &len))) {
			if (in->error || !jr_wait_readable(in, TIMEOUT_NS, spin_ns)) {
				fprintf(stderr, "ipc_peer: consume stuck at %u (%s)\n", seq,
					in->error ? in->error : "timeout");
				return 1;
			}
		}
		uint32_t wlen = pattern_len(seq, in->max_message);
		fill_pattern(want, wlen, seq);
		if (len != wlen || memcmp(m, want, len) != 0) {
			fprintf(stderr, "ipc_peer: message %u: length %u, want %u, or bytes differ\n",
				seq, len, wlen);
			return 1;
		}
		jr_msg_release(in);
	}
	printf("ok %u\n", n);
	return 0;
}

static int msg_sink(jr_ring *in, jr_ring *out, uint32_t n)
{
	/* "Ready": the producer starts its clock once this arrives. */
	uint32_t ready = 0;
	if (!jr_msg_push(out, &ready, sizeof ready))
		return 1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len;
		while (!jr_msg_peek(in, &len)) {
			if (!jr_wait_readable(in, TIMEOUT_NS, spin_ns))
				return 1;
		}
		jr_msg_release(in);
	}
	uint32_t ack = n;
	while (!jr_msg_push(out, &ack, sizeof ack)) {
		if (!jr_wait_writable(out, sizeof ack, TIMEOUT_NS, spin_ns))
			return 1;
	}
	return 0;
}

static int bytes_echo(jr_ring *in, jr_ring *out)
{
	static uint8_t buf[65536];
	for (;;) {
		uint32_t n = jr_bytes_read(in, buf, sizeof buf);
		if (n == 0) {
			if (in->error)
				return 1;
			if (!jr_wait_readable(in, TIMEOUT_NS, spin_ns)) {
				if (jr_ring_state(in, JR_STATE_PRODUCER_CLOSED) && !jr_has_data(in))
					break;
				return 1;
			}
			continue;
		}
		for (uint32_t done = 0; done < n;) {
			done += jr_bytes_write(out, buf + done, n - done);
			if (done < n && !jr_wait_writable(out, 1, TIMEOUT_NS, spin_ns))
				return 1;
		}
	}
	jr_ring_close(out, JR_STATE_PRODUCER_CLOSED);
	return 0;
}

static int desc_echo(jr_ring *in, jr_ring *out)
{
	jr_desc d;
	for (;;) {
		if (!jr_desc_pop(in, &d)) {
			if (in->error) {
				fprintf(stderr, "ipc_peer: %s\n", in->error);
				return 1;
			}
			if (!jr_wait_readable(in, TIMEOUT_NS, spin_ns)) {
				if (jr_ring_state(in, JR_STATE_PRODUCER_CLOSED) && !jr_has_data(in))
					break;
				return 1;
			}
			continue;
		}
		while (!jr_desc_push(out, d.offset, d.length, d.flags, d.user)) {
			if (!jr_wait_writable(out, 1, TIMEOUT_NS, spin_ns))
				return 1;
		}
	}
	jr_ring_close(out, JR_STATE_PRODUCER_CLOSED);
	return 0;
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

/* Garbage into the ring's tail, record headers and data, mixed with real messages. */
static int hostile(jr_ring *out, uint32_t rounds)
{
	uint32_t *tail = JR__U32(out, JR_RING_OFF_TAIL);
	uint32_t words = out->capacity / 4;
	uint8_t buf[64];
	for (uint32_t i = 0; i < rounds; i++) {
		switch (rnd() % 6) {
		case 0:
			jr__store(tail, rnd());
			break;
		case 1:
			jr__store(tail, jr__load(tail) + (rnd() % 64));
			break;
		case 2:
			((uint32_t *)out->data)[rnd() % words] = rnd();
			break;
		case 3:
			((uint32_t *)out->data)[(rnd() % words) & ~1u] = rnd() % (2 * out->capacity);
			break;
		case 4:
			((uint32_t *)out->data)[(rnd() % words) | 1u] = rnd() % 3;
			break;
		default:
			fill_pattern(buf, sizeof buf, i);
			out->error = NULL;
			out->tail = jr__load(tail);
			jr_msg_push(out, buf, rnd() % sizeof buf);
			break;
		}
		if (rnd() % 8 == 0)
			usleep(20);
	}
	/* End with a tail no honest producer could write. */
	jr__store(tail, jr__load(JR__U32(out, JR_RING_OFF_HEAD)) + out->capacity + 64);
	jr_ring_close(out, JR_STATE_PRODUCER_CLOSED);
	return 0;
}

static int msg_drain(jr_ring *in)
{
	uint32_t count = 0;
	for (;;) {
		uint32_t len;
		const uint8_t *m = jr_msg_peek(in, &len);
		if (m) {
			/* Touch every byte: a bad length would fault here. */
			volatile uint8_t sum = 0;
			for (uint32_t i = 0; i < len; i++)
				sum += m[i];
			(void)sum;
			jr_msg_release(in);
			count++;
			continue;
		}
		if (in->error) {
			printf("broken %u %s\n", count, in->error);
			return 0;
		}
		if (!jr_wait_readable(in, TIMEOUT_NS, 0) && jr_ring_state(in, JR_STATE_PRODUCER_CLOSED) &&
		    !jr_has_data(in)) {
			printf("closed %u\n", count);
			return 0;
		}
	}
}

static int pool_send(jr_pool *pool, jr_ring *out, uint32_t n)
{
	for (uint32_t seq = 0; seq < n; seq++) {
		int64_t off;
		while ((off = jr_pool_alloc(pool)) < 0) {
			if (pool->free_list.error ||
			    !jr_wait_readable(&pool->free_list, TIMEOUT_NS, spin_ns)) {
				fprintf(stderr, "ipc_peer: no free buffer at %u\n", seq);
				return 1;
			}
		}
		uint32_t len = pattern_len(seq, pool->buf_size);
		fill_pattern(jr_pool_bytes(pool, (uint32_t)off), len, seq);
		while (!jr_desc_push(out, (uint32_t)off, len, 0, seq)) {
			if (!jr_wait_writable(out, 1, TIMEOUT_NS, spin_ns))
				return 1;
		}
	}
	jr_ring_close(out, JR_STATE_PRODUCER_CLOSED);
	return 0;
}

static uint32_t byte_sum(const uint8_t *b, uint32_t n)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static int script(jr_ring *r)
{
	static uint8_t buf[1 << 20];
	char line[128];
	while (fgets(line, sizeof line, stdin)) {
		char op[16];
		unsigned a = 0, b = 0;
		if (sscanf(line, "%15s %u %u", op, &a, &b) < 1)
			continue;
		if (strcmp(op, "push") == 0) {
			fill_pattern(buf, a, b);
			printf("%d\n", jr_msg_push(r, buf, a));
		} else if (strcmp(op, "pop") == 0) {
			uint32_t len;
			const uint8_t *m = jr_msg_peek(r, &len);
			if (!m) {
				printf("-\n");
				continue;
			}
			printf("%u %u\n", len, byte_sum(m, len));
			jr_msg_release(r);
		} else if (strcmp(op, "write") == 0) {
			fill_pattern(buf, a, b);
			printf("%u\n", jr_bytes_write(r, buf, a));
		} else if (strcmp(op, "read") == 0) {
			uint32_t n = jr_bytes_read(r, buf, a);
			printf("%u %u\n", n, byte_sum(buf, n));
		} else if (strcmp(op, "dpush") == 0) {
			printf("%d\n", jr_desc_push(r, a, b, a ^ b, a + b));
		} else if (strcmp(op, "dpop") == 0) {
			jr_desc d;
			if (jr_desc_pop(r, &d))
				printf("%u %u %u %u\n", d.offset, d.length, d.flags, d.user);
			else
				printf("-\n");
		} else if (strcmp(op, "end") == 0) {
			break;
		}
	}
	printf("broken %d\n", r->error != NULL);
	return 0;
}

static int sock_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (fd < 0 || strlen(path) >= sizeof a.sun_path)
		exit(2);
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("ipc_peer: connect");
		exit(2);
	}
	return fd;
}

static int read_full(int fd, uint8_t *b, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t k = read(fd, b + got, n - got);
		if (k <= 0)
			return k == 0 && got == 0 ? 0 : -1;
		got += (size_t)k;
	}
	return 1;
}

static int write_full(int fd, const uint8_t *b, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = write(fd, b + done, n - done);
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 1;
}

static int sock_echo(const char *path, size_t size)
{
	static uint8_t buf[1 << 16];
	int fd = sock_connect(path);
	if (size > sizeof buf)
		return 2;
	for (;;) {
		int r = read_full(fd, buf, size);
		if (r == 0)
			break;
		if (r < 0 || write_full(fd, buf, size) < 0)
			return 1;
	}
	close(fd);
	return 0;
}

static int sock_sink(const char *path, size_t size, uint32_t n)
{
	static uint8_t buf[1 << 16];
	int fd = sock_connect(path);
	size_t left = size * n;
	while (left > 0) {
		ssize_t k = read(fd, buf, left < sizeof buf ? left : sizeof buf);
		if (k <= 0)
			return 1;
		left -= (size_t)k;
	}
	uint8_t ack = 1;
	if (write_full(fd, &ack, 1) < 0)
		return 1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: ipc_peer MODE ARGS... (see ipc_peer.c)\n");
		return 2;
	}
	const char *yield = getenv("JR_SPIN_YIELD");
	if (yield)
		jr_spin_yield = atoi(yield);
	const char *spin = getenv("JR_SPIN_US");
	if (spin)
		spin_ns = strtoll(spin, NULL, 0) * 1000;
	const char *mode = argv[1];
	if (strcmp(mode, "sock-echo") == 0 && argc == 4)
		return sock_echo(argv[2], strtoul(argv[3], NULL, 0));
	if (strcmp(mode, "sock-sink") == 0 && argc == 5)
		return sock_sink(argv[2], strtoul(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0));
	if (argc < 5) {
		fprintf(stderr, "ipc_peer %s: missing arguments\n", mode);
		return 2;
	}
	jr_region reg;
	int rc = jr_region_open(&reg, argv[2]);
	if (rc != 0) {
		fprintf(stderr, "ipc_peer: cannot open region %s: %s\n", argv[2], strerror(-rc));
		return 2;
	}
	jr_ring a, b;
	uint32_t n = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 0) : 0;
	if (strcmp(mode, "echo") == 0) {
		attach(&a, &reg, argv[3], JR_KIND_MESSAGE);
		attach(&b, &reg, argv[4], JR_KIND_MESSAGE);
		rc = msg_echo(&a, &b);
	} else if (strcmp(mode, "produce") == 0) {
		attach(&a, &reg, argv[3], JR_KIND_MESSAGE);
		rc = msg_produce(&a, n);
	} else if (strcmp(mode, "consume") == 0) {
		attach(&a, &reg, argv[3], JR_KIND_MESSAGE);
		rc = msg_consume(&a, n);
	} else if (strcmp(mode, "sink") == 0) {
		attach(&a, &reg, argv[3], JR_KIND_MESSAGE);
		attach(&b, &reg, argv[4], JR_KIND_MESSAGE);
		rc = msg_sink(&a, &b, n);
	} else if (strcmp(mode, "bytes-echo") == 0) {
		attach(&a, &reg, argv[3], JR_KIND_BYTE);
		attach(&b, &reg, argv[4], JR_KIND_BYTE);
		rc = bytes_echo(&a, &b);
	} else if (strcmp(mode, "desc-echo") == 0 && argc == 7) {
		attach(&a, &reg, argv[3], JR_KIND_DESCRIPTOR);
		attach(&b, &reg, argv[4], JR_KIND_DESCRIPTOR);
		jr_ring_set_bounds(&a, (uint32_t)strtoul(argv[5], NULL, 0),
				   (uint32_t)strtoul(argv[6], NULL, 0));
		rc = desc_echo(&a, &b);
	} else if (strcmp(mode, "pool-send") == 0) {
		jr_pool pool;
		if (jr_pool_attach(&pool, &reg, (uint32_t)strtoul(argv[3], NULL, 0)) != 0) {
			fprintf(stderr, "ipc_peer: cannot attach pool at %s\n", argv[3]);
			return 2;
		}
		attach(&b, &reg, argv[4], JR_KIND_DESCRIPTOR);
		jr_pool_bound(&pool, &b);
		rc = pool_send(&pool, &b, n);
	} else if (strcmp(mode, "script") == 0) {
		uint32_t kind = (uint32_t)strtoul(argv[4], NULL, 0);
		attach(&a, &reg, argv[3], kind);
		if (kind == JR_KIND_DESCRIPTOR)
			jr_ring_set_bounds(&a, 1u << 20, 2048);
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
		rc = script(&a);
		fflush(stdout);
	} else if (strcmp(mode, "drain") == 0) {
		attach(&a, &reg, argv[3], JR_KIND_MESSAGE);
		rc = msg_drain(&a);
	} else if (strcmp(mode, "hostile") == 0 && argc == 7) {
		attach(&a, &reg, argv[3], JR_KIND_MESSAGE);
		rng_state = strtoull(argv[6], NULL, 0) | 1;
		rc = hostile(&a, n);
	} else {
		fprintf(stderr, "ipc_peer: unknown mode or wrong arguments: %s\n", mode);
		rc = 2;
	}
	jr_region_close(&reg);
	return rc;
}
