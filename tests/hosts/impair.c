/*
 * impair.c — what `tc netem` does to a link, in user space, for kernels
 * built without sch_netem: packets that nftables sends to NFQUEUE QUEUE are
 * dropped with probability LOSS %, and the rest released after DELAY ms
 * plus or minus JITTER ms, each on its own clock, so that packets overtake
 * one another (reordering) when the jitter exceeds their spacing.
 *   impair QUEUE LOSS DELAY JITTER      (runs until killed)
 * Run it in the network namespace whose traffic it holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define HELD_MAX 65536

typedef struct { uint32_t id; uint64_t due; } held;

static held heap[HELD_MAX];
static size_t nheld;
static int loss, delay, jitter;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void push(held h)
{
    size_t i = nheld++;
    while (i && heap[(i - 1) / 2].due > h.due) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; }
    heap[i] = h;
}

static held pop(void)
{
    held top = heap[0], last = heap[--nheld];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= nheld) break;
        if (c + 1 < nheld && heap[c + 1].due < heap[c].due) c++;
        if (heap[c].due >= last.due) break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = last;
    return top;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
    (void)msg; (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (rand() % 100 < loss) return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
    if (nheld == HELD_MAX) return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    long d = delay * 1000L + (jitter ? (long)(rand() % (2 * jitter * 1000 + 1)) - jitter * 1000L : 0);
    push((held){ id, now_us() + (uint64_t)(d > 0 ? d : 0) });
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) { fputs("usage: impair QUEUE LOSS DELAY JITTER\n", stderr); return 2; }
    int queue = atoi(argv[1]);
    loss = atoi(argv[2]), delay = atoi(argv[3]), jitter = atoi(argv[4]);
    srand((unsigned)now_us());
    struct nfq_handle *h = nfq_open();
    struct nfq_q_handle *qh = h ? nfq_create_queue(h, (uint16_t)queue, on_packet, NULL) : NULL;
    if (!qh || nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) { perror("impair: nfqueue"); return 1; }
    nfq_set_queue_maxlen(qh, HELD_MAX);
    int fd = nfq_fd(h);
    char buf[65536] __attribute__((aligned));
    printf("impair: queue %d ready\n", queue);
    fflush(stdout);
    for (;;) {
        uint64_t now = now_us();
        while (nheld && heap[0].due <= now) nfq_set_verdict(qh, pop().id, NF_ACCEPT, 0, NULL);
        int wait = nheld ? (int)((heap[0].due - now) / 1000) + 1 : -1;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, wait) < 0 && errno != EINTR) break;
        if (p.revents & POLLIN) {
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) nfq_handle_packet(h, buf, (int)n);
        }
    }
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
