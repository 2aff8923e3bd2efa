/* batch.c — see batch.h. */
#include "agent/uplink/batch.h"

#include "common/util.h"

#define BATCH_HEAD "{\"events\":["
#define BATCH_TAIL "]}"

void event_batch_init(struct event_batch *b, unsigned max_events, size_t max_bytes)
{
        *b = (struct event_batch){.max_events = max_events, .max_bytes = max_bytes};
}

static int batch_reserve(struct event_batch *b, size_t need)
{
        if (b->cap >= need)
                return 0;
        size_t cap = MAX(need, b->cap * 2);
        char *p = realloc(b->body, cap);
        if (!p)
                return -ENOMEM;
        b->body = p;
        b->cap = cap;
        return 0;
}

int event_batch_add(struct event_batch *b, const char *json, size_t len, uint64_t seq)
{
        if (b->count > 0 && seq <= b->last_seq)
                return -EINVAL;
        if (b->count >= b->max_events)
                return -ENOSPC;
        size_t head = b->count == 0 ? strlen(BATCH_HEAD) : 1; /* "{"events":[" or "," */
        size_t total = b->len + head + len + strlen(BATCH_TAIL);
        if (b->count > 0 && total > b->max_bytes)
                return -ENOSPC;
        int r = batch_reserve(b, total + 1);
        if (r < 0)
                return r;
        if (b->count == 0) {
                memcpy(b->body, BATCH_HEAD, head);
                b->first_seq = seq;
        } else
                b->body[b->len] = ',';
        memcpy(b->body + b->len + head, json, len);
        b->len += head + len;
        b->count++;
        b->last_seq = seq;
        return 0;
}

const char *event_batch_body(struct event_batch *b, size_t *ret_len)
{
        if (b->count == 0)
                return NULL;
        /* the tail is written after the events each time and overwritten by the next add */
        memcpy(b->body + b->len, BATCH_TAIL, strlen(BATCH_TAIL) + 1);
        *ret_len = b->len + strlen(BATCH_TAIL);
        return b->body;
}

void event_batch_reset(struct event_batch *b)
{
        b->len = 0;
        b->count = 0;
        b->first_seq = b->last_seq = 0;
}

void event_batch_free(struct event_batch *b)
{
        free(b->body);
        *b = (struct event_batch){0};
}

uint64_t uplink_acked_after(uint64_t recorded, uint64_t reply, uint64_t last_sent)
{
        uint64_t acked = MIN(reply, last_sent);
        return MAX(acked, recorded);
}
