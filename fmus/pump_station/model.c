/*
 * PumpStation -- wet well of a stormwater pump station (FMI 2.0 Model Exchange).
 *
 *     area * d(level)/dt = inflow - outflow,   outflow = pump_on ? pump_capacity : 0
 *
 * The pump switches on when the level rises to level_on and off when it falls to
 * level_off (hysteresis).  The switch is a state event: the event indicator is the
 * distance to the threshold that applies in the current pump state, so it crosses
 * zero exactly when the pump must switch.
 */
#include <math.h>
#include <stddef.h>

#include "model.h"

typedef struct {
    double inflow;                                          /* input */
    double level, der_level;                                /* state and derivative */
    bool pump_on;                                           /* outputs */
    double outflow;
    int starts;
    double area, pump_capacity, level_on, level_off;       /* parameters */
} Data;

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0003}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 1;
const size_t MODEL_INDICATOR_COUNT = 1;

#define VAR(vr, type, causality, field) {vr, type, causality, offsetof(Data, field), 1}
const VarInfo MODEL_VARIABLES[] = {
    VAR(1, VT_FLOAT64, VC_INPUT, inflow),
    VAR(2, VT_FLOAT64, VC_START, level),
    VAR(3, VT_FLOAT64, VC_LOCAL, der_level),
    VAR(4, VT_BOOL, VC_OUTPUT, pump_on),
    VAR(5, VT_FLOAT64, VC_OUTPUT, outflow),
    VAR(6, VT_INT32, VC_OUTPUT, starts),
    VAR(10, VT_FLOAT64, VC_PARAMETER, area),
    VAR(11, VT_FLOAT64, VC_PARAMETER, pump_capacity),
    VAR(12, VT_FLOAT64, VC_PARAMETER, level_on),
    VAR(13, VT_FLOAT64, VC_PARAMETER, level_off),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

/* A root reported by the integrator may sit this far on the near side of a threshold. */
#define LEVEL_TOLERANCE 1e-9


void model_start(void *data) {
    Data *d = data;
    d->inflow = 0.05;
    d->level = 1.0;
    d->area = 20.0;
    d->pump_capacity = 0.15;
    d->level_on = 2.0;
    d->level_off = 0.5;
}

void model_outputs(void *data, ModelContext *ctx) {
    (void)ctx;
    Data *d = data;
    d->outflow = d->pump_on ? d->pump_capacity : 0.0;
    d->der_level = (d->inflow - d->outflow) / d->area;
}

bool model_initialize(void *data, ModelContext *ctx) {
    Data *d = data;
    if (!(d->area > 0)) return model_fail(ctx, "area must be > 0 m2, got %g", d->area);
    if (!(d->pump_capacity > 0)) return model_fail(ctx, "pump_capacity must be > 0 m3/s, got %g", d->pump_capacity);
    if (!(d->level_on > d->level_off)) {
        return model_fail(ctx, "level_on (%g m) must be above level_off (%g m)", d->level_on, d->level_off);
    }
    d->pump_on = d->level >= d->level_on;
    d->starts = d->pump_on ? 1 : 0;
    model_outputs(d, ctx);
    return true;
}

void model_get_states(const void *data, double x[]) { x[0] = ((const Data *)data)->level; }
void model_set_states(void *data, const double x[]) { ((Data *)data)->level = x[0]; }

void model_derivatives(void *data, ModelContext *ctx, double dx[]) {
    model_outputs(data, ctx);
    dx[0] = ((Data *)data)->der_level;
}

void model_indicators(void *data, ModelContext *ctx, double z[]) {
    (void)ctx;
    const Data *d = data;
    z[0] = d->pump_on ? d->level - d->level_off : d->level_on - d->level;
}

bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    Data *d = data;
    if (!d->pump_on && d->level >= d->level_on - LEVEL_TOLERANCE) {
        d->pump_on = true;
        d->starts += 1;
    } else if (d->pump_on && d->level <= d->level_off + LEVEL_TOLERANCE) {
        d->pump_on = false;
    }
    model_outputs(d, ctx);
    r->terminate = false;
    r->states_changed = false;
    r->next_event_defined = false;
    return true;
}
