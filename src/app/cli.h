/*
 * cli.h - the subcommands of the feedhandler program (main.c dispatches to them).
 *
 * Each command takes (argc, argv) with argv[0] naming the command as the user typed it, parses
 * its own options with getopt_long, and returns the process exit status:
 *   FH_EXIT_OK (0), FH_EXIT_RUNTIME (1: a failure while running), FH_EXIT_USAGE (2: bad usage
 *   or an invalid configuration).
 * Usage errors print the command's usage on stderr.
 *
 * Locality: the main thread, once per process (getopt keeps global state).
 */
#ifndef FH_APP_CLI_H
#define FH_APP_CLI_H

/* 3: the Schema Registry is unreachable or refuses our schema (enum fh_sink_start). */
enum { FH_EXIT_OK = 0, FH_EXIT_RUNTIME = 1, FH_EXIT_USAGE = 2, FH_EXIT_REGISTRY = 3 };

/* feedhandler [run] -c FILE [--set section.key=value]... */
int fh_cmd_run(int argc, char **argv);
/* feedhandler check-config -c FILE [--set section.key=value]... */
int fh_cmd_check_config(int argc, char **argv);
/* feedhandler config-keys: the key table as Markdown (docs/CONFIG.md holds a copy). */
int fh_cmd_config_keys(int argc, char **argv);
/* feedhandler replay --venue V --input FILE --metadata FILE [...]: reprocess recordings. */
int fh_cmd_replay(int argc, char **argv);
/* feedhandler backfill -c FILE --venue V --symbol S --from-id A --to-id B [...]: fetch a range
 * of trade ids from the exchange's REST history into the configured sink (backfill_cmd.c). */
int fh_cmd_backfill(int argc, char **argv);

struct fh_config;
#include <stddef.h>
/* Loads cfg (fh_config_init'ed here) from file and the --set overrides; prints every error on
 * stderr, one per line. Returns FH_EXIT_OK, FH_EXIT_USAGE (invalid) or FH_EXIT_RUNTIME. */
int fh_cli_load_config(struct fh_config *cfg, const char *file, const char *const *sets,
                       size_t nsets);

#endif
