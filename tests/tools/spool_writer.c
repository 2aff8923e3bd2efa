/* spool_writer.c — drives agent/spool for the crash and disk-full tests.
 *
 *   spool_writer append DIR [--count N] [--batch N] [--security-every K] [--pad BYTES]
 *                [--segment BYTES] [--max BYTES] [--queue BYTES] [--ack-lag N] [--wait]
 *                [--report-files]
 *       appends N events (0: until killed), group-committing every --batch events, and
 *       prints "durable SEQ" after each commit that succeeded (line-buffered, so a line
 *       in the output is a promise the spool must keep across SIGKILL). --ack-lag plays
 *       the uplink: after each commit it acknowledges all but the last N durable events
 *       and collects. --wait: after the events, print the stats, wait for a line on stdin,
 *       commit again and print the stats again (the disk-full test frees space meanwhile).
 *       --report-files: after every "durable" line, a "synced NAME:BYTES ..." line with
 *       every segment file and its size at that instant, all of it fsynced then (the
 *       power-loss test may throw away anything beyond it).
 *   spool_writer recover DIR
 *       opens the spool (the recovery a restarted agent does), prints its faults and
 *       "next SEQ", closes it.
 * Every run starts by printing "first SEQ", the seq its first event gets.
 */
#include <dirent.h>
#include <getopt.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <time.h>

#include "agent/spool.h"
#include "common/canon_json.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/util.h"

static void print_stats(struct spool *spool)
{
        struct spool_stats st;
        spool_get_stats(spool, &st);
        printf("stats disk_full=%d queued=%" PRIu64 " durable=%" PRIu64 " last=%" PRIu64
               " first=%" PRIu64 " refused=%" PRIu64 " dropped=%" PRIu64 " bytes=%" PRIu64 "\n",
               st.disk_full, st.queued_events, st.durable_seq, st.last_seq, st.first_seq,
               st.refused_events, st.dropped_events, st.bytes);
}

static void print_faults(struct spool *spool)
{
        _cleanup_json_ json_object *faults = spool_take_faults(spool);
        size_t n = faults ? json_object_array_length(faults) : 0;
        for (size_t i = 0; i < n; i++)
                printf("fault %s\n", json_object_to_json_string_ext(json_object_array_get_idx(faults, i),
                                                                    JSON_C_TO_STRING_PLAIN));
}

static bool report_files;

/* Called right after a durable point: every segment and its length are on disk now. */
static void report_durable(const char *dir, uint64_t seq)
{
        /* synced before durable: a kill between the two lines leaves no promise whose
         * files were not reported */
        DIR *d = report_files ? opendir(dir) : NULL;
        if (!d) {
                printf("durable %" PRIu64 "\n", seq);
                return;
        }
        fputs("synced", stdout);
        struct dirent *de;
        struct stat st;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "seg-", 4) == 0 && !strstr(de->d_name, ".tmp") &&
                    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
                        printf(" %s:%lld", de->d_name, (long long)st.st_size);
        closedir(d);
        printf("\ndurable %" PRIu64 "\n", seq);
}

static void commit(struct spool *spool, const char *dir, uint64_t ack_lag)
{
        if (spool_sync(spool) < 0)
                return;
        struct spool_stats st;
        spool_get_stats(spool, &st);
        report_durable(dir, st.durable_seq);
        if (ack_lag > 0 && st.durable_seq > ack_lag) {
                char path[4096], text[32];
                /* as the uplink does: its own directory of the spool */
                snprintf(path, sizeof path, "%s/" SPOOL_UPLINK_DIR, dir);
                (void)mkdir(path, 0750);
                snprintf(path, sizeof path, "%s/" SPOOL_ACKED_FILE, dir);
                int n = snprintf(text, sizeof text, "%" PRIu64 "\n", st.durable_seq - ack_lag);
                if (write_file_atomic(path, text, (size_t)n, 0644) == 0)
                        (void)spool_collect(spool, NULL);
        }
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "count", required_argument, NULL, 'c' },
                { "batch", required_argument, NULL, 'b' },
                { "security-every", required_argument, NULL, 's' },
                { "pad", required_argument, NULL, 'p' },
                { "segment", required_argument, NULL, 'S' },
                { "max", required_argument, NULL, 'm' },
                { "queue", required_argument, NULL, 'q' },
                { "ack-lag", required_argument, NULL, 'a' },
                { "wait", no_argument, NULL, 'w' },
                { "report-files", no_argument, NULL, 'f' },
                {},
        };
        uint64_t count = 0, batch = 32, security_every = 0, pad = 64, ack_lag = 0;
        struct spool_options o = { 0 };
        bool wait = false;
        int c;

        setvbuf(stdout, NULL, _IOLBF, 0);
        log_setup("spool_writer", LOG_TARGET_STDERR, LOG_NOTICE);
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                uint64_t v = c == 'w' || c == 'f' ? 0 : strtoull(optarg, NULL, 0);
                switch (c) {
                case 'c': count = v; break;
                case 'b': batch = v ? v : 1; break;
                case 's': security_every = v; break;
                case 'p': pad = v; break;
                case 'S': o.segment_bytes = v; break;
                case 'm': o.max_bytes = v; break;
                case 'q': o.queue_bytes = v; break;
                case 'a': ack_lag = v; break;
                case 'w': wait = true; break;
                case 'f': report_files = true; break;
                default: return 2;
                }
        }
        if (argc - optind != 2 || (STRNEQ(argv[optind], "append") && STRNEQ(argv[optind], "recover"))) {
                fprintf(stderr, "usage: spool_writer append|recover DIR [options]\n");
                return 2;
        }
        const char *dir = argv[optind + 1];
        o.dir = dir;

        struct spool *spool;
        int r = spool_open(&o, &spool);
        if (r < 0) {
                fprintf(stderr, "spool_writer: cannot open %s: %s\n", dir, strerror(-r));
                return 1;
        }
        print_faults(spool);
        struct spool_stats st;
        spool_get_stats(spool, &st);
        printf("first %" PRIu64 "\n", st.last_seq + 1);

        if (STREQ(argv[optind], "recover")) {
                printf("next %" PRIu64 "\n", st.last_seq + 1);
                spool_close(spool);
                return 0;
        }

        _cleanup_free_ char *padding = malloc(pad + 1);
        if (!padding)
                return 1;
        memset(padding, 'x', pad);
        padding[pad] = '\0';
        for (uint64_t i = 1; count == 0 || i <= count; i++) {
                json_object *details = json_object_new_object();
                json_object_object_add(details, "n", json_object_new_int64((int64_t)i));
                json_object_object_add(details, "pad", json_object_new_string(padding));
                bool security = security_every && i % security_every == 0;
                uint64_t seq;
                r = spool_append(spool, clock_usec(CLOCK_REALTIME),
                                 security ? "usb.blocked" : "usb.allowed",
                                 security ? EVENT_SEVERITY_WARNING : EVENT_SEVERITY_INFO, "tanaka",
                                 details, &seq);
                if (r < 0 && r != -ENOBUFS) {
                        fprintf(stderr, "spool_writer: append: %s\n", strerror(-r));
                        spool_close(spool);
                        return 1;
                }
                if (r == 0 && security)
                        report_durable(dir, seq);
                if (i % batch == 0)
                        commit(spool, dir, ack_lag);
        }
        commit(spool, dir, ack_lag);
        print_stats(spool);
        if (wait) {
                char line[64];
                if (!fgets(line, sizeof line, stdin))
                        line[0] = '\0';
                commit(spool, dir, ack_lag);
                print_stats(spool);
        }
        print_faults(spool);
        spool_close(spool);
        return 0;
}
