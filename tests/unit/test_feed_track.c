/*
 * test_feed_track.c - trade-id continuity (src/feed/track.c): gaps with their size,
 * duplicates, the bounded gap list, and the make-before-break rotation overlap as a state
 * machine driven without sockets.
 */
#include "testutil.h"

#include "core/err.h"
#include "feed/track.h"

#include <stdlib.h>
#include <string.h>

static void test_track_next_gap_dup(void **state)
{
    (void)state;
    struct fh_track t;
    memset(&t, 0, sizeof(t));
    int64_t first = -1, count = -1;
    assert_int_equal(fh_track_check(&t, 100, &first, &count), FH_TRACK_FIRST);
    assert_int_equal(fh_track_check(&t, 101, &first, &count), FH_TRACK_NEXT);
    assert_int_equal(fh_track_check(&t, 105, &first, &count), FH_TRACK_GAP);
    assert_int_equal(first, 102);
    assert_int_equal(count, 3);
    assert_int_equal(fh_track_check(&t, 105, NULL, NULL), FH_TRACK_DUP);
    assert_int_equal(fh_track_check(&t, 50, NULL, NULL), FH_TRACK_DUP);
    assert_int_equal(t.last_id, 105);
    assert_int_equal(fh_track_check(&t, 106, NULL, NULL), FH_TRACK_NEXT);
    assert_int_equal(t.accepted, 4);
    assert_int_equal(t.duplicates, 2);
    assert_int_equal(t.gaps, 1);
    assert_int_equal(t.missing, 3);
}

/* A Kraken v2 reconnect: the snapshot repeats trades already seen (dropped), then continues
 * without a gap; a snapshot that starts beyond last+1 reports exactly the missing range. */
static void test_track_snapshot_overlap(void **state)
{
    (void)state;
    struct fh_track t;
    memset(&t, 0, sizeof(t));
    for (int64_t id = 1; id <= 80; id++)
        fh_track_check(&t, id, NULL, NULL);
    /* snapshot of the last 50 trades: 41..90 (81..90 happened while away) */
    uint64_t emitted = 0;
    for (int64_t id = 41; id <= 90; id++)
        emitted += fh_track_check(&t, id, NULL, NULL) != FH_TRACK_DUP;
    assert_int_equal(emitted, 10);
    assert_int_equal(t.gaps, 0);
    /* away for longer than the snapshot covers: 200 trades later, snapshot 241..290 */
    int64_t first = 0, count = 0;
    assert_int_equal(fh_track_check(&t, 241, &first, &count), FH_TRACK_GAP);
    assert_int_equal(first, 91);
    assert_int_equal(count, 150);
}

static void test_gap_list_bounded_fifo(void **state)
{
    (void)state;
    struct fh_gap_list l;
    assert_int_equal(fh_gap_list_init(&l, 0), FH_EINVAL);
    assert_int_equal(fh_gap_list_init(&l, 3), 0);
    for (int i = 0; i < 5; i++) {
        struct fh_gap g = {.track = (uint32_t)i, .first_id = i * 10, .count = i + 1};
        fh_gap_list_add(&l, &g);
    }
    assert_int_equal(l.n, 3);
    assert_int_equal(l.total, 5);
    assert_int_equal(l.overwritten, 2);
    assert_int_equal(fh_gap_list_at(&l, 0)->track, 2);
    assert_null(fh_gap_list_at(&l, 3));
    struct fh_gap g;
    for (uint32_t want = 2; want < 5; want++) {
        assert_true(fh_gap_list_pop(&l, &g));
        assert_int_equal(g.track, want);
        assert_int_equal(g.count, want + 1);
    }
    assert_false(fh_gap_list_pop(&l, &g));
    fh_gap_list_release(&l);
}

/*
 * A model of one track during a rotation: two connections each deliver the same id
 * sequence, in order, interleaved by a random schedule (either may run ahead, by up to a
 * few hundred trades). Everything that reaches the sink must be exactly the sequence once.
 */
struct model {
    struct fh_track tracks[1];
    struct fh_rotation rot;
    int64_t out[4096];
    size_t n_out;
    uint64_t dups;
    uint64_t gaps;
    bool old_closed;
};

static void deliver(struct model *m, enum fh_rot_source from, int64_t id)
{
    struct fh_track *t = &m->tracks[0];
    if (m->rot.active && fh_rotation_trade(&m->rot, t, from, id) == FH_ROT_DROP)
        return;
    if (m->old_closed && from == FH_ROT_OLD)
        return;
    enum fh_track_verdict v = fh_track_check(t, id, NULL, NULL);
    if (v == FH_TRACK_DUP) {
        m->dups++;
        return;
    }
    if (v == FH_TRACK_GAP)
        m->gaps++;
    m->out[m->n_out++] = id;
}

