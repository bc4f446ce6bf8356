/*
 * SampledTank -- a storage tank under a sampled-data outflow controller (FMI 3.0, Model
 * Exchange and Co-Simulation with event mode), with a clock of every FMI 3 kind.
 *
 *     area * dlevel/dt = inflow - q
 *
 * Between clock activations q is constant, so the level is linear in time: the CS step
 * integrates it exactly.  Each clock's partition, in the order they run when several
 * clocks are active at once:
 *
 *   setpoint_change (triggered input)  setpoint := new_setpoint; change_count += 1;
 *                                       starts the countdown of `delay`
 *   control  (constant, 5 s)           q := clamp(kp (level - setpoint), 0, q_max); control_count += 1;
 *                                       the level crossing alarm_level upwards since the last
 *                                       sample activates the output clock `alarm`
 *   alarm    (output)                  alarm_level_at := level; alarm_count += 1
 *   log      (fixed, interval set by the importer, 10 s by default)   logged := level
 *   audit    (fixed, audit_interval from audit_shift, told by the FMU) audited := level
 *   tune     (tunable, every tune_interval; a new value counts from the event it is set in)
 *   burst    (changing: burst_first, then burst_base * (1 + burst_count mod 3))
 *   delay    (countdown: delay_time after each setpoint change)   delayed_setpoint := setpoint
 *
 * Each partition runs once per activation, when its outputs or the output clock are first
 * read, or at the latest in fmi3UpdateDiscreteStates, which then deactivates the clocks.
 */
#include <stddef.h>

#include "model.h"

enum { SETPOINT_CHANGE, CONTROL, LOG, AUDIT, TUNE, BURST, DELAY, N_INPUT_CLOCKS };
static const unsigned CLOCK_VR[N_INPUT_CLOCKS] = {102, 100, 103, 104, 105, 106, 107};
#define VR_ALARM 101

typedef struct {
    double area, kp, q_max, alarm_level, audit_interval, audit_shift, burst_first, burst_base, delay_time;
    double tune_interval;                        /* tunable parameter */
    double inflow, new_setpoint;                 /* inputs (new_setpoint clocked by setpoint_change) */
    double level, der_level;                     /* state */
    double outflow, setpoint, q, last_sample;
    double alarm_level_at, logged, audited, delayed_setpoint;
    int control_count, alarm_count, log_count, audit_count, tune_count, burst_count, delay_count, change_count;
    double log_interval, log_shift;              /* set by the importer (fmi3SetIntervalDecimal) */
    double reported_tune, burst_interval, delay_interval;
    int burst_qualifier, delay_qualifier;
    bool active[N_INPUT_CLOCKS], evaluated, alarm_active;
} Data;

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0005}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 1;
const size_t MODEL_INDICATOR_COUNT = 0;

#define VAR(vr, type, causality, field) {vr, type, causality, offsetof(Data, field), 1}
const VarInfo MODEL_VARIABLES[] = {
    VAR(10, VT_FLOAT64, VC_PARAMETER, area), VAR(12, VT_FLOAT64, VC_PARAMETER, kp),
    VAR(13, VT_FLOAT64, VC_PARAMETER, q_max), VAR(14, VT_FLOAT64, VC_PARAMETER, alarm_level),
    VAR(15, VT_FLOAT64, VC_PARAMETER, audit_interval), VAR(16, VT_FLOAT64, VC_PARAMETER, audit_shift),
    VAR(17, VT_FLOAT64, VC_PARAMETER, burst_first), VAR(18, VT_FLOAT64, VC_PARAMETER, burst_base),
    VAR(19, VT_FLOAT64, VC_PARAMETER, delay_time), VAR(20, VT_FLOAT64, VC_TUNABLE, tune_interval),
    VAR(30, VT_FLOAT64, VC_INPUT, inflow), VAR(31, VT_FLOAT64, VC_INPUT, new_setpoint),
    VAR(40, VT_FLOAT64, VC_START, level), VAR(41, VT_FLOAT64, VC_LOCAL, der_level),
    VAR(42, VT_FLOAT64, VC_OUTPUT, outflow), VAR(43, VT_FLOAT64, VC_OUTPUT, setpoint),
    VAR(50, VT_FLOAT64, VC_OUTPUT, q), VAR(51, VT_INT32, VC_OUTPUT, control_count),
    VAR(52, VT_FLOAT64, VC_OUTPUT, alarm_level_at), VAR(53, VT_INT32, VC_OUTPUT, alarm_count),
    VAR(54, VT_FLOAT64, VC_OUTPUT, logged), VAR(55, VT_INT32, VC_OUTPUT, log_count),
    VAR(56, VT_FLOAT64, VC_OUTPUT, audited), VAR(57, VT_INT32, VC_OUTPUT, audit_count),
    VAR(58, VT_INT32, VC_OUTPUT, tune_count), VAR(59, VT_INT32, VC_OUTPUT, burst_count),
    VAR(60, VT_FLOAT64, VC_OUTPUT, delayed_setpoint), VAR(61, VT_INT32, VC_OUTPUT, delay_count),
    VAR(62, VT_INT32, VC_OUTPUT, change_count),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) {
    Data *d = data;
    d->area = 10; d->kp = 1; d->q_max = 5; d->alarm_level = 2.3;
    d->audit_interval = 7; d->audit_shift = 3; d->burst_first = 2; d->burst_base = 3; d->delay_time = 4;
    d->tune_interval = 4; d->inflow = 1; d->new_setpoint = 2; d->level = 1;
    d->log_interval = 10; d->log_shift = 0;
}

