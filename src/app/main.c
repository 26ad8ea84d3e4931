/*
 * main.c - the feedhandler program: dispatches to a subcommand (cli.h).
 *
 * A new subcommand is one row in the table below plus its function in cli.c.
 */
#include "app/cli.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    const char *summary;
};

static const struct command commands[] = {
    {"run", fh_cmd_run, "[run] -c FILE [--set section.key=value]...",
     "load and check the configuration, then run the daemon until SIGTERM/SIGINT\n"
     "                (the default command)"},
    {"check-config", fh_cmd_check_config, "check-config -c FILE [--set section.key=value]...",
     "check the configuration and print every error, or \"configuration OK\""},
    {"config-keys", fh_cmd_config_keys, "config-keys",
     "print the table of configuration keys (Markdown, as in docs/CONFIG.md)"},
    {"replay", fh_cmd_replay,
     "replay --venue PROTOCOL --input FILE --metadata FILE [--rest]\n"
     "                   [--symbol SYM] [--time-us] [--strict] [-c FILE [--set ...]]",
     "parse recorded messages (raw lines or [record] files) or a REST response through\n"
     "                the venue parsers and write the trades (source REPLAY) to the sink;\n"
     "                summary on stderr; --strict exits 1 on any rejected message"},
    {"backfill", fh_cmd_backfill,
     "backfill -c FILE --venue PROTOCOL --symbol SYMBOL --from-id A --to-id B\n"
     "                   [--kind trade|aggTrade] [--since TIME] [--set ...]",
     "fetch a range of trade ids from the venue's REST history into the configured\n"
     "                sink (source BACKFILL) and write its gap record; exit 0 when every id\n"
     "                was written, 1 when some were not (the gap record says which)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage:");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "%sfeedhandler %s\n", i ? "       " : " ", commands[i].usage);
    fprintf(f, "       feedhandler --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-14s%s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\noptions:\n"
               "  -c, --config FILE         the configuration file (INI); required\n"
               "  -s, --set SECTION.KEY=V   override one key; repeatable; wins over the file and\n"
               "                            the environment\n"
               "  -h, --help                this text (after a command: that command's usage)\n"
               "  -V, --version             print the version\n"
               "\nenvironment:\n"
               "  FEEDHANDLER_<SECTION>_<KEY>=VALUE overrides a key of the file, e.g.\n"
               "  FEEDHANDLER_SINK_TYPE=kafka, FEEDHANDLER_KAFKA_BOOTSTRAP_SERVERS=host:9092\n"
               "  (for [kafka], underscores stand for dots). See docs/CONFIG.md.\n"
               "\nexit status:\n"
               "  0  success\n"
               "  1  runtime failure\n"
               "  2  usage error or invalid configuration (unknown symbols included)\n"
               "  3  Schema Registry unreachable, or it refused the schema as incompatible\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FH_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
        usage(stdout);
        return fflush(stdout) == 0 ? FH_EXIT_OK : FH_EXIT_RUNTIME;
    }
    if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0) {
        puts("feedhandler " FH_VERSION);
        return fflush(stdout) == 0 ? FH_EXIT_OK : FH_EXIT_RUNTIME;
    }
    /* Options without a command are the run command's: `feedhandler -c FILE`. */
    if (first[0] == '-') {
        argv[0] = (char *)"run";
        return fh_cmd_run(argc, argv);
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(first, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "feedhandler: unknown command '%s'\n\n", first);
    usage(stderr);
    return FH_EXIT_USAGE;
}
