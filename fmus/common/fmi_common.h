/* fmi_common.h -- shared instance core of fmi2_api.c and fmi3_api.c. */
#ifndef FEDERATION_FMI_COMMON_H
#define FEDERATION_FMI_COMMON_H

#include "model.h"

typedef enum {
    MODE_INSTANTIATED,
    MODE_INITIALIZATION,
    MODE_EVENT,
    MODE_CONTINUOUS_TIME,
    MODE_STEP,
    MODE_TERMINATED,
    MODE_ERROR
} Mode;

typedef struct {
    ModelContext ctx;
    void *data;            /* MODEL_DATA_SIZE bytes */
    int mode;              /* a Mode */
    bool co_simulation;
    bool event_mode_used;  /* FMI 3 CS */
} Core;

bool core_init(Core *core, bool co_simulation);
void core_free(Core *core);
void core_reset(Core *core);
const VarInfo *core_variable(Core *core, unsigned vr, VarType type);
bool core_can_set(Core *core, const VarInfo *v);
void core_refresh(Core *core);

size_t core_snapshot_size(void);
void *core_snapshot(const Core *core);
void core_snapshot_update(const Core *core, void *snapshot);
bool core_restore(Core *core, const void *snapshot, size_t size);

#endif
