/*
 * fs_replay.h - --replay FILE: a recorded session played to one venue (layer 3; see
 * fs_core.h and docs/FEEDSIM.md, "Replay").
 */
#ifndef FH_TOOLS_FS_REPLAY_H
#define FH_TOOLS_FS_REPLAY_H

#include "fs_core.h"

/* Loads sim->cfg.replay_path, sets sim->replay and installs the hooks (hooks.after_gen,
 * hooks.replay_channel). Returns 0, or an error after logging it. */
int fs_replay_open(struct fs_sim *sim);
/* Frees the session (sim->replay = NULL); no-op if none was loaded. */
void fs_replay_close(struct fs_sim *sim);

#endif
