/* event_chain_build.c — see event_chain_build.h. */
#include "tests/unit/event_chain_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"

json_object *chain_build(size_t n, uint64_t first_seq, const char *prev, const char *type)
{
        json_object *arr = json_object_new_array();
        char last[SHA256_HEX_LEN + 1];
        snprintf(last, sizeof last, "%s", prev);
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_new_object();
                json_object_object_add(d, "n", json_object_new_int64((int64_t)i));
                json_object *ev;
                if (event_build(first_seq + i, 1795791600000000ull + i, type,
                                EVENT_SEVERITY_WARNING, "tanaka", d, last, &ev) < 0)
                        abort();
                snprintf(last, sizeof last, "%s", chain_member(ev, SIZE_MAX, "hash"));
                json_object_array_add(arr, ev);
        }
        return arr;
}

const char *chain_member(json_object *arr, size_t i, const char *key)
{
        /* i == SIZE_MAX: arr is the event itself */
        json_object *ev = i == SIZE_MAX ? arr : json_object_array_get_idx(arr, i), *v;
        if (!ev || !json_object_object_get_ex(ev, key, &v))
                abort();
        return json_object_get_string(v);
}

struct chain_drop chain_drop_of(json_object *arr, size_t from, size_t to)
{
        struct chain_drop d = {
                .from_seq = (uint64_t)atoll(chain_member(arr, from, "seq")),
                .to_seq = (uint64_t)atoll(chain_member(arr, to, "seq")),
        };
        snprintf(d.prev_hash, sizeof d.prev_hash, "%s", chain_member(arr, from, "prev_hash"));
        snprintf(d.hash, sizeof d.hash, "%s", chain_member(arr, to, "hash"));
        return d;
}

json_object *chain_overflow_event(uint64_t seq, const char *prev, const struct chain_drop *drops,
                                  size_t n)
{
        json_object *details = json_object_new_object(), *list = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                json_object_array_add(list, chain_drop_to_json(&drops[i]));
        json_object_object_add(details, "reason", json_object_new_string("size_cap"));
        json_object_object_add(details, "dropped", list);
        json_object *ev;
        if (event_build(seq, 1795791700000000ull + seq, CHAIN_DROP_OVERFLOW_TYPE,
                        EVENT_SEVERITY_WARNING, "", details, prev, &ev) < 0)
                abort();
        return ev;
}

char *chain_batch_text(json_object *arr)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "events", arr);
        char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        if (!s)
                abort();
        json_object_put(o);
        return s;
}

json_object *chain_pick(json_object *arr, const size_t *idx, size_t n)
{
        json_object *out = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                json_object_array_add(out, json_object_get(json_object_array_get_idx(arr, idx[i])));
        return out;
}
