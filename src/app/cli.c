#include "app/cli.h"

#include "app/config.h"
#include "app/run.h"
#include "core/err.h"
#include "core/log.h"
#include "venue/venue.h"

#ifdef FH_MIMALLOC
#include <mimalloc.h>
#endif
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_USAGE "-c FILE [--set section.key=value]..."

/* The options shared by the commands that load a configuration. */
struct config_opts {
    const char *file;
    const char **sets; /* the strings are argv's */
    size_t nsets;
};

static int usage_error(const char *cmd, const char *usage, const char *fmt, ...) FH_PRINTF(3, 4);
static int usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "feedhandler %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: feedhandler %s %s\nTry 'feedhandler --help'.\n", cmd, usage);
    return FH_EXIT_USAGE;
}

/* Parses -c/--config, -s/--set and -h/--help. Returns -1 to go on, or an exit status. */
static int parse_config_opts(int argc, char **argv, struct config_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = argv[0];
    memset(o, 0, sizeof(*o));
    o->sets = calloc((size_t)argc + 1, sizeof(*o->sets));
    if (o->sets == NULL) {
        fprintf(stderr, "feedhandler %s: out of memory\n", cmd);
        return FH_EXIT_RUNTIME;
    }
    opterr = 0; /* our messages, not getopt's */
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            if (o->file != NULL)
                return usage_error(cmd, CONFIG_USAGE, "-c given more than once");
            o->file = optarg;
            break;
        case 's':
            o->sets[o->nsets++] = optarg;
            break;
        case 'h':
            printf("usage: feedhandler %s %s\n", cmd, CONFIG_USAGE);
            return FH_EXIT_OK;
        case ':':
            return usage_error(cmd, CONFIG_USAGE, "option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error(cmd, CONFIG_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(cmd, CONFIG_USAGE, "unexpected argument '%s'", argv[optind]);
    if (o->file == NULL)
        return usage_error(cmd, CONFIG_USAGE, "a configuration file is required (-c FILE)");
    return -1;
}

int fh_cli_load_config(struct fh_config *cfg, const char *file, const char *const *sets,
                       size_t nsets)
{
    struct fh_config_errors errs;
    fh_config_errors_init(&errs);
    int rc = fh_config_init(cfg);
    if (rc != 0) {
        fprintf(stderr, "feedhandler: cannot set the defaults: %s\n", fh_strerror(rc));
        return FH_EXIT_RUNTIME;
    }
    fh_config_load(cfg, file, NULL, sets, nsets, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    if (errs.dropped > 0)
        fprintf(stderr, "%s:0: %zu more errors not shown\n", file, errs.dropped);
    rc = fh_config_errors_any(&errs) ? FH_EXIT_USAGE : FH_EXIT_OK;
    fh_config_errors_release(&errs);
    return rc;
}

int fh_cmd_check_config(int argc, char **argv)
{
    struct config_opts o;
    struct fh_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = parse_config_opts(argc, argv, &o);
    if (rc >= 0)
        goto out;
    rc = fh_cli_load_config(&cfg, o.file, o.sets, o.nsets);
    if (rc == FH_EXIT_OK) {
        puts("configuration OK");
        if (fflush(stdout) != 0)
            rc = FH_EXIT_RUNTIME;
    }
out:
    fh_config_release(&cfg);
    free(o.sets);
    return rc;
}

/* The allocator malloc() is served by, for the start-up line: "mimalloc-2.0.9" when the build
 * links mimalloc and its override took (a block from malloc() lies in its heap), else
 * "system". */
static const char *fh_allocator(void)
{
#ifdef FH_MIMALLOC
    static char name[32];
    void *p = malloc(64);
    bool ours = p != NULL && mi_is_in_heap_region(p);
    free(p);
    if (ours) {
        int v = mi_version();
        snprintf(name, sizeof(name), "mimalloc-%d.%d.%d", v / 100, v / 10 % 10, v % 10);
        return name;
    }
#endif
    return "system";
}

int fh_cmd_run(int argc, char **argv)
{
    struct config_opts o;
    struct fh_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = parse_config_opts(argc, argv, &o);
    if (rc >= 0)
        goto out;
    rc = fh_cli_load_config(&cfg, o.file, o.sets, o.nsets);
    if (rc != FH_EXIT_OK)
        goto out;
    fh_log_set_level(cfg.log.level);
    log_info("starting", "version=%s config=%s allocator=%s", FH_VERSION, o.file, fh_allocator());
    fh_config_log(&cfg);
    if (cfg.binance.enabled || cfg.kraken.enabled)
        log_info("venues", "binance=%s kraken=%s kraken_protocol=%s",
                 cfg.binance.enabled ? "on" : "off", cfg.kraken.enabled ? "on" : "off",
                 fh_venue_for_section("kraken", cfg.kraken.url)->name);
    if (!cfg.tls.verify)
        log_warn("TLS certificate verification is disabled (tls.verify=false)", "");
    rc = fh_run_daemon(&cfg);
out:
    fh_config_release(&cfg);
    free(o.sets);
    return rc;
}

int fh_cmd_config_keys(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char row[2048];
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            printf("usage: feedhandler %s\n", argv[0]);
            return FH_EXIT_OK;
        }
        return usage_error(argv[0], "", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return usage_error(argv[0], "", "unexpected argument '%s'", argv[optind]);
    puts("| key | type | default | allowed | description |");
    puts("|---|---|---|---|---|");
    for (int id = 0; id < FH_CONFIG_NKEYS; id++) {
        fh_config_key_markdown(id, row, sizeof(row));
        puts(row);
    }
    puts(fh_config_kafka_markdown());
    return fflush(stdout) == 0 ? FH_EXIT_OK : FH_EXIT_RUNTIME;
}
