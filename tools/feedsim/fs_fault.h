/*
 * fs_fault.h - fault injection (layer 3; see fs_core.h).
 *
 * fault.c parses "kind=...,key=value" specs, applies them to connections, books and
 * handshakes through the core's mechanisms (and the venue modules' serverShutdown and status
 * pushes), and runs scheduled faults and their expiries from the hook it installs. The syntax
 * and every kind are documented in docs/FEEDSIM.md ("Faults").
 */
#ifndef FH_TOOLS_FS_FAULT_H
#define FH_TOOLS_FS_FAULT_H

#include "fs_core.h"

enum fs_fault_kind {
    FS_F_DROP = 0,
    FS_F_STALL,
    FS_F_RESUME,
    FS_F_MALFORMED,
    FS_F_OVERSIZE,
    FS_F_BADUTF8,
    FS_F_SKIP,
    FS_F_OMIT,
    FS_F_REFUSE,
    FS_F_DELAY,
    FS_F_SHUTDOWN,
    FS_F_MAINTENANCE,
    FS_F_SLOW,
    FS_F_COUNT
};

struct fs_fault {
    enum fs_fault_kind kind;
    int64_t at_ns;    /* scheduled time since start (CLI), -1 = now */
    int64_t for_ns;   /* duration for stall/slow/refuse/delay/maintenance, 0 = until resume */
    int venue_mask;   /* bit per FS_* venue */
    uint64_t conn_id; /* 0 = all matching */
    int symbol;       /* symbol index or -1 = all */
    int64_t count;    /* skip/omit trades, malformed frames, refuse/delay handshakes */
    int code;         /* WebSocket close code (drop), HTTP status (refuse) */
    enum fs_drop_mode mode;
    int64_t delay_ns; /* delay handshakes; shutdown: close after */
    uint64_t bytes;   /* oversize frame size; slow: bytes/s */
    bool queue;       /* stall: keep frames queued instead of discarding */
    char reason[64];
    bool done;
};

/* The fault layer's state, in caller memory (main.c), reached through sim->faults. */
struct fs_faults {
    struct fs_fault sched[FS_MAX_FAULTS];
    size_t nsched;
    int64_t kr_maint_until_ns; /* end of a timed Kraken maintenance, 0 = until resume */
};

/* Zeroes f, hangs it on sim->faults and installs the tick hook (hooks.before_gen). */
void fs_fault_install(struct fs_sim *sim, struct fs_faults *f);

/* "250ms", "5s", "2m", "1h", "1.5" (seconds), "100us" -> ns. Returns 0 or FH_EINVAL. */
int fs_parse_duration(const char *s, int64_t *ns);
/* Parses "kind=drop,venue=binance,code=1001" (',' or '&' separated); symbol= names are
 * looked up in sim->syms. Fills errbuf on error. Returns 0 or FH_EINVAL. */
int fs_fault_parse(const struct fs_sim *sim, const char *spec, struct fs_fault *f, char *errbuf,
                   size_t errlen);
/* Adds f to the schedule (f->at_ns: time since start; it runs on the first tick at or after
 * it). Returns 0, or FH_ENOSPACE when FS_MAX_FAULTS are scheduled. */
int fs_fault_schedule(struct fs_sim *sim, const struct fs_fault *f);
/* Applies a fault now. Returns how many connections (or books) it affected. */
int fs_fault_apply(struct fs_sim *sim, const struct fs_fault *f);

#endif
