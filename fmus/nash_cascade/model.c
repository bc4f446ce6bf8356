/*
 * NashCascade -- a cascade of three linear reservoirs (FMI 3.0 Model Exchange, arrays).
 *
 *     dS1/dt = inflow + lateral[0] - k[0] S1
 *     dSi/dt = k[i-2] S(i-1) + lateral[i-1] - k[i-1] Si      (i = 2, 3)
 *     outflow = k[2] S3
 *
 * Nash (1957) showed that n equal reservoirs route a catchment's effective rainfall into
 * its hydrograph; the step response from empty storage is inflow * P(n, k t) (the
 * regularized lower incomplete gamma function).  A flood alarm is raised when the
 * outflow exceeds alarm_flow: a state event on outflow - alarm_flow.
 */
#include <math.h>
#include <stddef.h>

#include "model.h"

#define N 3

typedef struct {
    double inflow, lateral[N];                  /* inputs */
    double k[N], alarm_flow;                    /* parameters */
    double storage[N], der_storage[N];          /* states and derivatives */
    double outflow;                             /* outputs */
    bool alarm;
    double indicator;                           /* local: outflow - alarm_flow */
} Data;

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0004}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = N;
const size_t MODEL_INDICATOR_COUNT = 1;

#define VAR(vr, type, causality, field, n) {vr, type, causality, offsetof(Data, field), n}
const VarInfo MODEL_VARIABLES[] = {
    VAR(1, VT_FLOAT64, VC_INPUT, inflow, 1),
    VAR(2, VT_FLOAT64, VC_INPUT, lateral, N),
    VAR(3, VT_FLOAT64, VC_PARAMETER, k, N),
    VAR(4, VT_FLOAT64, VC_START, storage, N),
    VAR(5, VT_FLOAT64, VC_LOCAL, der_storage, N),
    VAR(6, VT_FLOAT64, VC_OUTPUT, outflow, 1),
    VAR(7, VT_BOOL, VC_OUTPUT, alarm, 1),
    VAR(8, VT_FLOAT64, VC_PARAMETER, alarm_flow, 1),
    VAR(9, VT_FLOAT64, VC_LOCAL, indicator, 1),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) {
    Data *d = data;
    for (int i = 0; i < N; i++) d->k[i] = 0.001;
    d->alarm_flow = 1.0;
}

void model_outputs(void *data, ModelContext *ctx) {
    (void)ctx;
    Data *d = data;
    double upstream = d->inflow;
    for (int i = 0; i < N; i++) {
        double out = d->k[i] * d->storage[i];
        d->der_storage[i] = upstream + d->lateral[i] - out;
        upstream = out;
    }
    d->outflow = upstream;
    d->indicator = d->outflow - d->alarm_flow;
}

bool model_initialize(void *data, ModelContext *ctx) {
    Data *d = data;
    for (int i = 0; i < N; i++) {
        if (!(d->k[i] > 0)) return model_fail(ctx, "k[%d] must be > 0 1/s, got %g", i, d->k[i]);
        if (!(d->storage[i] >= 0)) return model_fail(ctx, "storage[%d] must be >= 0 m3, got %g", i, d->storage[i]);
    }
    model_outputs(d, ctx);
    d->alarm = d->indicator > 0;
    return true;
}

void model_get_states(const void *data, double x[]) {
    for (int i = 0; i < N; i++) x[i] = ((const Data *)data)->storage[i];
}

void model_set_states(void *data, const double x[]) {
    for (int i = 0; i < N; i++) ((Data *)data)->storage[i] = x[i];
}

void model_get_nominals(const void *data, double nominals[]) {
    (void)data;
    for (int i = 0; i < N; i++) nominals[i] = 1000.0;
}

void model_derivatives(void *data, ModelContext *ctx, double dx[]) {
    Data *d = data;
    model_outputs(d, ctx);
    for (int i = 0; i < N; i++) dx[i] = d->der_storage[i];
}

/* Positive while the alarm should stay as it is; crosses zero when it must change. */
void model_indicators(void *data, ModelContext *ctx, double z[]) {
    Data *d = data;
    model_outputs(d, ctx);
    z[0] = d->alarm ? d->indicator : -d->indicator;
}

bool model_event(void *data, ModelContext *ctx, EventResult *r) {
    Data *d = data;
    model_outputs(d, ctx);
    double tolerance = 1e-9 * fmax(1.0, fabs(d->alarm_flow));
    if (!d->alarm && d->indicator >= -tolerance) d->alarm = true;
    else if (d->alarm && d->indicator <= tolerance) d->alarm = false;
    r->terminate = false;
    r->states_changed = false;
    r->next_event_defined = false;
    return true;
}
