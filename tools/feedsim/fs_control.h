/*
 * fs_control.h - the control HTTP API on --control PORT (layer 3; see fs_core.h).
 *
 * control.c answers /status, /fault, /resume, /truth/flush and /shutdown (docs/FEEDSIM.md,
 * "Faults"); it applies and schedules faults through fault.c.
 */
#ifndef FH_TOOLS_FS_CONTROL_H
#define FH_TOOLS_FS_CONTROL_H

#include "fs_core.h"

/* Installs the control port's request handler (hooks.control). Needs fs_fault_install. */
void fs_control_install(struct fs_sim *sim);

#endif
