/*
 * SpillwayGate -- controller of a dam's spillway gate (FMI 2.0 Co-Simulation).
 *
 * A PI controller holds the reservoir at target_level by opening the gate; the opening
 * is cut back linearly while the downstream stage rises from stage_alarm to stage_limit
 * (so the release does not flood the town below), unless the reservoir reaches
 * crest_level, when the gate opens fully to save the dam.  The gate moves at most
 * gate_speed.  Within a step the inputs are held (zero-order hold), the integral is
 * exact, and the outputs are the values at the end of the step.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "model.h"

typedef struct {
    double reservoir_level, downstream_stage;                  /* inputs */
    double gate_opening, demand;                                /* outputs */
    int mode;
    bool limited;
    char status[MODEL_STRING_CAPACITY];
    double target_level, kp, ki, max_opening, gate_speed;      /* parameters */
    double stage_alarm, stage_limit, crest_level, initial_opening;
    char gate_name[MODEL_STRING_CAPACITY];
    double integral;                                            /* local */
} Data;

enum { MODE_NORMAL = 0, MODE_LIMITED = 1, MODE_EMERGENCY = 2 };

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0001}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 0;
const size_t MODEL_INDICATOR_COUNT = 0;

#define VAR(vr, type, causality, field) {vr, type, causality, offsetof(Data, field), 1}
const VarInfo MODEL_VARIABLES[] = {
    VAR(1, VT_FLOAT64, VC_INPUT, reservoir_level),
    VAR(2, VT_FLOAT64, VC_INPUT, downstream_stage),
    VAR(3, VT_FLOAT64, VC_OUTPUT, gate_opening),
    VAR(4, VT_FLOAT64, VC_OUTPUT, demand),
    VAR(5, VT_INT32, VC_OUTPUT, mode),
    VAR(6, VT_BOOL, VC_OUTPUT, limited),
    VAR(7, VT_STRING, VC_OUTPUT, status),
    VAR(10, VT_FLOAT64, VC_PARAMETER, target_level),
    VAR(11, VT_FLOAT64, VC_PARAMETER, kp),
    VAR(12, VT_FLOAT64, VC_PARAMETER, ki),
    VAR(13, VT_FLOAT64, VC_PARAMETER, max_opening),
    VAR(14, VT_FLOAT64, VC_PARAMETER, gate_speed),
    VAR(15, VT_FLOAT64, VC_PARAMETER, stage_alarm),
    VAR(16, VT_FLOAT64, VC_PARAMETER, stage_limit),
    VAR(17, VT_FLOAT64, VC_PARAMETER, crest_level),
    VAR(18, VT_FLOAT64, VC_PARAMETER, initial_opening),
    VAR(19, VT_STRING, VC_PARAMETER, gate_name),
    VAR(20, VT_FLOAT64, VC_LOCAL, integral),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

static double clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

static const char *status_name(int mode) {
    return mode == MODE_EMERGENCY ? "emergency" : (mode == MODE_LIMITED ? "limited" : "normal");
}

void model_start(void *data) {
    Data *d = data;
    d->reservoir_level = 100.0;
    d->downstream_stage = 2.0;
    d->target_level = 100.0;
    d->kp = 0.5;
    d->ki = 0.001;
    d->max_opening = 8.0;
    d->gate_speed = 0.01;
    d->stage_alarm = 4.0;
    d->stage_limit = 6.0;
    d->crest_level = 104.0;
    d->initial_opening = 0.0;
    strcpy(d->gate_name, "spillway-1");
    strcpy(d->status, "normal");
}

bool model_initialize(void *data, ModelContext *ctx) {
    Data *d = data;
    if (!(d->max_opening > 0)) return model_fail(ctx, "%s: max_opening must be > 0, got %g", d->gate_name, d->max_opening);
    if (!(d->gate_speed > 0)) return model_fail(ctx, "%s: gate_speed must be > 0, got %g", d->gate_name, d->gate_speed);
    if (!(d->kp >= 0) || !(d->ki >= 0)) return model_fail(ctx, "%s: kp and ki must be >= 0", d->gate_name);
    if (!(d->stage_limit > d->stage_alarm)) {
        return model_fail(ctx, "%s: stage_limit (%g) must exceed stage_alarm (%g)", d->gate_name, d->stage_limit,
                          d->stage_alarm);
    }
    d->gate_opening = clamp(d->initial_opening, 0.0, d->max_opening);
    d->demand = d->gate_opening;
    d->integral = d->ki > 0 ? d->gate_opening / d->ki : 0.0;
    d->mode = MODE_NORMAL;
    d->limited = false;
    strcpy(d->status, status_name(d->mode));
    return true;
}

/* Opening allowed by the downstream stage: full below the alarm, none at the limit. */
static double downstream_allowance(const Data *d) {
    double fraction = (d->stage_limit - d->downstream_stage) / (d->stage_limit - d->stage_alarm);
    return d->max_opening * clamp(fraction, 0.0, 1.0);
}

bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    Data *d = data;
    (void)r;
    if (isnan(d->reservoir_level) || isnan(d->downstream_stage)) {
        return model_fail(ctx, "%s: input is NaN at t=%g", d->gate_name, ctx->time);
    }
    double error = d->reservoir_level - d->target_level;
    d->integral += error * h;
    if (d->ki > 0) d->integral = clamp(d->integral, 0.0, d->max_opening / d->ki); /* anti-windup */
    double demand = clamp(d->kp * error + d->ki * d->integral, 0.0, d->max_opening);
    int mode = MODE_NORMAL;
    if (d->reservoir_level >= d->crest_level) {
        demand = d->max_opening;
        mode = MODE_EMERGENCY;
    } else if (demand > downstream_allowance(d)) {
        demand = downstream_allowance(d);
        mode = MODE_LIMITED;
    }
    double travel = d->gate_speed * h;
    d->gate_opening += clamp(demand - d->gate_opening, -travel, travel);
    d->demand = demand;
    d->mode = mode;
    d->limited = mode == MODE_LIMITED;
    strcpy(d->status, status_name(mode));
    return true;
}
