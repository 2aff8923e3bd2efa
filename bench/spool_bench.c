/* spool_bench — the spool's durable throughput with group commit, and how long an event
 * waits from spool_append() until it is durable (p50/p99), for several batch sizes.
 *
 *   spool_bench [--events N] [--seconds S] [--dir DIR]
 * DIR defaults to $HOGO_BENCH_DIR or /var/tmp (a real disk: /tmp may be tmpfs, which
 * makes fsync free). Each batch size runs until N events or S seconds. A batch of 1 is
 * the cost of a security event, which is synced on its own.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "agent/spool.h"
#include "common/log.h"
#include "common/util.h"

static uint64_t mono_nsec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static void remove_spool(const char *dir)
{
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "spool_bench: could not remove %s\n", dir);
}

static int run(const char *base, unsigned batch, uint64_t max_events, double max_seconds)
{
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/hogo-spool-bench.XXXXXX", base);
        if (!mkdtemp(dir)) {
                fprintf(stderr, "spool_bench: cannot create a directory in %s: %m\n", base);
                return -errno;
        }
        struct spool_options o = { .dir = dir };
        struct spool *spool;
        int r = spool_open(&o, &spool);
        if (r < 0) {
                remove_spool(dir);
                return r;
        }

        _cleanup_free_ uint64_t *lat = calloc(max_events, sizeof *lat);
        _cleanup_free_ uint64_t *started = calloc(batch, sizeof *started);
        if (!lat || !started)
                return -ENOMEM;
        uint64_t n = 0, t0 = mono_nsec(), deadline = t0 + (uint64_t)(max_seconds * 1e9);
        while (n + batch <= max_events && mono_nsec() < deadline) {
                for (unsigned i = 0; i < batch; i++) {
                        started[i] = mono_nsec();
                        /* a typical decision: a device with a few attributes */
                        json_object *d = json_object_new_object();
                        json_object_object_add(d, "device", json_object_new_string("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"));
                        json_object_object_add(d, "vendor", json_object_new_string("0781"));
                        json_object_object_add(d, "product", json_object_new_string("5581"));
                        json_object_object_add(d, "serial", json_object_new_string("4C530001230523114473"));
                        json_object_object_add(d, "interface_class", json_object_new_int(8));
                        json_object_object_add(d, "n", json_object_new_int64((int64_t)(n + i)));
                        r = spool_append(spool, (uint64_t)time(NULL) * 1000000u, "usb.allowed",
                                         EVENT_SEVERITY_INFO, "tanaka", d, NULL);
                        if (r != 0)
                                break;
                }
                if (r == 0)
                        r = spool_sync(spool);
                if (r != 0) {
                        fprintf(stderr, "spool_bench: append/sync failed: %s\n", strerror(r < 0 ? -r : EIO));
                        break;
                }
                uint64_t done = mono_nsec();
                for (unsigned i = 0; i < batch; i++)
                        lat[n + i] = done - started[i];
                n += batch;
        }
        double secs = (double)(mono_nsec() - t0) / 1e9;
        struct spool_stats st;
        spool_get_stats(spool, &st);
        spool_close(spool);
        remove_spool(dir);
        if (r != 0 || n == 0)
                return r ? r : -EIO;

        qsort(lat, n, sizeof *lat, cmp_u64);
        double p50 = (double)lat[n / 2] / 1e6, p99 = (double)lat[(size_t)((double)n * 0.99)] / 1e6;
        printf("spool append, group commit of %3u: %8.0f events/s durable, append-to-durable "
               "p50 %.3f ms, p99 %.3f ms (%" PRIu64 " events, %.1f s, %" PRIu64 " bytes/event)\n",
               batch, (double)n / secs, p50, p99, n, secs, st.bytes / n);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "events", required_argument, NULL, 'n' },
                { "seconds", required_argument, NULL, 's' },
                { "dir", required_argument, NULL, 'd' },
                {},
        };
        uint64_t events = 200000;
        double seconds = 3;
        const char *base = getenv("HOGO_BENCH_DIR") ? getenv("HOGO_BENCH_DIR") : "/var/tmp";
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'n': events = strtoull(optarg, NULL, 10); break;
                case 's': seconds = strtod(optarg, NULL); break;
                case 'd': base = optarg; break;
                default: return 2;
                }
        }
        log_setup("spool_bench", LOG_TARGET_STDERR, LOG_WARNING);
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("spool_bench: spool in %s (target: >= 20000 events/s durable)\n", base);

        static const unsigned batches[] = { 1, 16, 64, 256, 1024 };
        int r = 0;
        for (size_t i = 0; i < ELEMENTSOF(batches) && r == 0; i++)
                r = run(base, batches[i], events, seconds);
        return r == 0 ? 0 : 1;
}
