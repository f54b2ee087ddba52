/* bench/wan/delay.c - one-way link delay for the emulated WAN (this kernel has no netem).
 *
 * usage: delay QUEUE_NUM ADDR=MS [ADDR=MS ...]
 * Runs inside a site's namespace, bound to an NFQUEUE that the input hook feeds (bench/wan/latency.sh).
 * Each IPv4 packet from ADDR is held MS milliseconds, then accepted; packets from other addresses
 * pass at once. Order per source is kept (one FIFO per source, constant delay each), so TCP sees a
 * longer path, not reordering. Only the first 20 bytes of each packet are copied to user space and
 * GSO packets stay whole (NFQA_CFG_F_GSO): the cost is one verdict per packet, not per byte.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SOURCES 64
#define FIFO_LEN 65536 /* per source: more packets held than this are accepted at once */

struct held {
  uint32_t id;
  int64_t due_ns;
};
struct source {
  uint32_t addr; /* network order */
  int64_t delay_ns;
  struct held *fifo;
  unsigned head, tail; /* head == tail: empty */
};

static struct source sources[MAX_SOURCES];
static int n_sources;
static struct nfq_q_handle *queue;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void accept_packet(uint32_t id) { nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL); }

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)qh, (void)msg, (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  uint32_t id = ntohl(ph->packet_id);
  unsigned char *payload;
  int len = nfq_get_payload(nfa, &payload);
  if (len >= (int)sizeof(struct iphdr)) {
    uint32_t saddr = ((struct iphdr *)payload)->saddr;
    for (int i = 0; i < n_sources; i++) {
      struct source *s = &sources[i];
      if (s->addr != saddr) continue;
      unsigned next = (s->tail + 1) % FIFO_LEN;
      if (next == s->head) break; /* full: let it through rather than drop */
      s->fifo[s->tail] = (struct held){id, now_ns() + s->delay_ns};
      s->tail = next;
      return 0;
    }
  }
  accept_packet(id);
  return 0;
}

/* Accepts every packet whose time has come; returns ns until the next one is due (-1: none). */
static int64_t release_due(void) {
  int64_t t = now_ns(), next = -1;
  for (int i = 0; i < n_sources; i++) {
    struct source *s = &sources[i];
    while (s->head != s->tail && s->fifo[s->head].due_ns <= t) {
      accept_packet(s->fifo[s->head].id);
      s->head = (s->head + 1) % FIFO_LEN;
    }
    if (s->head != s->tail && (next < 0 || s->fifo[s->head].due_ns < next)) next = s->fifo[s->head].due_ns;
  }
  return next < 0 ? -1 : next - t;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: delay QUEUE_NUM ADDR=MS [ADDR=MS ...]\n");
    return 2;
  }
  int qnum = atoi(argv[1]);
  for (int i = 2; i < argc && n_sources < MAX_SOURCES; i++) {
    char addr[64];
    double ms;
    struct in_addr a;
    if (sscanf(argv[i], "%63[^=]=%lf", addr, &ms) != 2 || inet_pton(AF_INET, addr, &a) != 1 || ms < 0) {
      fprintf(stderr, "delay: bad ADDR=MS '%s'\n", argv[i]);
      return 2;
    }
    struct source *s = &sources[n_sources++];
    s->addr = a.s_addr;
    s->delay_ns = (int64_t)(ms * 1e6);
    s->fifo = calloc(FIFO_LEN, sizeof(struct held));
    if (!s->fifo) return 1;
  }
  struct nfq_handle *h = nfq_open();
  if (!h) {
    perror("delay: nfq_open");
    return 1;
  }
  queue = nfq_create_queue(h, (uint16_t)qnum, on_packet, NULL);
  if (!queue) {
    perror("delay: nfq_create_queue");
    return 1;
  }
  if (nfq_set_mode(queue, NFQNL_COPY_PACKET, sizeof(struct iphdr)) < 0) {
    perror("delay: nfq_set_mode");
    return 1;
  }
  nfq_set_queue_maxlen(queue, FIFO_LEN);
  nfq_set_queue_flags(queue, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 16 << 20);
  int fd = nfq_fd(h);
  char buf[65536] __attribute__((aligned));
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int64_t wait = release_due();
    struct timespec ts = {wait / 1000000000, wait % 1000000000};
    int r = ppoll(&p, 1, wait < 0 ? NULL : &ts, NULL);
    if (r < 0 && errno != EINTR) {
      perror("delay: poll");
      return 1;
    }
    if (r > 0) {
      /* drain what has arrived without blocking */
      for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
          nfq_handle_packet(h, buf, (int)n);
          continue;
        }
        if (n < 0 && errno == ENOBUFS) continue; /* the kernel dropped messages: go on */
        break;
      }
    }
  }
}
