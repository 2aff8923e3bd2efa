/* classify_bench.c — classifier throughput in MB/s on CSV text, one core.
 *
 *   build/bench/classify_bench [MiB]     (default 64)
 *
 * Generates a staff-list CSV (number, name in Japanese, 個人番号 with valid and invalid
 * check digits, phone, e-mail, date, amount) in UTF-8 and in Shift_JIS, and prints the
 * best of five runs of classify_buffer() for the default configuration (個人番号 only) and
 * with every kind enabled. The target is at least 200 MB/s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/classify.h"
#include "common/util.h"

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void my_number_for(uint64_t seed, char out[13])
{
        snprintf(out, 13, "%011llu0", (unsigned long long)(seed % 100000000000ull));
        for (char c = '0'; c <= '9'; c++) {
                out[11] = c;
                if (my_number_check_digit_valid(out))
                        break;
        }
}

/* name: UTF-8 or Shift_JIS bytes of 山田太郎 */
static char *make_csv(size_t size, bool sjis, size_t *ret_len)
{
        const char *name = sjis ? "\x8e\x52\x93\x63\x91\xbe\x98\x59" : "山田太郎";
        char *buf = malloc(size + 256);
        if (!buf)
                abort();
        size_t len = 0;
        uint64_t x = 88172645463325252ull;
        for (unsigned row = 0; len < size; row++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                char mn[13];
                my_number_for(x, mn);
                if (row % 3 == 0)
                        mn[11] = (char)('0' + (mn[11] - '0' + 1) % 10); /* invalid */
                len += (size_t)snprintf(buf + len, 256,
                                        "%u,%s,%s,090-%04u-%04u,user%u@example.jp,2026-11-%02u,%llu\n",
                                        row, name, mn, (unsigned)(x % 10000), (unsigned)(x >> 20) % 10000,
                                        row, row % 28 + 1, (unsigned long long)(x % 1000000));
        }
        *ret_len = len;
        return buf;
}

static double run(const struct classify_config *cfg, const char *data, size_t len,
                  unsigned long *ret_found)
{
        double best = 0;
        for (int i = 0; i < 5; i++) {
                struct classify_result r;
                uint64_t t0 = now_ns();
                if (classify_buffer(cfg, data, len, false, &r) < 0)
                        abort();
                uint64_t t1 = now_ns();
                double mbs = (double)len / 1e6 / ((double)(t1 - t0) / 1e9);
                if (mbs > best)
                        best = mbs;
                *ret_found = r.count[CLASSIFY_MY_NUMBER];
        }
        return best;
}

int main(int argc, char **argv)
{
        size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
        struct classify_config def, all;
        classify_config_init(&def);
        classify_config_init(&all);
        for (int k = 0; k < _CLASSIFY_KIND_MAX; k++)
                all.enabled[k] = true;

        printf("classify_bench: %zu MiB CSV, best of 5, one core\n", mib);
        for (int sjis = 0; sjis <= 1; sjis++) {
                size_t len;
                _cleanup_free_ char *csv = make_csv(mib << 20, sjis, &len);
                unsigned long found;
                double a = run(&def, csv, len, &found);
                printf("  %-9s 個人番号 only: %7.1f MB/s (%lu found)\n", sjis ? "Shift_JIS" : "UTF-8", a, found);
                double b = run(&all, csv, len, &found);
                printf("  %-9s all kinds:     %7.1f MB/s\n", sjis ? "Shift_JIS" : "UTF-8", b);
        }
        return 0;
}
