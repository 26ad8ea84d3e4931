/*
 * fs_blast.h - --blast: pre-encoded trade frames as fast as each client reads (layer 3; see
 * fs_core.h and docs/FEEDSIM.md, "Blast mode").
 */
#ifndef FH_TOOLS_FS_BLAST_H
#define FH_TOOLS_FS_BLAST_H

#include "fs_core.h"

/* Installs hooks.subscribed: a connection that has trade subscriptions is taken over by a
 * blast feeder (struct fs_feeder) until it closes. main.c installs it with --blast only. */
void fs_blast_install(struct fs_sim *sim);

#endif