bool model_initialize(void *data, ModelContext *ctx) {
    Data *d = data;
    if (!(d->area > 0)) return model_fail(ctx, "area must be > 0 m2, got %g", d->area);
    if (!(d->audit_interval > 0)) return model_fail(ctx, "audit_interval must be > 0 s, got %g", d->audit_interval);
    if (!(d->tune_interval > 0)) return model_fail(ctx, "tune_interval must be > 0 s, got %g", d->tune_interval);
    d->setpoint = d->new_setpoint;
    d->last_sample = d->level;
    d->der_level = (d->inflow - d->q) / d->area;
    return true;
}

static int clock_index(unsigned vr) {
    for (int i = 0; i < N_INPUT_CLOCKS; i++) {
        if (CLOCK_VR[i] == vr) return i;
    }
    return -1;
}

static double clamp(double x, double low, double high) { return x < low ? low : x > high ? high : x; }

/* Run the partitions of the active clocks, once per activation. */
static void evaluate(Data *d) {
    if (d->evaluated) return;
    d->evaluated = true;
    if (d->active[SETPOINT_CHANGE]) {
        d->setpoint = d->new_setpoint;
        d->change_count++;
        d->delay_qualifier = INTERVAL_CHANGED;
        d->delay_interval = d->delay_time;
    }
    if (d->active[CONTROL]) {
        d->q = clamp(d->kp * (d->level - d->setpoint), 0.0, d->q_max);
        d->outflow = d->q;
        d->control_count++;
        if (d->level > d->alarm_level && d->last_sample <= d->alarm_level) {
            d->alarm_active = true;
            d->alarm_level_at = d->level;
            d->alarm_count++;
        }
        d->last_sample = d->level;
    }
    if (d->active[LOG]) { d->logged = d->level; d->log_count++; }
    if (d->active[AUDIT]) { d->audited = d->level; d->audit_count++; }
    if (d->active[TUNE]) d->tune_count++;
    if (d->active[BURST]) {
        d->burst_count++;
        d->burst_qualifier = INTERVAL_CHANGED;
        d->burst_interval = d->burst_base * (1 + d->burst_count % 3);
    }
    if (d->active[DELAY]) {
        d->delayed_setpoint = d->setpoint;
        d->delay_count++;
        if (d->delay_qualifier != INTERVAL_CHANGED) d->delay_qualifier = INTERVAL_NOT_YET_KNOWN;
    }
}

static bool any_active(const Data *d) {
    for (int i = 0; i < N_INPUT_CLOCKS; i++) {
        if (d->active[i]) return true;
    }
    return false;
}

void model_outputs(void *data, ModelContext *ctx) {
    (void)ctx;
    Data *d = data;
    if (any_active(d)) evaluate(d);
    d->der_level = (d->inflow - d->q) / d->area;
}

