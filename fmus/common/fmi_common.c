/*
 * fmi_common.c -- what fmi2_api.c and fmi3_api.c share: variable lookup, typed access
 * to the model's data block, FMU state snapshots, and weak defaults for the optional
 * model hooks.
 */
#include "fmi_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- weak defaults for optional hooks ------------------------------------------- */
__attribute__((weak)) void model_outputs(void *data, ModelContext *ctx) { (void)data; (void)ctx; }

__attribute__((weak)) bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    (void)data; (void)h; (void)r;
    return model_fail(ctx, "this model does not implement co-simulation");
}

__attribute__((weak)) void model_get_states(const void *data, double x[]) { (void)data; (void)x; }
__attribute__((weak)) void model_set_states(void *data, const double x[]) { (void)data; (void)x; }

__attribute__((weak)) void model_get_nominals(const void *data, double nominals[]) {
    (void)data;
    for (size_t i = 0; i < MODEL_STATE_COUNT; i++) nominals[i] = 1.0;
}

__attribute__((weak)) void model_derivatives(void *data, ModelContext *ctx, double dx[]) {
    (void)data; (void)ctx; (void)dx;
}

__attribute__((weak)) void model_indicators(void *data, ModelContext *ctx, double z[]) {
    (void)data; (void)ctx; (void)z;
}

__attribute__((weak)) bool model_set_input_derivative(void *data, ModelContext *ctx, unsigned vr, int order,
                                                      double value) {
    (void)data; (void)vr; (void)order; (void)value;
    return model_fail(ctx, "input derivatives are not supported");
}

__attribute__((weak)) bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    (void)data; (void)ctx;
    memset(r, 0, sizeof *r);
    return true;
}

__attribute__((weak)) bool model_set_clock(void *data, ModelContext *ctx, unsigned vr, bool active) {
    (void)data; (void)active;
    return model_fail(ctx, "value reference %u is not an input clock", vr);
}

__attribute__((weak)) bool model_get_clock(void *data, ModelContext *ctx, unsigned vr, bool *active) {
    (void)data; (void)active;
    return model_fail(ctx, "value reference %u is not an output clock", vr);
}

__attribute__((weak)) bool model_get_interval(void *data, ModelContext *ctx, unsigned vr, double *interval,
                                              int *qualifier) {
    (void)data; (void)interval; (void)qualifier;
    return model_fail(ctx, "value reference %u is not a time-based clock", vr);
}

__attribute__((weak)) bool model_get_shift(void *data, ModelContext *ctx, unsigned vr, double *shift) {
    (void)data; (void)shift;
    return model_fail(ctx, "value reference %u is not a periodic clock", vr);
}

__attribute__((weak)) bool model_set_interval(void *data, ModelContext *ctx, unsigned vr, double interval) {
    (void)data; (void)interval;
    return model_fail(ctx, "the interval of value reference %u cannot be set", vr);
}

__attribute__((weak)) bool model_set_shift(void *data, ModelContext *ctx, unsigned vr, double shift) {
    (void)data; (void)shift;
    return model_fail(ctx, "the shift of value reference %u cannot be set", vr);
}

/* ---- services --------------------------------------------------------------------- */
const VarInfo *model_find_variable(unsigned vr) {
    for (size_t i = 0; i < MODEL_VARIABLE_COUNT; i++) {
        if (MODEL_VARIABLES[i].vr == vr) return &MODEL_VARIABLES[i];
    }
    return NULL;
}

void *model_field(void *data, const VarInfo *v) { return (char *)data + v->offset; }

bool model_fail(ModelContext *ctx, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, args);
    va_end(args);
    return false;
}

/* ---- core instance ------------------------------------------------------------------ */
bool core_init(Core *core, bool co_simulation) {
    memset(core, 0, sizeof *core);
    core->data = calloc(1, MODEL_DATA_SIZE);
    if (!core->data) return false;
    core->co_simulation = co_simulation;
    core->mode = MODE_INSTANTIATED;
    model_start(core->data);
    return true;
}

void core_free(Core *core) {
    free(core->data);
    core->data = NULL;
}

void core_reset(Core *core) {
    memset(core->data, 0, MODEL_DATA_SIZE);
    model_start(core->data);
    memset(&core->ctx, 0, sizeof core->ctx);
    core->mode = MODE_INSTANTIATED;
}

/* Locate vr and check that it has the type the caller asked for. */
const VarInfo *core_variable(Core *core, unsigned vr, VarType type) {
    const VarInfo *v = model_find_variable(vr);
    if (!v) {
        model_fail(&core->ctx, "unknown value reference %u", vr);
        return NULL;
    }
    if (v->type != type) {
        model_fail(&core->ctx, "value reference %u has another type", vr);
        return NULL;
    }
    return v;
}

/* Parameters are set before initialisation ends, inputs and tunable parameters at any time. */
bool core_can_set(Core *core, const VarInfo *v) {
    if (v->causality == VC_INPUT || v->causality == VC_TUNABLE) return true;
    bool early = v->causality == VC_PARAMETER || v->causality == VC_START;
    if (early && core->mode <= MODE_INITIALIZATION) return true;
    return model_fail(&core->ctx, "variable with value reference %u cannot be set %s", v->vr,
                      early ? "after initialization" : "(not an input)");
}

void core_refresh(Core *core) {
    if (core->mode > MODE_INSTANTIATED) model_outputs(core->data, &core->ctx);
}

/* ---- snapshots (FMU states) ------------------------------------------------------- */
typedef struct {
    unsigned magic;
    size_t data_size;
    ModelContext ctx;
    int mode;
} SnapshotHeader;

#define SNAPSHOT_MAGIC 0x46454453u /* "FEDS" */

size_t core_snapshot_size(void) { return sizeof(SnapshotHeader) + MODEL_DATA_SIZE; }

void *core_snapshot(const Core *core) {
    unsigned char *s = malloc(core_snapshot_size());
    if (!s) return NULL;
    SnapshotHeader h = {SNAPSHOT_MAGIC, MODEL_DATA_SIZE, core->ctx, core->mode};
    memcpy(s, &h, sizeof h);
    memcpy(s + sizeof h, core->data, MODEL_DATA_SIZE);
    return s;
}

void core_snapshot_update(const Core *core, void *snapshot) {
    SnapshotHeader h = {SNAPSHOT_MAGIC, MODEL_DATA_SIZE, core->ctx, core->mode};
    memcpy(snapshot, &h, sizeof h);
    memcpy((unsigned char *)snapshot + sizeof h, core->data, MODEL_DATA_SIZE);
}

bool core_restore(Core *core, const void *snapshot, size_t size) {
    SnapshotHeader h;
    if (size < sizeof h) return model_fail(&core->ctx, "FMU state of %zu bytes is too short", size);
    memcpy(&h, snapshot, sizeof h);
    if (h.magic != SNAPSHOT_MAGIC || h.data_size != MODEL_DATA_SIZE || size != core_snapshot_size()) {
        return model_fail(&core->ctx, "FMU state does not belong to this model");
    }
    core->ctx = h.ctx;
    core->mode = h.mode;
    memcpy(core->data, (const unsigned char *)snapshot + sizeof h, MODEL_DATA_SIZE);
    return true;
}
