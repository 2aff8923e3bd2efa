/* fuzz_classify.c — libFuzzer target: any bytes through the whole classifier (decoders,
 * XML stripping, matchers and the zip reader), with every kind enabled and small archive
 * limits so bombs are cut short quickly. The first byte chooses "this is a prefix". */
#include <stddef.h>
#include <stdint.h>

#include "common/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct classify_config cfg;
        classify_config_init(&cfg);
        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++) {
                cfg.enabled[k] = true;
                cfg.threshold[k] = 1;
        }
        cfg.max_expanded = 4u << 20;
        cfg.max_entries = 64;
        if (size == 0)
                return 0;
        struct classify_result res;
        if (classify_buffer(&cfg, data + 1, size - 1, data[0] & 1, &res) == 0) {
                unsigned long sum = 0;
                for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                        sum += res.count[k];
                /* every match takes at least 5 bytes of decoded text */
                if (sum * 5 > res.scanned + 5)
                        __builtin_trap();
        }
        return 0;
}
