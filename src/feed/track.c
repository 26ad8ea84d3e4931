/*
 * track.c - trade-id continuity, the gap list and rotation overlap (see track.h).
 */
#include "feed/track.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

enum fh_track_verdict fh_track_check(struct fh_track *t, int64_t id, int64_t *gap_first,
                                     int64_t *gap_count)
{
    if (!t->has_last) {
        t->has_last = true;
        t->last_id = id;
        t->accepted++;
        return FH_TRACK_FIRST;
    }
    if (id <= t->last_id) {
        t->duplicates++;
        return FH_TRACK_DUP;
    }
    enum fh_track_verdict v = FH_TRACK_NEXT;
    if (id - t->last_id > 1) {
        int64_t missing = id - t->last_id - 1;
        if (gap_first != NULL)
            *gap_first = t->last_id + 1;
        if (gap_count != NULL)
            *gap_count = missing;
        t->gaps++;
        t->missing += (uint64_t)missing;
        v = FH_TRACK_GAP;
    }
    t->last_id = id;
    t->accepted++;
    return v;
}

/* ---- gap list ----------------------------------------------------------------------------- */

int fh_gap_list_init(struct fh_gap_list *l, size_t cap)
{
    memset(l, 0, sizeof(*l));
    if (cap == 0)
        return FH_EINVAL;
    l->items = calloc(cap, sizeof(*l->items));
    if (l->items == NULL)
        return FH_ENOMEM;
    l->cap = cap;
    return 0;
}

void fh_gap_list_release(struct fh_gap_list *l)
{
    free(l->items);
    memset(l, 0, sizeof(*l));
}

void fh_gap_list_add(struct fh_gap_list *l, const struct fh_gap *g)
{
    l->total++;
    if (l->n == l->cap) {
        l->items[l->head] = *g;
        l->head = (l->head + 1) % l->cap;
        l->overwritten++;
        return;
    }
    l->items[(l->head + l->n) % l->cap] = *g;
    l->n++;
}

bool fh_gap_list_pop(struct fh_gap_list *l, struct fh_gap *out)
{
    if (l->n == 0)
        return false;
    *out = l->items[l->head];
    l->head = (l->head + 1) % l->cap;
    l->n--;
    return true;
}

const struct fh_gap *fh_gap_list_at(const struct fh_gap_list *l, size_t k)
{
    if (k >= l->n)
        return NULL;
    return &l->items[(l->head + k) % l->cap];
}

/* ---- rotation ----------------------------------------------------------------------------- */

void fh_rotation_begin(struct fh_rotation *r, struct fh_track *tracks, size_t n,
                       int64_t deadline_ns)
{
    r->active = true;
    r->deadline_ns = deadline_ns;
    r->pending = 0;
    r->moved = 0;
    for (size_t i = 0; i < n; i++) {
        tracks[i].rot_switched = false;
        tracks[i].rot_pending = tracks[i].has_last;
        tracks[i].rot_new_seen = false;
        tracks[i].rot_new_last = 0;
        if (tracks[i].has_last)
            r->pending++;
    }
}

static void move_track(struct fh_rotation *r, struct fh_track *t)
{
    t->rot_switched = true;
    if (t->rot_pending) {
        t->rot_pending = false;
        r->pending--;
    }
    r->moved++;
}

enum fh_rot_action fh_rotation_trade(struct fh_rotation *r, struct fh_track *t,
                                     enum fh_rot_source from, int64_t id)
{
    if (t->rot_switched)
        return from == FH_ROT_NEW ? FH_ROT_PASS : FH_ROT_DROP;
    if (from == FH_ROT_OLD) {
        /* The caller handles this trade normally; afterwards the track's last id is: */
        int64_t last = t->has_last && t->last_id > id ? t->last_id : id;
        if (!t->rot_pending) {
            /* The track gets its first id during the overlap: wait for it too. */
            t->rot_pending = true;
            r->pending++;
        }
        /* The old connection has reached the id the new one delivered last: both stand at
         * the same point, and the new one's next trade follows it. */
        if (t->rot_new_seen && t->rot_new_last == last)
            move_track(r, t);
        return FH_ROT_PASS;
    }
    t->rot_new_seen = true;
    t->rot_new_last = id;
    if (!t->rot_pending) {
        /* A track the old connection has not delivered yet: its trades (dropped here) will
         * come from the old connection, so the rotation waits for it to catch up. */
        t->rot_pending = true;
        r->pending++;
    }
    /* The new connection delivered the id the old one delivered last. Anything else from it
     * (behind: a repeat; ahead: the old connection still delivers it) is overlap. */
    if (t->has_last && id == t->last_id)
        move_track(r, t);
    return FH_ROT_DROP;
}

bool fh_rotation_complete(const struct fh_rotation *r, int64_t now_ns)
{
    return r->active && (r->pending == 0 || now_ns >= r->deadline_ns);
}

void fh_rotation_end(struct fh_rotation *r, struct fh_track *tracks, size_t n)
{
    r->active = false;
    r->pending = 0;
    for (size_t i = 0; i < n; i++) {
        tracks[i].rot_switched = false;
        tracks[i].rot_pending = false;
        tracks[i].rot_new_seen = false;
    }
}
