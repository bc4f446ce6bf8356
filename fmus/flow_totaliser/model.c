/*
 * FlowTotaliser -- the volume that has passed a flow meter (FMI 2.0 Co-Simulation).
 *
 *     volume' = flow
 *
 * The FMU can interpolate its input (canInterpolateInputs): given the flow's first
 * derivative with fmi2SetRealInputDerivatives, a step of length h takes the flow as the
 * ramp flow + flow' s over the step and adds flow h + flow' h^2 / 2, which is exact for a
 * piecewise-linear flow.  Without a derivative the flow is held over the step.
 */
#include <stddef.h>

#include "model.h"

typedef struct {
    double flow;            /* input */
    double volume;          /* output, a state with a start value */
    double flow_slope;      /* local: d flow / dt set by the importer */
} Data;

const char MODEL_TOKEN[] = "{5f1e7a02-7c1b-4a35-9d0e-51a11a7e0007}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 0;
const size_t MODEL_INDICATOR_COUNT = 0;

#define VAR(vr, type, causality, field) {vr, type, causality, offsetof(Data, field), 1}
const VarInfo MODEL_VARIABLES[] = {
    VAR(1, VT_FLOAT64, VC_INPUT, flow),
    VAR(2, VT_FLOAT64, VC_START, volume),
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) { (void)data; }

bool model_initialize(void *data, ModelContext *ctx) {
    (void)data; (void)ctx;
    return true;
}

bool model_set_input_derivative(void *data, ModelContext *ctx, unsigned vr, int order, double value) {
    Data *d = data;
    if (vr != 1) return model_fail(ctx, "value reference %u is not an input", vr);
    if (order != 1) return model_fail(ctx, "only first derivatives of flow are used, got order %d", order);
    d->flow_slope = value;
    return true;
}

bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    (void)ctx;
    Data *d = data;
    d->volume += d->flow * h + 0.5 * d->flow_slope * h * h;
    r->event_encountered = false;
    r->early_return = false;
    r->terminate = false;
    return true;
}
