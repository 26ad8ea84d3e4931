/*
 * track.h - trade-id continuity per (venue, symbol, channel): gap detection, duplicate
 * dropping, the bounded list of gaps kept for backfill, and the make-before-break rotation
 * overlap logic.
 *
 * A track follows one id sequence: Binance trade ids (`t`) of a symbol's @trade stream,
 * Binance aggregate ids (`a`) of its @aggTrade stream (a separate track: the two sequences
 * are unrelated), Kraken v2 trade ids per symbol. Kraken v1 has no ids: its tracks are not
 * checked (see docs/ARCHITECTURE.md for what that does and does not guarantee).
 *
 * The tracker lives across connections: the first trade after a reconnect is compared with
 * the last one before it, so what the exchange sent while we were away shows up as a gap of
 * the right size, and what a new connection repeats (a Kraken v2 snapshot, the overlap of a
 * rotation) is dropped as a duplicate.
 *
 * Pure: no clocks, no I/O, no allocation after init. Locality: the engine thread.
 */
#ifndef FH_FEED_TRACK_H
#define FH_FEED_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fh_track_verdict {
    FH_TRACK_FIRST = 0, /* first id ever seen on this track: accepted, nothing to compare */
    FH_TRACK_NEXT,      /* id == last + 1: accepted */
    FH_TRACK_GAP,       /* id > last + 1: accepted; ids last+1 .. id-1 are missing */
    FH_TRACK_DUP        /* id <= last: drop */
};

struct fh_track {
    int64_t last_id;
    bool has_last;
    /* Rotation (see fh_rotation_*): the track has moved to the replacement connection;
     * pending: the rotation waits for this track to move. */
    bool rot_switched;
    bool rot_pending;
    bool rot_new_seen;    /* the replacement connection delivered this track */
    int64_t rot_new_last; /* the last id it delivered */
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t gaps;
    uint64_t missing;
};

/* Checks id against the track and, unless it is a duplicate, makes it the last id. For
 * FH_TRACK_GAP, *gap_first and *gap_count (if not NULL) receive the first missing id and
 * how many are missing. */
enum fh_track_verdict fh_track_check(struct fh_track *t, int64_t id, int64_t *gap_first,
                                     int64_t *gap_count);

/* One detected gap, kept for the backfill work. */
struct fh_gap {
    uint32_t track;        /* the caller's track index (names venue, symbol, channel) */
    int64_t first_id;      /* first missing id */
    int64_t count;         /* missing ids: first_id .. first_id + count - 1 */
    int64_t detected_ns;   /* CLOCK_REALTIME when the gap was seen */
    int64_t connection_id; /* the connection whose trade revealed it */
};

/* A bounded FIFO of gaps. When full, the oldest entry is overwritten and counted. */
struct fh_gap_list {
    struct fh_gap *items; /* owned */
    size_t cap;
    size_t head; /* oldest */
    size_t n;
    uint64_t total;       /* gaps ever added */
    uint64_t overwritten; /* gaps lost because the list was full */
};

/* Returns 0 or FH_ENOMEM / FH_EINVAL (cap 0). */
int fh_gap_list_init(struct fh_gap_list *l, size_t cap);
void fh_gap_list_release(struct fh_gap_list *l);
void fh_gap_list_add(struct fh_gap_list *l, const struct fh_gap *g);
/* Removes the oldest gap into *out. Returns false when empty. */
bool fh_gap_list_pop(struct fh_gap_list *l, struct fh_gap *out);
/* The k-th oldest gap (k < n), without removing it. */
const struct fh_gap *fh_gap_list_at(const struct fh_gap_list *l, size_t k);

/*
 * Make-before-break rotation over the tracks of one connection slot. While a rotation runs,
 * two connections deliver the same tracks, each in id order. The old connection stays the
 * source of a track until both connections stand at the same id: the new one delivers the
 * id the old one delivered last, or the old one reaches the id the new one delivered last.
 * From then on the track is taken from the new connection only, which continues exactly
 * after that id: nothing is lost or emitted twice, whichever connection runs ahead. The
 * rotation is complete when every track that had a last id at the start (or gained one
 * during the overlap) has moved, or when the deadline passes; the caller then closes the
 * old connection. Tracks that never moved simply continue on the new connection, and
 * fh_track_check reports any gap or duplicate that causes.
 */
enum fh_rot_source { FH_ROT_OLD = 0, FH_ROT_NEW = 1 };
enum fh_rot_action {
    FH_ROT_PASS = 0, /* handle the trade normally (fh_track_check) */
    FH_ROT_DROP      /* overlap: drop the trade (the other connection delivers it) */
};

struct fh_rotation {
    bool active;
    int64_t deadline_ns;
    size_t pending; /* tracks still to move */
    size_t moved;
};

/* Starts a rotation over tracks[0..n): clears their rotation flags and marks the ones with
 * a last id as pending. */
void fh_rotation_begin(struct fh_rotation *r, struct fh_track *tracks, size_t n,
                       int64_t deadline_ns);
/* Decides what to do with a trade of track t from `from` during a rotation (r->active). */
enum fh_rot_action fh_rotation_trade(struct fh_rotation *r, struct fh_track *t,
                                     enum fh_rot_source from, int64_t id);
/* True when the old connection can be closed: nothing pending, or the deadline passed. */
bool fh_rotation_complete(const struct fh_rotation *r, int64_t now_ns);
/* Ends the rotation (completed, or aborted because one side died) and clears the flags. */
void fh_rotation_end(struct fh_rotation *r, struct fh_track *tracks, size_t n);

#endif
