/* chain_drop.c — see chain_drop.h. */
#include "common/chain_drop.h"

#include "common/util.h"

json_object *chain_drop_to_json(const struct chain_drop *drop)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        if (json_object_object_add(o, "from_seq", json_object_new_int64((int64_t)drop->from_seq)) < 0 ||
            json_object_object_add(o, "to_seq", json_object_new_int64((int64_t)drop->to_seq)) < 0 ||
            json_object_object_add(o, "prev_hash", json_object_new_string(drop->prev_hash)) < 0 ||
            json_object_object_add(o, "hash", json_object_new_string(drop->hash)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int get_seq(json_object *o, const char *key, uint64_t *ret)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EINVAL;
        int64_t n = json_object_get_int64(v);
        if (n < 1)
                return -EINVAL;
        *ret = (uint64_t)n;
        return 0;
}

static int get_hash(json_object *o, const char *key, char out[static SHA256_HEX_LEN + 1])
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
            !is_lower_hex(json_object_get_string(v), SHA256_HEX_LEN))
                return -EINVAL;
        memcpy(out, json_object_get_string(v), SHA256_HEX_LEN + 1);
        return 0;
}

int chain_drop_from_json(json_object *o, struct chain_drop *ret)
{
        struct chain_drop d;
        if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 4)
                return -EINVAL;
        if (get_seq(o, "from_seq", &d.from_seq) < 0 || get_seq(o, "to_seq", &d.to_seq) < 0 ||
            d.to_seq < d.from_seq || get_hash(o, "prev_hash", d.prev_hash) < 0 ||
            get_hash(o, "hash", d.hash) < 0)
                return -EINVAL;
        *ret = d;
        return 0;
}

int chain_drops_from_overflow(json_object *event, struct chain_drop **ret_drops, size_t *ret_n)
{
        json_object *type, *details, *list;
        if (!json_object_object_get_ex(event, "type", &type) ||
            !json_object_is_type(type, json_type_string) ||
            STRNEQ(json_object_get_string(type), CHAIN_DROP_OVERFLOW_TYPE) ||
            !json_object_object_get_ex(event, "details", &details) ||
            !json_object_object_get_ex(details, "dropped", &list) ||
            !json_object_is_type(list, json_type_array))
                return -EINVAL;

        size_t n = json_object_array_length(list);
        _cleanup_free_ struct chain_drop *drops = calloc(n ? n : 1, sizeof *drops);
        if (!drops)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (chain_drop_from_json(json_object_array_get_idx(list, i), &drops[i]) < 0)
                        return -EINVAL;
        *ret_drops = TAKE_PTR(drops);
        *ret_n = n;
        return 0;
}

bool chain_drop_equal(const struct chain_drop *a, const struct chain_drop *b)
{
        return a->from_seq == b->from_seq && a->to_seq == b->to_seq &&
               STREQ(a->prev_hash, b->prev_hash) && STREQ(a->hash, b->hash);
}

bool chain_gap_bridged(uint64_t last_seq, const char *last_hash, uint64_t next_seq,
                       const char *next_prev_hash, const struct chain_drop *drops,
                       size_t n_drops)
{
        if (next_seq == last_seq + 1)
                return STREQ(last_hash, next_prev_hash);
        if (next_seq <= last_seq + 1 || n_drops == 0)
                return false;

        /* Declarations may overlap (a drop declared again, wider, after a crash between
         * declaring and dropping), so this is a search for any path of drops, not a greedy
         * walk: reached[i] when drop i continues the chain from the last event. */
        _cleanup_free_ bool *reached = calloc(n_drops, sizeof *reached);
        if (!reached)
                return false;
        for (bool grew = true; grew;) {
                grew = false;
                for (size_t i = 0; i < n_drops; i++) {
                        const struct chain_drop *d = &drops[i];
                        if (reached[i] || d->to_seq < d->from_seq || d->to_seq >= next_seq)
                                continue;
                        bool from_last = d->from_seq == last_seq + 1 && STREQ(d->prev_hash, last_hash);
                        for (size_t j = 0; j < n_drops && !from_last; j++)
                                from_last = reached[j] && d->from_seq == drops[j].to_seq + 1 &&
                                            STREQ(d->prev_hash, drops[j].hash);
                        if (from_last) {
                                reached[i] = true;
                                grew = true;
                        }
                }
        }
        for (size_t i = 0; i < n_drops; i++)
                if (reached[i] && drops[i].to_seq + 1 == next_seq &&
                    STREQ(drops[i].hash, next_prev_hash))
                        return true;
        return false;
}
