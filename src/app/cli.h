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

#endif