bool model_set_clock(void *data, ModelContext *ctx, unsigned vr, bool active) {
    Data *d = data;
    int i = clock_index(vr);
    if (i < 0) return model_fail(ctx, "value reference %u is not an input clock", vr);
    d->active[i] = active;
    d->evaluated = false;
    return true;
}

bool model_get_clock(void *data, ModelContext *ctx, unsigned vr, bool *active) {
    Data *d = data;
    if (vr != VR_ALARM) return model_fail(ctx, "value reference %u is not an output clock", vr);
    if (any_active(d)) evaluate(d);
    *active = d->alarm_active;
    return true;
}

bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    (void)ctx;
    Data *d = data;
    if (any_active(d)) evaluate(d);
    for (int i = 0; i < N_INPUT_CLOCKS; i++) d->active[i] = false;
    d->alarm_active = false;
    d->evaluated = false;
    d->der_level = (d->inflow - d->q) / d->area;
    r->terminate = false;
    r->states_changed = false;
    r->next_event_defined = false;
    return true;
}

bool model_get_interval(void *data, ModelContext *ctx, unsigned vr, double *interval, int *qualifier) {
    Data *d = data;
    switch (clock_index(vr)) {
    case CONTROL: *interval = 5; *qualifier = INTERVAL_UNCHANGED; return true;
    case LOG: *interval = d->log_interval; *qualifier = INTERVAL_UNCHANGED; return true;
    case AUDIT: *interval = d->audit_interval; *qualifier = INTERVAL_CHANGED; return true;
    case TUNE:
        *interval = d->tune_interval;
        *qualifier = d->tune_interval != d->reported_tune ? INTERVAL_CHANGED : INTERVAL_UNCHANGED;
        d->reported_tune = d->tune_interval;
        return true;
    case BURST:
        if (d->burst_count == 0 && d->burst_qualifier == INTERVAL_NOT_YET_KNOWN) {  /* the first interval */
            d->burst_qualifier = INTERVAL_CHANGED;
            d->burst_interval = d->burst_first;
        }
        *interval = d->burst_interval;
        *qualifier = d->burst_qualifier;
        d->burst_qualifier = INTERVAL_UNCHANGED;
        return true;
    case DELAY:
        *interval = d->delay_interval;
        *qualifier = d->delay_qualifier;
        if (d->delay_qualifier == INTERVAL_CHANGED) d->delay_qualifier = INTERVAL_UNCHANGED;
        return true;
    default: return model_fail(ctx, "value reference %u is not a time-based clock", vr);
    }
}

bool model_get_shift(void *data, ModelContext *ctx, unsigned vr, double *shift) {
    Data *d = data;
    switch (clock_index(vr)) {
    case CONTROL: case TUNE: *shift = 0; return true;
    case LOG: *shift = d->log_shift; return true;
    case AUDIT: *shift = d->audit_shift; return true;
    default: return model_fail(ctx, "value reference %u is not a periodic clock", vr);
    }
}

bool model_set_interval(void *data, ModelContext *ctx, unsigned vr, double interval) {
    Data *d = data;
    if (vr != CLOCK_VR[LOG]) return model_fail(ctx, "the interval of value reference %u cannot be set", vr);
    if (!(interval > 0)) return model_fail(ctx, "the interval of clock log must be > 0 s, got %g", interval);
    d->log_interval = interval;
    return true;
}

bool model_set_shift(void *data, ModelContext *ctx, unsigned vr, double shift) {
    Data *d = data;
    if (vr != CLOCK_VR[LOG]) return model_fail(ctx, "the shift of value reference %u cannot be set", vr);
    d->log_shift = shift;
    return true;
}

/* ---- continuous part ------------------------------------------------------------------ */
void model_get_states(const void *data, double x[]) { x[0] = ((const Data *)data)->level; }
void model_set_states(void *data, const double x[]) { ((Data *)data)->level = x[0]; }

void model_derivatives(void *data, ModelContext *ctx, double dx[]) {
    (void)ctx;
    Data *d = data;
    d->der_level = (d->inflow - d->q) / d->area;
    dx[0] = d->der_level;
}

/* q and inflow are constant over a step: the level moves linearly, exactly. */
bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    (void)ctx; (void)r;
    Data *d = data;
    d->level += (d->inflow - d->q) / d->area * h;
    d->der_level = (d->inflow - d->q) / d->area;
    return true;
}