static void run_interleaving(unsigned seed, int lead)
{
    struct model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    srand(seed);
    /* The old connection has delivered 1..100 before the new one subscribes. */
    for (int64_t id = 1; id <= 100; id++)
        deliver(m, FH_ROT_OLD, id);
    fh_rotation_begin(&m->rot, m->tracks, 1, INT64_MAX);
    /* From here on the exchange produces ids 101..2000. The new connection starts at 101 -
     * lead (it may have subscribed before the old one saw 101-lead..100: a negative lead
     * means it joined later and misses nothing that the old one will not deliver). */
    int64_t old_next = 101, new_next = 101 - lead;
    const int64_t end = 2000;
    bool done = false;
    while (old_next <= end || new_next <= end) {
        bool pick_old = (rand() & 1) != 0;
        if (old_next > end || done)
            pick_old = false;
        if (new_next > end)
            pick_old = true;
        if (pick_old)
            deliver(m, FH_ROT_OLD, old_next++);
        else
            deliver(m, FH_ROT_NEW, new_next++);
        if (!done && fh_rotation_complete(&m->rot, 0)) {
            fh_rotation_end(&m->rot, m->tracks, 1);
            done = true;
            m->old_closed = true;
        }
    }
    if (m->gaps != 0 || m->n_out != (size_t)end)
        print_error("seed %u lead %d: gaps %llu out %zu\n", seed, lead, (unsigned long long)m->gaps,
                    m->n_out);
    assert_true(done);
    assert_int_equal(m->gaps, 0);
    assert_int_equal(m->n_out, (size_t)end);
    for (size_t i = 0; i < m->n_out; i++)
        assert_int_equal(m->out[i], (int64_t)i + 1);
    free(m);
}

static void test_rotation_emits_each_trade_once(void **state)
{
    (void)state;
    static const int leads[] = {0, 1, 5, 50, 300, -1, -40};
    for (size_t k = 0; k < sizeof(leads) / sizeof(leads[0]); k++)
        for (unsigned seed = 1; seed <= 40; seed++)
            run_interleaving(seed * 31 + (unsigned)k, leads[k]);
}

/* The rotation waits for every track that has history; quiet tracks without history do not
 * hold it up; the deadline ends it regardless. */
static void test_rotation_completion(void **state)
{
    (void)state;
    struct fh_track t[3];
    memset(t, 0, sizeof(t));
    fh_track_check(&t[0], 10, NULL, NULL);
    fh_track_check(&t[1], 20, NULL, NULL);
    struct fh_rotation r;
    fh_rotation_begin(&r, t, 3, 1000);
    assert_int_equal(r.pending, 2);
    assert_false(fh_rotation_complete(&r, 0));
    /* new repeats track 0's last id: moved */
    assert_int_equal(fh_rotation_trade(&r, &t[0], FH_ROT_NEW, 10), FH_ROT_DROP);
    assert_true(t[0].rot_switched);
    assert_int_equal(fh_rotation_trade(&r, &t[0], FH_ROT_NEW, 11), FH_ROT_PASS);
    assert_int_equal(fh_rotation_trade(&r, &t[0], FH_ROT_OLD, 11), FH_ROT_DROP);
    /* new runs ahead on track 1: the old one stays the source until it reaches 22 */
    assert_int_equal(fh_rotation_trade(&r, &t[1], FH_ROT_NEW, 21), FH_ROT_DROP);
    assert_int_equal(fh_rotation_trade(&r, &t[1], FH_ROT_NEW, 22), FH_ROT_DROP);
    assert_int_equal(fh_rotation_trade(&r, &t[1], FH_ROT_OLD, 21), FH_ROT_PASS);
    fh_track_check(&t[1], 21, NULL, NULL);
    assert_false(t[1].rot_switched);
    assert_int_equal(fh_rotation_trade(&r, &t[1], FH_ROT_OLD, 22), FH_ROT_PASS);
    fh_track_check(&t[1], 22, NULL, NULL);
    assert_true(t[1].rot_switched);
    assert_true(fh_rotation_complete(&r, 0));
    fh_rotation_end(&r, t, 3);
    assert_false(t[0].rot_switched);

    /* A track the new connection delivers first (no history) makes the rotation wait; the
     * deadline ends the wait. */
    fh_rotation_begin(&r, t, 3, 1000);
    fh_rotation_trade(&r, &t[0], FH_ROT_NEW, t[0].last_id);
    fh_rotation_trade(&r, &t[1], FH_ROT_NEW, t[1].last_id);
    assert_int_equal(fh_rotation_trade(&r, &t[2], FH_ROT_NEW, 7), FH_ROT_DROP);
    assert_int_equal(r.pending, 1);
    assert_false(fh_rotation_complete(&r, 999));
    assert_true(fh_rotation_complete(&r, 1000));
    fh_rotation_end(&r, t, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_next_gap_dup),
        cmocka_unit_test(test_track_snapshot_overlap),
        cmocka_unit_test(test_gap_list_bounded_fifo),
        cmocka_unit_test(test_rotation_emits_each_trade_once),
        cmocka_unit_test(test_rotation_completion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
