/*
 * sim.c - the simulator object's small queries: venue names and exchanges, the clock, the
 * protocol intervals, the venue-module registry and the replay queries the venue modules
 * ask. Layer 1 (fs_core.h); kept apart from server.c so that gen.c and server.c do not
 * call each other.
 */
#include "fs_core.h"

#include "core/err.h"

#include <string.h>

const char *fs_venue_name(int venue)
{
    switch (venue) {
    case FS_BINANCE:
        return "binance";
    case FS_KRAKEN_V1:
        return "kraken_v1";
    case FS_KRAKEN_V2:
        return "kraken_v2";
    case FS_CONTROL:
        return "control";
    default:
        return "unknown";
    }
}

int fs_venue_exch(int venue)
{
    return venue == FS_BINANCE ? FS_EX_BINANCE : FS_EX_KRAKEN;
}

int fs_venue_parse(const char *s, int *out)
{
    if (strcmp(s, "binance") == 0)
        *out = FS_BINANCE;
    else if (strcmp(s, "kraken-v1") == 0 || strcmp(s, "kraken_v1") == 0)
        *out = FS_KRAKEN_V1;
    else if (strcmp(s, "kraken-v2") == 0 || strcmp(s, "kraken_v2") == 0)
        *out = FS_KRAKEN_V2;
    else
        return FH_EINVAL;
    return 0;
}

void fs_sim_register_venue(struct fs_sim *sim, const struct fs_venue_module *m)
{
    sim->venues[m->venue] = m;
}

bool fs_sim_replaying(const struct fs_sim *sim, int venue)
{
    return sim->replay != NULL && sim->cfg.replay_venue == venue;
}

int fs_sim_replay_channel(const struct fs_sim *sim, const char *channel, const char *pair)
{
    if (sim->hooks.replay_channel == NULL)
        return -1;
    return sim->hooks.replay_channel(sim, channel, pair);
}

int64_t fs_real_us(const struct fs_sim *sim, int64_t mono_ns)
{
    return sim->start_real_us + (mono_ns - sim->start_mono_ns) / 1000;
}

int64_t fs_interval(const struct fs_sim *sim, enum fs_interval iv)
{
    static const int64_t base_s[FS_IV_COUNT] = {20, 60, 86400, 1, 60, 60};
    if (sim->cfg.interval_ns[iv] >= 0)
        return sim->cfg.interval_ns[iv];
    double ns = (double)base_s[iv] * 1e9 * sim->cfg.time_scale;
    return ns < 1e6 ? 1000000 : (int64_t)ns;
}
